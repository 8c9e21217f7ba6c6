"""FaceGate core."""
