"""The camera grid: one tile per camera (1, 2x2 or 3x3), each with its name, state, FPS and drops.

A tile is a :class:`gui.video.VideoView` (the worker scales each camera's frames to its tile's size) with
a header line; a camera that sends no frame (reconnecting, offline, ended) says so over its last frame.
Clicking a tile selects its camera (the plots and the access panel follow it); double-clicking shows it
alone and again goes back to the grid. With one camera the grid is the single video view it always was.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.video import VideoView
from gui.views import CameraInfo, FrameView

LAYOUTS = {"1": 1, "2x2": 2, "3x3": 3}  # layout -> tiles per row (and rows)
STATE_COLOURS = {
    "live": QColor("#3ecf6e"),
    "connecting": QColor("#aab2be"),
    "reconnecting": QColor("#ffab2e"),
    "offline": QColor("#ff5d5d"),
    "ended": QColor("#8a93a0"),
}
SELECTED = QColor("#3fa7f5")


def camera_line(info: CameraInfo | None, name: str) -> str:
    """``front · live · 9.8 FPS · 3 dropped`` (the state's reason goes on the tile's second line)."""
    if info is None:
        return name
    fps = f"{info.fps:.1f} FPS" if info.fps else "– FPS"
    return f"{name} · {info.state} · {fps} · {info.dropped} dropped"


class CameraTile(VideoView):
    """One camera's video, with its name, state, FPS and drops on a header line."""

    clicked = Signal(str)  # camera name
    doubleClickedOn = Signal(str)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.info: CameraInfo | None = None
        self.selected = False
        self.header = False  # several cameras: the header line and the selection frame
        self.setMinimumSize(160, 90)
        self.setToolTip(f"Camera {name}: click to select, double-click to show it alone")
        self.setAccessibleName(f"Camera {name} video" if name else "Live video")

    def set_info(self, info: CameraInfo | None) -> None:
        self.info = info
        self.update()

    @property
    def state(self) -> str:
        return self.info.state if self.info is not None else "connecting"

    @property
    def header_text(self) -> str:
        return camera_line(self.info, self.name)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.name)
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt API
        self.doubleClickedOn.emit(self.name)
        super().mouseDoubleClickEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt API
        super().paintEvent(event)
        if not self.header:
            return
        p = QPainter(self)
        self._draw_header(p)
        if self.state != "live" and self._image is not None:
            self._draw_state(p)
        if self.selected:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(SELECTED, 3))
            p.drawRect(self.rect().adjusted(1, 1, -2, -2))
        p.end()

    def _header_font(self) -> QFont:
        f = QFont(self.font())
        f.setPointSizeF(max(8.0, f.pointSizeF() * 0.95))
        f.setBold(True)
        return f

    def _header_lines(self) -> int:
        """One header line when a long one fits the tile, else two."""
        longest = "garage · reconnecting · 10.0 FPS · 1000 dropped"
        return 1 if QFontMetrics(self._header_font()).horizontalAdvance(longest) <= self.width() - 30 else 2

    def set_header(self, on: bool) -> None:
        """Several cameras: the header line(s) above the picture, and the selection frame."""
        self.header = on
        metrics = QFontMetrics(self._header_font())
        margin = (metrics.height() + 2) * self._header_lines() + 6 if on else 0
        if margin != self.top_margin:
            self.top_margin = margin
            self._emit_size()
        self.update()

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt API
        if self.header:
            self.set_header(True)  # the header may take one line more or less
        super().resizeEvent(event)

    def _draw_header(self, p: QPainter) -> None:
        p.setFont(self._header_font())
        metrics = p.fontMetrics()
        room = self.width() - 30
        lines = [self.header_text]
        parts = lines[0].split(" · ")
        if self._header_lines() == 2 and len(parts) > 2:  # narrow: name and state, then FPS and drops
            lines = [" · ".join(parts[:2]), " · ".join(parts[2:])]
        line_h = metrics.height() + 2
        h = line_h * len(lines) + 6
        bar = QRect(0, 0, self.width(), h)
        p.fillRect(bar, QColor(0, 0, 0, 170))
        dot = QRect(8, 3 + (line_h - 10) // 2, 10, 10)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setBrush(STATE_COLOURS.get(self.state, QColor("#aab2be")))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(dot)
        p.setPen(QColor(235, 238, 242))
        for k, line in enumerate(lines):
            text = metrics.elidedText(line, Qt.TextElideMode.ElideRight, room)
            box = QRect(24, 3 + k * line_h, room, line_h)
            p.drawText(box, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)

    def _draw_state(self, p: QPainter) -> None:
        """A camera without new frames: its state (and reason) over the last frame, dimmed."""
        p.fillRect(self.rect(), QColor(0, 0, 0, 140))
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.2)
        f.setBold(True)
        p.setFont(f)
        p.setPen(STATE_COLOURS.get(self.state, QColor("#aab2be")))
        text = self.info.status if self.info is not None else self.state
        p.drawText(
            self.rect().adjusted(12, 12, -12, -12),
            Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
            text,
        )


