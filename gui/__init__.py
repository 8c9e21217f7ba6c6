"""PySide6 operator GUI: the only package that imports Qt.

``app`` (entry points for ``python main.py``), ``main_window`` (the window, a view), ``controller``
(its session/switch state machine, no widget), ``worker`` (the inference thread and its payloads),
``tasks`` (task threads), ``backends`` (what the dropdowns offer, building it), ``pickers`` (the
dropdowns), ``people`` (enroll, identities, corrections), ``video``, ``plots``, ``access``, ``enroll``
(wizard, identity manager), ``dialogs`` (export, settings), ``settings`` (QSettings).
"""
