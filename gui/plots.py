"""Live plots (pyqtgraph): FPS, per-stage times, memory, power; a sliding window redrawn on a timer.

Per-frame measurements arrive in the worker's bounded deque and are drained here at 4 Hz; nothing is
drawn per frame. With several cameras the FPS and stage plots show the selected camera
(:meth:`PlotsPanel.select_camera`); every camera's last minute is kept, so a newly selected camera's curves
show at once. Backend switches are marked with a vertical line on every plot.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QGridLayout, QLabel, QStackedWidget, QWidget

from gui.views import StatsPoint, SwitchMark

WINDOW_S = 60.0
REFRESH_MS = 250
BACKGROUND = "#15181d"
FOREGROUND = "#aab2be"

STAGES = [  # (timings key, label, colour)
    ("capture_ms", "capture", "#7f8c8d"),
    ("detect_ms", "detect", "#3fa7f5"),
    ("embed_ms", "embed", "#f5a623"),
    ("match_ms", "match", "#b36ae2"),
    ("network_ms", "net", "#e5534b"),
    ("total_ms", "total", "#e6e6e6"),
]


def title_html(title: str, series: list[tuple[str, str]]) -> str:
    """The plot title with each series' name in its colour (a legend that never covers the curves)."""
    keys = " ".join(f"<span style='color:{c}'>■ {n}</span>" for n, c in series)
    return f"<span style='color:{FOREGROUND};font-size:9pt'><b>{title}</b>&nbsp;&nbsp;{keys}</span>"


def _plot(title: str, units: str, series: list[tuple[str, str]] | None = None) -> pg.PlotWidget:
    w = pg.PlotWidget(background=BACKGROUND)
    w.setMinimumSize(200, 140)
    item = w.getPlotItem()
    item.setTitle(title_html(title, series or []))
    item.showGrid(x=True, y=True, alpha=0.15)
    item.setLabel("left", units, **{"color": FOREGROUND, "font-size": "8pt"})
    item.setMenuEnabled(False)
    item.hideButtons()
    item.setMouseEnabled(x=False, y=False)
    item.setClipToView(True)
    item.setDownsampling(auto=True, mode="peak")
    for axis in ("left", "bottom"):
        item.getAxis(axis).setTextPen(FOREGROUND)
        item.getAxis(axis).setPen(pg.mkPen("#3a4049"))
    item.getAxis("bottom").setStyle(showValues=True)
    return w


class _Series:
    """A curve fed by (t, value) points; None values leave a gap."""

    def __init__(self, plot: pg.PlotWidget, name: str, colour: str, width: float = 1.5) -> None:
        self.t: deque[float] = deque()
        self.v: deque[float] = deque()
        self.curve = plot.plot([], [], pen=pg.mkPen(colour, width=width), name=name, connect="finite")

    def add(self, t: float, value: float | None) -> None:
        self.t.append(t)
        self.v.append(np.nan if value is None else float(value))

    def trim(self, t_min: float) -> None:
        while self.t and self.t[0] < t_min:
            self.t.popleft()
            self.v.popleft()

    def redraw(self, t0: float) -> None:
        if not self.t:
            self.curve.setData([], [])
            return
        self.curve.setData(
            np.fromiter(self.t, float, len(self.t)) - t0, np.fromiter(self.v, float, len(self.v))
        )

    @property
    def has_data(self) -> bool:
        return any(np.isfinite(v) for v in self.v)


