"""Keyboard and screen-reader access to the operator window: the source toolbar's names and buddy, and
one tab order (source, backends, the access panel top to bottom, the camera grid's bar, the plots' tabs).

Each module names its own controls where it builds them; this holds what spans the window.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QLabel, QToolBar, QWidget


def name_source_toolbar(tb: QToolBar, source: QComboBox, start: QWidget | None) -> None:
    """The source box's name and its caption as buddy (Alt+S); Start without its "▶" symbol."""
    source.setAccessibleName("Source")
    source.setAccessibleDescription(source.toolTip())
    for label in tb.findChildren(QLabel):
        if label.text().strip() == "Source":
            label.setText(" &Source ")
            label.setBuddy(source)
    if start is not None:
        start.setAccessibleName("Start")


def set_tab_order(window: Any) -> None:
    """Tab goes through the controls in reading order: the toolbars, then the access panel from the
    threshold down to the event actions, then the camera grid's bar and the plots' tabs."""
    access, grid = window.access, window.grid
    chain: list[QWidget] = [
        window.source_combo,
        *window.combos.values(),
        access.first_run_button,
        access.slider,
        access.reset_threshold,
        access.search,
        access.decision_filter,
        access.camera_filter,
        access.table,
        access.not_button,
        access.enroll_button,
        access.sound,
        *grid.layout_buttons.values(),
        grid.camera_combo,
        window.plots.tabs.tabBar(),
    ]
    for a, b in zip(chain, chain[1:], strict=False):
        QWidget.setTabOrder(a, b)
