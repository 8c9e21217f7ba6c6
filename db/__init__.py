"""FaceGate db."""