class CameraGrid(QWidget):
    """The video area: the cameras' tiles in a 1 / 2x2 / 3x3 grid, a layout bar when there are several.

    ``tileSizeChanged(name, w, h)`` tells the worker the size to scale a camera's frames to;
    ``selected(name)`` when the operator picks a camera; ``doubleClicked`` with one camera (full screen).
    """

    tileSizeChanged = Signal(str, int, int)
    selected = Signal(str)
    layoutChanged = Signal(str)
    doubleClicked = Signal()  # one camera: the window toggles full screen

    def __init__(self, layout: str = "2x2", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layout_name = layout if layout in LAYOUTS else "2x2"
        self.solo: str | None = None  # double-click: this camera alone (the layout is kept for later)
        self.tiles: dict[str, CameraTile] = {}
        self.current = ""
        self.bar = QWidget()
        self.bar.setObjectName("gridBar")
        bar = QHBoxLayout(self.bar)
        bar.setContentsMargins(4, 2, 4, 2)
        bar.setSpacing(4)
        bar.addWidget(QLabel("Layout"))
        self.layout_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        for name in LAYOUTS:
            b = QToolButton()
            b.setText(name)
            b.setCheckable(True)
            b.setToolTip(f"Show {'one camera' if name == '1' else name + ' cameras'}")
            b.setAccessibleName(f"Layout {'one camera' if name == '1' else name + ' cameras'}")
            b.clicked.connect(lambda _=False, n=name: self.set_layout(n))
            group.addButton(b)
            bar.addWidget(b)
            self.layout_buttons[name] = b
        bar.addSpacing(12)
        caption = QLabel("Camera")
        bar.addWidget(caption)
        self.camera_combo = QComboBox()
        self.camera_combo.setAccessibleName("Selected camera")
        caption.setBuddy(self.camera_combo)
        self.camera_combo.setToolTip("The selected camera: its plots, its events, live enrollment")
        self.camera_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.camera_combo.activated.connect(lambda i: self.select(self.camera_combo.itemText(i)))
        bar.addWidget(self.camera_combo)
        self.selected_label = QLabel()
        self.selected_label.setObjectName("selectedCamera")
        bar.addWidget(self.selected_label, 1)
        self.area = QWidget()
        self.area.setObjectName("gridArea")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.bar)
        lay.addWidget(self.area, 1)
        self._grid: QGridLayout | None = None
        self.set_cameras([""])

    # ------------------------------------------------------------------ cameras
    @property
    def names(self) -> list[str]:
        return list(self.tiles)

    @property
    def video(self) -> CameraTile:
        """The selected camera's tile (the single view with one camera)."""
        return self.tiles.get(self.current) or next(iter(self.tiles.values()))

    def set_cameras(self, names: Sequence[str]) -> None:
        """One tile per camera, in order (the same names keep their tiles)."""
        names = list(names) or [""]
        if names == self.names:
            return
        for tile in self.tiles.values():
            tile.setParent(None)
            tile.deleteLater()
        self.tiles = {}
        for name in names:
            tile = CameraTile(name)
            tile.clicked.connect(self.select)
            tile.doubleClickedOn.connect(self._double_clicked)
            tile.displaySizeChanged.connect(lambda w, h, n=name: self.tileSizeChanged.emit(n, w, h))
            self.tiles[name] = tile
        self.solo = None
        self.current = names[0]
        self.camera_combo.blockSignals(True)
        self.camera_combo.clear()
        self.camera_combo.addItems(names)
        self.camera_combo.blockSignals(False)
        self._relayout()
        self.select(names[0])

    def clear(self, message: str) -> None:
        """No session: one placeholder tile with ``message``."""
        if len(self.tiles) > 1:
            self.set_cameras([""])
        for tile in self.tiles.values():
            tile.clear(message)

    def set_frame(self, view: FrameView) -> None:
        tile = self.tiles.get(view.camera) or (self.video if len(self.tiles) == 1 else None)
        if tile is not None:
            tile.set_frame(view)

    def set_infos(self, infos: Sequence[CameraInfo]) -> None:
        for info in infos:
            tile = self.tiles.get(info.name)
            if tile is not None and (tile.info != info):
                tile.set_info(info)
        self._update_label()

    # ------------------------------------------------------------------ selection, layout
    def select(self, name: str) -> None:
        if name not in self.tiles:
            return
        changed = name != self.current
        self.current = name
        for n, tile in self.tiles.items():
            if tile.selected != (n == name):
                tile.selected = n == name
                tile.update()
        self.camera_combo.setCurrentText(name)
        if changed and any(t.isHidden() == (n in self.visible) for n, t in self.tiles.items()):
            self._relayout()
        self._update_label()
        self.selected.emit(name)

    def set_layout(self, layout: str) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
        self.layout_name = layout
        self.solo = None
        self._relayout()
        self.layoutChanged.emit(layout)

    def _double_clicked(self, name: str) -> None:
        if len(self.tiles) == 1:
            self.doubleClicked.emit()
            return
        self.select(name)
        self.solo = None if self.solo is not None else name
        self._relayout()

    @property
    def shown_layout(self) -> str:
        """The layout on screen: "1" while one camera is shown alone (double-click)."""
        return "1" if self.solo is not None or len(self.tiles) == 1 else self.layout_name

    @property
    def visible(self) -> list[str]:
        """The cameras on screen: a page of the grid holding the selected camera."""
        per_page = LAYOUTS[self.shown_layout] ** 2
        names = self.names
        if per_page == 1:
            return [self.current]
        page = names.index(self.current) // per_page if self.current in names else 0
        return names[page * per_page : (page + 1) * per_page]

    def _relayout(self) -> None:
        if self._grid is not None:
            for tile in self.tiles.values():
                self._grid.removeWidget(tile)
            QWidget().setLayout(self._grid)  # the old layout goes with a throw-away widget
        grid = QGridLayout(self.area)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        self._grid = grid
        shown = self.visible
        cols = LAYOUTS[self.shown_layout]
        if cols > 1 and len(shown) <= (cols - 1) * cols:  # e.g. 2 cameras in 2x2: one row of two
            rows = -(-len(shown) // cols)
        else:
            rows = cols
        for k, name in enumerate(shown):
            grid.addWidget(self.tiles[name], k // cols, k % cols)
        for r in range(rows):
            grid.setRowStretch(r, 1)
        for c in range(cols):
            grid.setColumnStretch(c, 1)
        several = len(self.tiles) > 1
        for name, tile in self.tiles.items():
            tile.set_header(several)
            tile.setVisible(name in shown)
        self.bar.setVisible(several)
        for name, b in self.layout_buttons.items():
            b.setChecked(name == self.shown_layout)
        self._update_label()

    def _update_label(self) -> None:
        if len(self.tiles) <= 1:
            return
        tile = self.tiles.get(self.current)
        info = tile.info if tile is not None else None
        extra = f" — {info.status}" if info is not None and info.state != "live" else ""
        alone = " (double-click: back to the grid)" if self.solo is not None else ""
        self.selected_label.setText(f"of {len(self.tiles)}{extra}{alone}")
