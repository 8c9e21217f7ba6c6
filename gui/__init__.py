"""PySide6 operator GUI: the only package that imports Qt (arrives with the GUI issue)."""
