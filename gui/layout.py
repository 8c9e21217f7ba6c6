"""The operator window's fit to small screens (a 1024x600 Jetson display up to a desktop).

:class:`WindowFit` watches the window's size:

- the backend pickers go on a second toolbar row when they and the source toolbar do not fit side by
  side (a toolbar's overflow button hides its last controls, here the recognizer and the mode);
- on a short window the plots dock is kept to about a quarter of the height, so the video keeps most of
  the space (the plots themselves turn into tabs when narrow: :class:`gui.plots.PlotsPanel`). It is
  sized when the window crosses :data:`SHORT_BELOW_PX`, never on every resize: a height the operator
  dragged the dock to stays.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QToolBar

SHORT_BELOW_PX = 760  # a window lower than this is "short": the plots get a quarter of it
PLOTS_SHARE = 0.26  # of a short window's height, for the plots dock
PLOTS_MIN_PX = 130  # a plot, its legend and its tab bar still readable
PLOTS_TALL_PX = 220  # the plots dock on a taller window


class WindowFit(QObject):
    """Keeps ``window``'s toolbars and plots dock fitting its size (installed as its event filter)."""

    def __init__(self, window: QMainWindow, first: QToolBar, second: QToolBar, plots: QDockWidget) -> None:
        super().__init__(window)
        self.window, self.first, self.second, self.plots = window, first, second, plots
        # a tall window keeps the dock height restored from the saved layout; a short one is fitted
        self.short = False
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.window and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.fit()
        return False

    @property
    def wrapped(self) -> bool:
        """The second toolbar starts a new row."""
        return self.window.toolBarBreak(self.second)

    def fit(self) -> None:
        self._fit_toolbars()
        self._fit_plots()

    def _fit_toolbars(self) -> None:
        w = self.window
        area = Qt.ToolBarArea.TopToolBarArea
        if w.toolBarArea(self.first) != area or w.toolBarArea(self.second) != area:
            return  # the operator moved one: their layout
        # a toolbar's handle and margins come on top of its widgets' size hint
        needed = self.first.sizeHint().width() + self.second.sizeHint().width() + 24
        wrap = needed > w.width()
        if wrap and not self.wrapped:
            w.insertToolBarBreak(self.second)
        elif not wrap and self.wrapped:
            w.removeToolBarBreak(self.second)

    def _fit_plots(self) -> None:
        h = self.window.height()
        short = h < SHORT_BELOW_PX
        if short == self.short or self.plots.isFloating():
            return
        self.short = short
        size = max(PLOTS_MIN_PX, int(h * PLOTS_SHARE)) if short else PLOTS_TALL_PX
        self.window.resizeDocks([self.plots], [size], Qt.Orientation.Vertical)
