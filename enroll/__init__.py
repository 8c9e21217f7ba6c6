"""FaceGate enroll."""
