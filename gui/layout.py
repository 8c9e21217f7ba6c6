"""The operator window's fit to small screens (a 1024x600 Jetson display up to a desktop).

:class:`WindowFit` watches the window's size:

- the backend pickers go on a second toolbar row when they and the source toolbar do not fit side by
  side (a toolbar's overflow button hides its last controls, here the recognizer and the mode);
- on a narrow window the side (Access) panel takes at most :data:`SIDE_SHARE` of the width;
- on a short window the plots dock is kept to about a quarter of the height, so the video keeps most of
  the space (the plots themselves turn into tabs when narrow: :class:`gui.plots.PlotsPanel`). It is
  sized when the window crosses :data:`SHORT_BELOW_PX`, never on every resize: a height the operator
  dragged the dock to stays.

:func:`fit_to_screen` sizes the window when it opens: its default size where the screen holds it, else
the screen's free area, maximised (a 1440x900 window on a 1024x600 screen showed its left part only).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QMainWindow, QToolBar

SHORT_BELOW_PX = 760  # a window lower than this is "short": the plots get a quarter of it
PLOTS_SHARE = 0.26  # of a short window's height, for the plots dock
PLOTS_MIN_PX = 130  # a plot, its legend and its tab bar still readable
PLOTS_TALL_PX = 220  # the plots dock on a taller window
NARROW_BELOW_PX = 1200  # a window narrower than this is "narrow": the side panel gets at most SIDE_SHARE
SIDE_SHARE = 0.42  # of a narrow window's width, for the Access panel (the video keeps the rest)


class WindowFit(QObject):
    """Keeps ``window``'s toolbars, plots dock and side dock fitting its size (installed as its event
    filter)."""

    def __init__(
        self, window: QMainWindow, first: QToolBar, second: QToolBar, plots: QDockWidget, side: QDockWidget
    ) -> None:
        super().__init__(window)
        self.window, self.first, self.second, self.plots, self.side = window, first, second, plots, side
        # a tall, wide window keeps the dock sizes restored from the saved layout; a short or narrow one
        # is fitted when it becomes so (a layout saved on a bigger screen gave the video under half)
        self.short = self.narrow = False
        self.side_before = 0  # the side panel's width before a narrow window capped it
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
        self._fit_side()

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

    def _fit_side(self) -> None:
        w = self.window.width()
        narrow = w < NARROW_BELOW_PX
        if narrow == self.narrow or self.side.isFloating():
            return
        self.narrow = narrow
        if narrow:  # after the layout pass: on the first show the dock has no restored width yet
            QTimer.singleShot(0, self._cap_side)
        elif self.side_before:  # wide again: the width the panel had before it was capped
            self.window.resizeDocks([self.side], [self.side_before], Qt.Orientation.Horizontal)
            self.side_before = 0

    def _cap_side(self) -> None:
        w = self.window.width()
        if self.narrow and self.side.width() > SIDE_SHARE * w and not self.side.isFloating():
            self.side_before = self.side.width()
            self.window.resizeDocks([self.side], [int(SIDE_SHARE * w)], Qt.Orientation.Horizontal)


def fit_to_screen(window: QMainWindow, default: tuple[int, int]) -> bool:
    """Size ``window`` (not yet shown) for its screen: ``default`` (width, height) where the screen's free
    area holds it. A smaller screen (a 1024x600 Jetson display) is used whole: the window takes the free
    area and opens maximised. True in that case; a geometry saved on a bigger screen must then not be
    restored over it. Call it after ``restoreState``: a window maximised while hidden makes Qt re-apply
    the restored layout for a while after it shows, undoing :class:`WindowFit`'s toolbar break."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    free = screen.availableGeometry() if screen is not None else None
    if free is None or (default[0] <= free.width() and default[1] <= free.height()):
        window.resize(*default)
        return False
    window.setGeometry(free)  # without a window manager (a kiosk, Xvfb) nobody else would shrink it
    window.setWindowState(window.windowState() | Qt.WindowState.WindowMaximized)
    return True
