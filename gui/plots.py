"""Live plots (pyqtgraph): FPS, per-stage times, memory, power; a sliding window redrawn on a timer.

Per-frame measurements arrive in the worker's bounded deque and are drained here at 4 Hz; nothing is
drawn per frame. With several cameras the FPS and stage plots show the selected camera
(:meth:`PlotsPanel.select_camera`); every camera's last minute is kept, so a newly selected camera's curves
show at once. Backend switches are marked with a vertical line on every plot.

The time axis is the wall clock (local time); points carry ``time.monotonic()`` stamps and are shifted
by the clock offset taken when the panel is built. Each plot's legend is a word-wrapped label above it
(never clipped, never over the curves). Below :data:`TABS_BELOW_PX` of width (a 1024 px screen with the
access panel beside) the four plots become tabs, one plot at a time, so each stays readable.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.views import StatsPoint, SwitchMark

WINDOW_S = 60.0
REFRESH_MS = 250
BACKGROUND = "#15181d"
FOREGROUND = "#aab2be"
TABS_BELOW_PX = 760  # narrower than this, the plots are tabs (four in a row would be ~180 px each)
STAGGER_S = 20.0  # switch marks closer than this get their labels at different heights
LABEL_HEIGHTS = (0.82, 0.6, 0.38, 0.16)  # a switch label's place along its line (0 bottom, 1 top)
DEFAULT_Y = {"fps": (0.0, 30.0), "ms": (0.0, 100.0), "mib": (0.0, 1024.0), "w": (0.0, 20.0)}  # no data yet
NO_POWER = "Power: no sensor on this machine (Jetson boards and NVIDIA GPUs report power)."

STAGES = [  # (timings key, label, colour)
    ("capture_ms", "capture", "#7f8c8d"),
    ("detect_ms", "detect", "#3fa7f5"),
    ("embed_ms", "embed", "#f5a623"),
    ("match_ms", "match", "#b36ae2"),
    ("network_ms", "net", "#e5534b"),
    ("total_ms", "total", "#e6e6e6"),
]


def title_html(title: str, series: list[tuple[str, str]], extra: str = "") -> str:
    """The plot title with each series' name in its colour (a legend that never covers the curves)."""
    keys = " ".join(f"<span style='color:{c}'>■&nbsp;{n}</span>" for n, c in series)
    return f"<span style='color:{FOREGROUND}'><b>{title}</b>&nbsp;&nbsp;{keys}{extra}</span>"


def _legend(title: str, series: list[tuple[str, str]]) -> QLabel:
    """The legend line above a plot: word-wrapped, so a narrow plot shows it on two lines, not clipped."""
    label = QLabel(title_html(title, series))
    label.setObjectName("plotLegend")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setAccessibleName(f"{title} legend")
    return label


