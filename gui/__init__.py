"""PySide6 operator GUI: the only package that imports Qt.

``app`` (entry points for ``python main.py``), ``main_window`` (the window), ``worker`` (the inference
thread and its payloads), ``tasks`` (task threads), ``backends`` (what the dropdowns offer, building it),
``video``, ``plots``, ``access``, ``enroll`` (wizard, identity manager), ``dialogs`` (export, settings),
``settings`` (QSettings).
"""
