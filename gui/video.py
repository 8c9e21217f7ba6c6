"""The live video view: paints the newest annotated frame; measures frame-to-screen latency."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.views import FrameView


def to_qimage(bgr: np.ndarray) -> QImage:
    """A QImage viewing ``bgr`` (H, W, 3 uint8, C-contiguous) without a copy: keep the array alive."""
    h, w = bgr.shape[:2]
    return QImage(bgr.data, w, h, int(bgr.strides[0]), QImage.Format.Format_BGR888)


class VideoView(QWidget):
    """Paints :class:`FrameView` images (the worker already scaled them to this widget's size).

    ``latencies_ms`` holds, per painted frame, the time from capture (``FrameView.capture_ts``) to the
    end of the paint: the frame-to-screen latency an operator sees (minus the display's own refresh).
    """

    displaySizeChanged = Signal(int, int)  # device pixels the worker should scale frames to
    doubleClicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        # a click focuses it (the source box then loses the focus and says so); it takes no key, so it
        # is no tab stop
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setAccessibleName("Live video")
        self.view: FrameView | None = None
        self._image: QImage | None = None
        self.placeholder = "Starting…"
        self.hud = ""
        self.frames_painted = 0
        self.latencies_ms: deque[float] = deque(maxlen=2000)
        self.paint_ms: deque[float] = deque(maxlen=2000)
        self._painted_index = -1
        self.top_margin = 0  # px above the picture kept free (a camera tile's header)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(960, 540)

    def set_frame(self, view: FrameView) -> None:
        self.view = view
        self._image = to_qimage(view.image)
        self._image.setDevicePixelRatio(self.devicePixelRatioF())
        self.update()

    def clear(self, message: str) -> None:
        self.view, self._image = None, None
        self.placeholder = message
        self.update()

    def grab_frame(self) -> QImage | None:
        """A copy of the frame now shown (annotated, at display size)."""
        return None if self._image is None else self._image.copy()

    # ------------------------------------------------------------------ Qt events
    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._emit_size()

    def _emit_size(self) -> None:
        dpr = self.devicePixelRatioF()
        self.displaySizeChanged.emit(
            int(self.width() * dpr), int(max(1, self.height() - self.top_margin) * dpr)
        )

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt API
        self.doubleClicked.emit()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        t0 = time.perf_counter()
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(12, 14, 18))
        img = self._image
        if img is None:
            p.setPen(QColor(170, 178, 190))
            f = QFont(self.font())
            f.setPointSizeF(f.pointSizeF() * 1.4)
            p.setFont(f)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            p.end()
            return
        dpr = img.devicePixelRatio() or 1.0
        size = QSize(int(img.width() / dpr), int(img.height() / dpr))
        area = self.rect().adjusted(0, self.top_margin, 0, 0)
        if size.width() > area.width() or size.height() > area.height():  # the view shrank since
            size.scale(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(area.center())
        p.drawImage(target, img)
        if self.hud:
            self._draw_hud(p, target)
        p.end()
        view = self.view
        if view is not None and view.index != self._painted_index:
            self._painted_index = view.index
            self.frames_painted += 1
            self.latencies_ms.append((time.time() - view.capture_ts) * 1e3)
            self.paint_ms.append((time.perf_counter() - t0) * 1e3)

    def _draw_hud(self, p: QPainter, target: QRect) -> None:
        f = QFont(self.font())
        f.setPointSizeF(max(8.0, f.pointSizeF() * 0.95))
        p.setFont(f)
        metrics = p.fontMetrics()
        w = metrics.horizontalAdvance(self.hud) + 16
        h = metrics.height() + 8
        box = QRect(target.left() + 8, target.top() + 8, w, h)
        p.fillRect(box, QColor(0, 0, 0, 150))
        p.setPen(QColor(235, 238, 242))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, self.hud)