def _plot(title: str, units: str, default_y: tuple[float, float]) -> pg.PlotWidget:
    w = pg.PlotWidget(background=BACKGROUND, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
    w.setMinimumSize(110, 90)
    for part in (w, w.viewport()):  # nothing to do with the keyboard: no tab stop
        part.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    w.setAccessibleName(f"{title} plot, {units}, last minute")
    item = w.getPlotItem()
    item.showGrid(x=True, y=True, alpha=0.15)
    item.setLabel("left", units, **{"color": FOREGROUND, "font-size": "9pt"})
    item.setLimits(yMin=0)  # rates, times, memory and power are never negative
    item.setYRange(*default_y, padding=0)  # until there is data (no empty auto-ranged axis)
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


def _box(legend: QLabel, content: QWidget) -> QWidget:
    """A plot with its legend above it."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(1)
    lay.addWidget(legend)
    lay.addWidget(content, 1)
    return box


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

    def redraw(self, offset: float) -> None:
        """Draw the points at their wall-clock time (``offset``: wall clock minus monotonic, s)."""
        if not self.t:
            self.curve.setData([], [])
            return
        self.curve.setData(
            np.fromiter(self.t, float, len(self.t)) + offset, np.fromiter(self.v, float, len(self.v))
        )

    @property
    def has_data(self) -> bool:
        return any(np.isfinite(v) for v in self.v)


def operator_text(reason: str) -> str:
    """A probe's reason without install hints (an operator cannot act on "pip install ...")."""
    return re.sub(r"\s*\(?pip install [^)]*\)?", "", reason).strip()


class PlotsPanel(QWidget):
    """Four plots in a row (tabs when narrow); call :meth:`start` with the stats source and the
    telemetry sampler."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, foreground=FOREGROUND)
        self.t0 = time.monotonic()
        self.offset = time.time() - self.t0  # monotonic stamps + offset = wall clock (s since the epoch)
        self._drain: Callable[[], list[StatsPoint]] | None = None
        self._shown: Callable[[], int] | None = None
        self.sampler: Any = None
        self._last_tele = -1.0
        self._marks: list[tuple[float, list[tuple[pg.PlotWidget, pg.InfiniteLine]]]] = []
        self._label_steps: list[int] = []  # the recent marks' label heights (LABEL_HEIGHTS indices)
        self.redraws = 0

        self.fps_plot = _plot("Frame rate", "frames/s", DEFAULT_Y["fps"])
        self.stage_plot = _plot("Stage times", "ms", DEFAULT_Y["ms"])
        self.mem_plot = _plot("Memory", "MiB", DEFAULT_Y["mib"])
        self.power_plot = _plot("Power", "W", DEFAULT_Y["w"])
        self.fps_legend = _legend(
            "Frame rate", [("processed", "#4cd964"), ("captured", "#7f8c8d"), ("shown", "#3fa7f5")]
        )
        self.stage_legend = _legend("Stage times", [(label, colour) for _, label, colour in STAGES])
        self.mem_legend = _legend("Memory", [("process RSS", "#f5a623"), ("GPU", "#4cd964")])
        self.power_legend = _legend("Power", [("power", "#e5534b")])
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
        self.no_power.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.power_stack = QStackedWidget()
        self.power_stack.addWidget(self.power_plot)
        self.power_stack.addWidget(self.no_power)
        self.power_stack.setCurrentWidget(self.no_power)

        self.boxes = {  # tab title -> the plot with its legend
            "FPS": _box(self.fps_legend, self.fps_plot),
            "Stages": _box(self.stage_legend, self.stage_plot),
            "Memory": _box(self.mem_legend, self.mem_plot),
            "Power": _box(self.power_legend, self.power_stack),
        }
        self.row = QWidget()  # the four side by side
        grid = QGridLayout(self.row)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        for col, title in enumerate(self.boxes):
            grid.setColumnStretch(col, 3 if title == "Stages" else 2)
        self.tabs = QTabWidget()  # one at a time, when narrow
        self.tabs.setObjectName("plotTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.setAccessibleName("Performance plots")
        self.modes = QStackedWidget()
        self.modes.addWidget(self.row)
        self.modes.addWidget(self.tabs)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addWidget(self.modes)
        self.tabbed: bool | None = None
        self.set_tabbed(False)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)

    # ------------------------------------------------------------------ layout
    def set_tabbed(self, tabbed: bool) -> None:
        """The four plots as tabs (one at a time: a narrow dock) or in a row."""
        if tabbed == self.tabbed:
            return
        self.tabbed = tabbed
        grid = self.row.layout()
        assert isinstance(grid, QGridLayout)  # built so in __init__
        current = self.tabs.currentIndex()
        if tabbed:
            for title, box in self.boxes.items():
                grid.removeWidget(box)
                self.tabs.addTab(box, title)
            self.tabs.setCurrentIndex(max(0, current))
            self.modes.setCurrentWidget(self.tabs)
        else:
            self.tabs.clear()
            for col, box in enumerate(self.boxes.values()):
                grid.addWidget(box, 0, col)
                box.show()
            self.modes.setCurrentWidget(self.row)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self.set_tabbed(self.width() < TABS_BELOW_PX)

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
            reasons = "\n".join(
                f"{s.name}: {operator_text(s.reason or '')}" for s in power_probes if not s.available
            )
            self.no_power.setText(NO_POWER)
            self.no_power.setToolTip(f"Power probes tried:\n{reasons}" if reasons else NO_POWER)
            self.power_stack.setCurrentWidget(self.no_power)
        nvml = status.get("nvml")
        jetson = status.get("jetson")
        if not ((nvml and nvml.available) or (jetson and jetson.available)):
            why = operator_text(nvml.reason or "") if nvml else "no GPU probe"
            self.mem_legend.setText(
                title_html(
                    "Memory", [("process RSS", "#f5a623")], "<span style='color:#69717d'> · no GPU</span>"
                )
            )
            self.mem_legend.setToolTip(f"GPU memory not measured: {why}")

    # ------------------------------------------------------------------ marks
    def mark(self, mark: SwitchMark) -> None:
        """A vertical line on every plot at the first frame processed with the new backends; the stage
        plot's line carries the label, one step lower than a close previous mark's (no overlap)."""
        x = mark.t + self.offset
        step = 0
        if self._marks and mark.t - self._marks[-1][0] < STAGGER_S:
            step = (self._label_steps[-1] + 1) % len(LABEL_HEIGHTS) if self._label_steps else 1
        self._label_steps = [*self._label_steps[-(len(LABEL_HEIGHTS) - 1) :], step]
        when = time.strftime("%H:%M:%S", time.localtime(x))
        lines = []
        for i, p in enumerate((self.fps_plot, self.stage_plot, self.mem_plot, self.power_plot)):
            line = pg.InfiniteLine(
                pos=x,
                angle=90,
                movable=False,
                pen=pg.mkPen("#ffd60a", width=1, style=Qt.PenStyle.DashLine),
                # the new choice only ("facenet512:tensorflow", not "recognizer ..."): it fits a narrow plot;
                # the tooltip has the whole label
                label=mark.label.split(" ", 1)[-1] if i == 1 else None,
                labelOpts={
                    "position": LABEL_HEIGHTS[step],
                    "color": "#ffd60a",
                    "fill": (0, 0, 0, 150),
                    # the text ends at its line: a new switch is at the right edge, its label reads into
                    # the past rather than off the plot
                    "anchors": [(1, 0.5), (1, 0.5)],
                },
            )
            line.setToolTip(f"{when}: {mark.label}")
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
            s.redraw(self.offset)
        while self._marks and self._marks[0][0] < t_min:
            _, lines = self._marks.pop(0)
            for plot, line in lines:
                plot.removeItem(line)
        x1 = now + self.offset
        shown = (
            (self.fps_plot, (self.fps, self.capture_fps, self.shown_fps), DEFAULT_Y["fps"]),
            (self.stage_plot, tuple(self.stages.values()), DEFAULT_Y["ms"]),
            (self.mem_plot, (self.rss, self.gpu), DEFAULT_Y["mib"]),
            (self.power_plot, (self.power,), DEFAULT_Y["w"]),
        )
        for p, series, default in shown:
            p.setXRange(x1 - WINDOW_S, x1, padding=0)
            _fit_y(p, any(s.has_data for s in series), default)
        self.redraws += 1


def _fit_y(plot: pg.PlotWidget, has_data: bool, default: tuple[float, float]) -> None:
    """Auto-range the y axis on data; without any, the plot's default range (not an empty -1..1 or a
    -400..400 of NaNs)."""
    view = plot.getPlotItem().getViewBox()
    if has_data:
        if not view.autoRangeEnabled()[1]:
            view.enableAutoRange(axis=pg.ViewBox.YAxis)
    else:
        view.disableAutoRange(axis=pg.ViewBox.YAxis)
        view.setYRange(*default, padding=0)