class PlotsPanel(QWidget):
    """Four plots in a row; call :meth:`start` with the stats source and the telemetry sampler."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, foreground=FOREGROUND)
        self.t0 = time.monotonic()
        self._drain: Callable[[], list[StatsPoint]] | None = None
        self._shown: Callable[[], int] | None = None
        self.sampler: Any = None
        self._last_tele = -1.0
        self._marks: list[tuple[float, list[tuple[pg.PlotWidget, pg.InfiniteLine]]]] = []
        self.redraws = 0

        self.fps_plot = _plot(
            "FPS", "frames/s", [("processed", "#4cd964"), ("captured", "#7f8c8d"), ("shown", "#3fa7f5")]
        )
        self.stage_plot = _plot("Stages", "ms", [(label, colour) for _, label, colour in STAGES])
        self.mem_plot = _plot("Memory", "MiB", [("RSS", "#f5a623"), ("GPU", "#4cd964")])
        self.power_plot = _plot("Power", "W", [("power", "#e5534b")])
        self.fps = _Series(self.fps_plot, "processed", "#4cd964", 2)
        self.capture_fps = _Series(self.fps_plot, "captured", "#7f8c8d")
        self.shown_fps = _Series(self.fps_plot, "shown", "#3fa7f5")
        self.stages = {key: _Series(self.stage_plot, label, colour) for key, label, colour in STAGES}
        self.rss = _Series(self.mem_plot, "process RSS", "#f5a623", 2)
        self.gpu = _Series(self.mem_plot, "GPU", "#4cd964", 2)
        self.power = _Series(self.power_plot, "power", "#e5534b", 2)
        self._shown_hist: deque[tuple[float, int]] = deque()  # (t, frames painted) for the shown FPS
        self.camera = ""  # the camera the FPS and stage plots show ("": every point, one camera)
        self.cameras: list[str] = []
        self._points: dict[str, deque[StatsPoint]] = {}  # camera -> its last minute of points

        self.no_power = QLabel("Power: waiting for the first telemetry sample…")
        self.no_power.setObjectName("noPower")
        self.no_power.setWordWrap(True)
        self.no_power.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.power_stack = QStackedWidget()
        self.power_stack.addWidget(self.power_plot)
        self.power_stack.addWidget(self.no_power)
        self.power_stack.setCurrentWidget(self.no_power)

        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setSpacing(6)
        for col, w in enumerate((self.fps_plot, self.stage_plot, self.mem_plot, self.power_stack)):
            w.setMinimumWidth(110)  # four plots under the video still fit a 1024 px wide screen
            grid.addWidget(w, 0, col)
            grid.setColumnStretch(col, 3 if w is self.stage_plot else 2)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)

    # ------------------------------------------------------------------ wiring
    def start(self, drain: Callable[[], list[StatsPoint]], sampler: Any, shown: Callable[[], int]) -> None:
        self._drain, self.sampler, self._shown = drain, sampler, shown
        self._sensor_status()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _sensor_status(self) -> None:
        """Say plainly when there is no power sensor (and why), and when there is no GPU memory figure."""
        if self.sampler is None:
            return
        status = {s.name: s for s in self.sampler.status()}
        power_probes = [s for n, s in status.items() if n in ("nvml", "jetson", "rapl")]
        if any(
            s.available and ({"gpu_power_w", "board_power_w", "cpu_power_w"} & set(s.fields))
            for s in power_probes
        ):
            self.power_stack.setCurrentWidget(self.power_plot)
        else:
            reasons = "\n".join(f"• {s.name}: {s.reason}" for s in power_probes if not s.available)
            self.no_power.setText(f"<b>No power sensor</b><br>{reasons.replace(chr(10), '<br>')}")
            self.no_power.setToolTip(reasons)
            self.power_stack.setCurrentWidget(self.no_power)
        nvml = status.get("nvml")
        jetson = status.get("jetson")
        if not ((nvml and nvml.available) or (jetson and jetson.available)):
            why = nvml.reason if nvml else "no GPU probe"
            self.mem_plot.getPlotItem().setTitle(
                title_html("Memory", [("process RSS", "#f5a623")])
                + "<span style='color:#69717d;font-size:8pt'> · no GPU</span>"
            )
            self.mem_plot.setToolTip(f"GPU memory not measured: {why}")

    # ------------------------------------------------------------------ marks
    def mark(self, mark: SwitchMark) -> None:
        """A vertical line on every plot at the first frame processed with the new backends."""
        x = mark.t - self.t0
        lines = []
        for i, p in enumerate((self.fps_plot, self.stage_plot, self.mem_plot, self.power_plot)):
            line = pg.InfiniteLine(
                pos=x,
                angle=90,
                movable=False,
                pen=pg.mkPen("#ffd60a", width=1, style=Qt.PenStyle.DashLine),
                label=mark.label if i == 1 else None,
                labelOpts={
                    "position": 0.92,
                    "color": "#ffd60a",
                    "fill": (0, 0, 0, 150),
                    "anchors": [(0, 0), (0, 0)],
                },
            )
            p.addItem(line)
            lines.append((p, line))
        self._marks.append((mark.t, lines))

    @property
    def marks(self) -> list[float]:
        return [t for t, _ in self._marks]

    # ------------------------------------------------------------------ cameras
    def set_cameras(self, names: list[str]) -> None:
        """A session's cameras: the plots show the first until another is selected."""
        self.cameras = list(names)
        self._points = {n: p for n, p in self._points.items() if n in names}
        self.select_camera(names[0] if names else "")

    def select_camera(self, name: str) -> None:
        """Show camera ``name``'s FPS and stage times (its last minute at once, from the next redraw); the
        window's dock title names the camera."""
        self.camera = name
        self._shown_hist.clear()  # another tile's painted frames
        self._show_points(self._selected_points())

    def _selected_points(self) -> Any:
        points = self._points.get(self.camera)
        if points is None and not self.camera and len(self._points) == 1:
            points = next(iter(self._points.values()))
        return points or ()

    def _show_points(self, points: Any) -> None:
        series = [self.fps, self.capture_fps, *self.stages.values()]
        for s in series:
            s.t.clear()
            s.v.clear()
        for pt in points:
            self.fps.add(pt.t, pt.fps)
            self.capture_fps.add(pt.t, pt.capture_fps or None)
            for key, st in self.stages.items():
                st.add(pt.t, pt.timings.get(key))

    # ------------------------------------------------------------------ timer
    def refresh(self) -> None:
        now = time.monotonic()
        if self._drain is not None:
            for pt in self._drain():
                self._points.setdefault(pt.camera, deque()).append(pt)
            for points in self._points.values():
                while points and points[0].t < now - WINDOW_S - 1:
                    points.popleft()
            self._show_points(self._selected_points())
        if self._shown is not None:  # frames painted per second over the last ~1 s
            self._shown_hist.append((now, self._shown()))
            while len(self._shown_hist) > 2 and now - self._shown_hist[1][0] >= 1.0:
                self._shown_hist.popleft()
            (ta, na), (tb, nb) = self._shown_hist[0], self._shown_hist[-1]
            if tb - ta >= 0.5:
                self.shown_fps.add(now, (nb - na) / (tb - ta))
        if self.sampler is not None:
            for snap in self.sampler.history(since=self._last_tele + 1e-9 if self._last_tele >= 0 else None):
                self.rss.add(snap.t, snap.rss_mb)
                self.gpu.add(snap.t, snap.gpu_mem_mb)
                self.power.add(snap.t, snap.power_w)
                self._last_tele = snap.t
        t_min = now - WINDOW_S
        every = [
            self.fps,
            self.capture_fps,
            self.shown_fps,
            *self.stages.values(),
            self.rss,
            self.gpu,
            self.power,
        ]
        for s in every:
            s.trim(t_min - 1)
            s.redraw(self.t0)
        while self._marks and self._marks[0][0] < t_min:
            _, lines = self._marks.pop(0)
            for plot, line in lines:
                plot.removeItem(line)
        x1 = now - self.t0
        for p in (self.fps_plot, self.stage_plot, self.mem_plot, self.power_plot):
            p.setXRange(max(0.0, x1 - WINDOW_S), max(WINDOW_S, x1), padding=0)
        self.redraws += 1
