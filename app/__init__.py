"""The application layer: what ``python main.py`` runs, on top of core, db and enroll.

``cli`` (the command line), ``run`` (the headless video run), ``demo`` (the demo's people, enrolled into a
store) and ``bench`` (the study's benchmark). The layers, lowest first: core <- db <- enroll <- app, gui;
the import-linter contract in pyproject.toml (``lint-imports``, part of ``make check``) keeps them so.
"""
