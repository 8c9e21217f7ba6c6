"""The walkthrough's polish: the window on a 1024x600 screen, greyed backends that say why without a
tooltip, the plots (wall-clock axis, default ranges, switch labels, the power panel's words) and the
controls' accessible names, buddies and tab stops. Real widgets offscreen, real SQLite files, no models
(the window is never started)."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("PySide6.QtWidgets", reason="the GUI needs PySide6 (pip install PySide6-Essentials)")
pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")

from PySide6.QtCore import QPoint, QRect, Qt  # noqa: E402, TID253 - after the importorskip above
from PySide6.QtGui import QAccessible  # noqa: E402, TID253
from PySide6.QtWidgets import (  # noqa: E402, TID253
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSlider,
    QTabBar,
    QToolBar,
    QToolButton,
    QWidget,
)

from gui.access import DIST_COL, NAME_COL, TRACK_COL  # noqa: E402
from gui.backends import NOT_CONFIGURED, Choice, short_reason  # noqa: E402
from gui.layout import SIDE_SHARE  # noqa: E402
from gui.views import EventView, SwitchMark  # noqa: E402

CONTROLS = (QAbstractButton, QComboBox, QSlider, QLineEdit, QAbstractSpinBox)


@pytest.fixture
def styled(qapp):
    """The operator's style sheet (resources/style.qss: its padding is what must fit), then none again."""
    from gui.main_window import apply_style

    before = qapp.styleSheet()
    apply_style(qapp)
    yield
    qapp.setStyleSheet(before)


@pytest.fixture
def window(idle_window):
    return idle_window


def _in_window(w: QWidget, window: QWidget) -> QRect:
    return QRect(w.mapTo(window, QPoint(0, 0)), w.size())


def _events(n: int) -> list[EventView]:
    return [EventView(time.time(), k, f"person{k}", 0.5, "granted", "s", reason="matched") for k in range(n)]


def _fully_shown_rows(table) -> int:
    vp = table.viewport().height()
    return sum(
        1
        for r in range(table.model().rowCount())
        if 0 <= table.rowViewportPosition(r) and table.rowViewportPosition(r) + table.rowHeight(r) <= vp
    )


# ---------------------------------------------------------------------------------------------- 1024x600
def _backends_shown(window) -> bool:
    return all(
        c.isVisible() and window.rect().contains(_in_window(c, window)) for c in window.combos.values()
    )


def test_the_window_holds_at_1024x600(styled, window, qtbot) -> None:
    window.resize(1024, 600)
    qtbot.waitUntil(lambda: window.plots.tabbed and _backends_shown(window), timeout=3000)
    assert window.fit.wrapped  # with the style's padding the backends need a row of their own
    win = window.rect()
    # no control hidden behind a toolbar's overflow button: every backend control is on screen
    for tb in window.findChildren(QToolBar):
        ext = tb.findChild(QToolButton, "qt_toolbar_ext_button")
        assert ext is None or not ext.isVisible(), tb.objectName()
    for kind, combo in window.combos.items():
        assert combo.isVisible(), kind
        assert win.contains(_in_window(combo, window)), (kind, _in_window(combo, window))
    assert window.source_combo.isVisible() and win.contains(_in_window(window.source_combo, window))
    # the events table shows several whole rows
    window.access.add_events(_events(8), alert=False)
    qtbot.waitUntil(lambda: _fully_shown_rows(window.access.table) >= 4, timeout=3000)
    # a busy day's counts (every decision and an identity change) do not widen the Access panel
    busy = [EventView(time.time(), k, None, 1.2, "unknown", "s", reason="no-match") for k in range(120)]
    busy += [EventView(time.time(), k, "p", 0.5, "denied", "s", reason="policy") for k in range(120)]
    change = EventView(
        time.time(), 1, "p", 0.5, "granted", "s", reason="matched", kind="change", previous="q"
    )
    window.access.add_events([*busy, change], alert=False)
    window.access.layout().activate()  # the size hints follow the new text
    assert window.access_dock.minimumSizeHint().width() <= SIDE_SHARE * 1024, window.access.summary.text()
    # in that narrow panel the names keep a readable width (Dist. and Track give theirs up)
    table = window.access.table
    qtbot.waitUntil(lambda: table.columnWidth(NAME_COL) >= 90, timeout=3000)
    assert table.isColumnHidden(DIST_COL) and table.isColumnHidden(TRACK_COL)
    # the video keeps most of the space; the plots are tabs, one readable plot at a time
    video, plots = window.grid.geometry(), window.plots_dock.geometry()
    assert video.height() >= 0.6 * (video.height() + plots.height()), (video, plots)
    assert video.width() >= 0.55 * window.width()
    assert window.plots.tabs.isVisible() and window.plots.tabs.count() == 4
    # legends are not clipped: each shows every line its width needs
    for k in range(window.plots.tabs.count()):
        window.plots.tabs.setCurrentIndex(k)
        qtbot.waitUntil(lambda: window.plots.tabs.currentWidget().isVisible(), timeout=1000)
        for legend in window.plots.tabs.currentWidget().findChildren(QLabel, "plotLegend"):
            assert legend.height() >= legend.heightForWidth(legend.width()), legend.text()
    window.plots.tabs.setCurrentIndex(3)
    no_power = window.plots.no_power
    if no_power.isVisible():
        assert no_power.height() >= no_power.heightForWidth(no_power.width()), no_power.text()


# The window opened the way `main.py` opens it, in a process of its own whose offscreen screen has the
# given size: prints its frame and what an operator sees of the toolbar, then closes (saving the layout).
OPEN_ON_SCREEN = r"""
import json, sys, time
from PySide6.QtCore import QPoint, QRect, Qt
from gui.app import create_app
from gui.main_window import MainWindow
from gui.settings import Settings
app = create_app()
w = MainWindow(Settings(sys.argv[1]), db=sys.argv[2], source="0")
w.show()
def settle():
    end = time.monotonic() + 3
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)
settle()
if len(sys.argv) > 3:  # the operator drags the Access panel this wide (saved with the layout)
    w.resizeDocks([w.access_dock], [int(sys.argv[3])], Qt.Orientation.Horizontal)
    settle()
free = w.screen().availableGeometry()
inside = lambda c: w.rect().contains(QRect(c.mapTo(w, QPoint(0, 0)), c.size())) and c.isVisible()
print(json.dumps({
    "frame": w.frameGeometry().getRect(), "free": free.getRect(), "maximized": w.isMaximized(),
    "backends_shown": all(inside(c) for c in w.combos.values()), "source_shown": inside(w.source_combo),
    "plots_tabbed": w.plots.tabbed, "video_share": w.grid.width() / w.width(),
}))
w.close()
"""


def _open_on_screen(tmp_path, width: int, height: int, settings: str, side: int = 0) -> dict:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import offscreen_platform

    env = {**os.environ, "QT_QPA_PLATFORM": offscreen_platform(tmp_path, width, height)}
    root = Path(__file__).resolve().parents[1]
    args = [sys.executable, "-c", OPEN_ON_SCREEN, str(tmp_path / f"{settings}.ini"), str(tmp_path / "s.db")]
    args += [str(side)] if side else []
    proc = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_window_opens_whole_on_a_1024x600_screen(tmp_path) -> None:
    """Found under Xvfb: the window opened at its 1440x900 default on a 1024x600 screen, the Access panel,
    the mode and the plots past its edges. Opened as main.py opens it, on a first run and again with its
    saved layout, and with the layout a 1920x1080 workstation saved (a monitor swapped), it fills the
    small screen, maximised, with every backend control on it; a workstation gets the default size."""
    from PySide6.QtCore import QRect

    # the workstation's operator widened the Access panel to 760 px
    runs = ((1024, 600, "a", 0), (1024, 600, "a", 0), (1920, 1080, "b", 760), (1024, 600, "b", 0))
    for width, height, settings, side in runs:
        seen = _open_on_screen(tmp_path, width, height, settings, side)
        assert QRect(*seen["free"]).contains(QRect(*seen["frame"])), seen
        assert seen["backends_shown"] and seen["source_shown"], seen
        small = width == 1024
        assert seen["maximized"] == small, seen
        if small:  # plots as tabs; the Access panel does not take the video's place
            assert seen["plots_tabbed"] and seen["video_share"] >= 0.55, seen
        else:
            assert QRect(*seen["frame"]).width() < width, seen


def test_a_wider_screen_gets_one_toolbar_row_and_plots_side_by_side(styled, window, qtbot) -> None:
    window.resize(1024, 600)
    qtbot.waitUntil(lambda: window.fit.wrapped, timeout=3000)
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: not window.fit.wrapped and window.plots.tabbed is False, timeout=3000)
    table = window.access.table
    assert not table.isColumnHidden(DIST_COL) and not table.isColumnHidden(TRACK_COL)
    assert window.plots_dock.height() <= 0.35 * window.height()
    boxes = list(window.plots.boxes.values())
    assert all(b.isVisible() for b in boxes)
    tops = {b.geometry().top() for b in boxes}
    assert len(tops) == 1  # one row
    for legend in window.plots.findChildren(QLabel, "plotLegend"):
        assert legend.height() >= legend.heightForWidth(legend.width()), legend.text()


# ---------------------------------------------------------------------------------------------- greyed
def test_a_greyed_backend_says_why_in_its_entry(styled, window) -> None:
    choices = [
        Choice("facenet128:tflite", "FaceNet-128 · tflite", True),
        Choice(
            "facenet128:tensorrt", "FaceNet-128 · tensorrt", False, "tensorrt: module not found (tensorrt)"
        ),
        Choice("facenet128:onnxruntime", "FaceNet-128 · onnxruntime", True),
    ]
    window.pickers.fill("recognizer", choices, "facenet128:tflite")
    combo = window.combos["recognizer"]
    item = combo.model().item(window.choice_index("recognizer", "facenet128:tensorrt"))
    assert not item.isEnabled()
    assert item.text() == "FaceNet-128 · tensorrt — needs an NVIDIA GPU"  # read without hovering
    assert "module not found" in item.data(Qt.ItemDataRole.AccessibleDescriptionRole)
    assert "FaceNet-128 · tensorrt" in combo.accessibleDescription()
    assert "tensorrt: module not found" in item.toolTip()
    # and it looks greyed: its text is painted darker than an available entry's (the dark style sheet)
    combo.showPopup()
    view = combo.view()
    window.window().grab()  # lay the popup out
    shot = view.viewport().grab().toImage()

    def brightest(row: int) -> int:
        r = view.visualRect(combo.model().index(row, 0))
        return max(
            shot.pixelColor(x, y).lightness()
            for x in range(r.left(), min(r.right(), shot.width() - 1), 2)
            for y in range(r.top(), min(r.bottom(), shot.height() - 1))
        )

    available, greyed = brightest(2), brightest(1)  # row 0 is the current one, highlighted
    combo.hidePopup()
    assert greyed < available - 40, (greyed, available)
    # the mode dropdown: cloud/hybrid without an endpoint
    mode = window.combos["mode"]
    hybrid = mode.model().item(window.choice_index("mode", "hybrid"))
    if not hybrid.isEnabled():
        assert "—" in hybrid.text() and hybrid.text().split("—", 1)[1].strip()
    assert short_reason("cloud", NOT_CONFIGURED) == "no endpoint: set one in Settings"
    assert short_reason("facenet512:tensorflow", "tensorflow: module not found (tensorflow)") == (
        "needs tensorflow"
    )


# ---------------------------------------------------------------------------------------------- plots
def _panel(qtbot, width: int = 1200, height: int = 240):
    from gui.plots import PlotsPanel

    panel = PlotsPanel()
    qtbot.addWidget(panel)
    panel.resize(width, height)
    panel.show()
    qtbot.waitUntil(panel.isVisible, timeout=1000)
    return panel


def test_plots_show_wall_clock_time_and_a_sane_range_before_data(qtbot) -> None:
    import pyqtgraph as pg

    panel = _panel(qtbot)
    panel.refresh()
    axis = panel.fps_plot.getPlotItem().getAxis("bottom")
    assert isinstance(axis, pg.DateAxisItem)
    x0, x1 = panel.fps_plot.getPlotItem().viewRange()[0]
    now = time.time()
    assert abs(x1 - now) < 5 and abs((x1 - x0) - 60) < 1  # the last minute, on the wall clock
    panel.grab()  # painted once: the axis has its font and chose its tick spacing
    ticks = [s for level in axis.tickValues(x0, x1, 600) for s in axis.tickStrings(level[1], 1, level[0])]
    local = time.strftime("%H:%M", time.localtime(x1 - 30))
    assert any(t.startswith(local[:2]) and ":" in t for t in ticks), ticks  # local hours, not seconds
    y0, y1 = panel.fps_plot.getPlotItem().viewRange()[1]
    assert (y0, y1) == pytest.approx((0, 30))  # no empty auto-ranged axis before the first frame
    assert panel.stage_plot.getPlotItem().viewRange()[1] == pytest.approx([0, 100])
    assert "frames/s" in panel.fps_plot.getPlotItem().getAxis("left").labelText


def test_close_switch_labels_do_not_overlap(qtbot) -> None:
    """Two switches a second apart, on the plots as wide as the dock at 1280x800 (856 px for four plots):
    both labels whole inside the stage plot's view, one above the other."""
    panel = _panel(qtbot, width=856, height=220)
    t = time.monotonic()
    panel.mark(SwitchMark(t - 11, "recognizer facenet512:tensorflow", "recognizer", 900.0))
    panel.mark(SwitchMark(t - 10, "detector blazeface:tflite", "detector", 120.0))  # one second later
    panel.refresh()
    qtbot.waitUntil(lambda: panel.stage_plot.isVisible(), timeout=1000)
    labels = [
        line.label
        for _, lines in panel._marks
        for plot, line in lines
        if plot is panel.stage_plot and line.label is not None
    ]
    assert len(labels) == 2
    panel.grab()  # painted once: the view's transform is set, the labels placed on it
    for lab in labels:
        lab.updatePosition()
    a, b = (lab.sceneBoundingRect() for lab in labels)
    view = panel.stage_plot.getPlotItem().vb.sceneBoundingRect()
    assert view.contains(a) and view.contains(b), (a, b, view)  # both whole, not cut at the view's edge
    assert not a.intersects(b), (a, b)
    assert all(
        "facenet512" in line.toolTip() or "blazeface" in line.toolTip()
        for _, ls in panel._marks
        for _, line in ls
    )


def test_the_power_panel_speaks_to_an_operator(qtbot) -> None:
    from core.telemetry import ProbeStatus

    class NoSensors:  # a machine without power probes (the sampler's status() as a laptop reports it)
        def status(self):
            return [
                ProbeStatus("nvml", False, "no NVIDIA GPU (NVML init failed)", []),
                ProbeStatus("jetson", False, "jtop: module not found (pip install jetson-stats)", []),
                ProbeStatus("rapl", False, "no /sys/class/powercap", []),
            ]

        def history(self, since=None):
            return []

    panel = _panel(qtbot)
    panel.start(lambda: [], NoSensors(), lambda: 0)
    panel.stop()
    assert panel.power_stack.currentWidget() is panel.no_power
    text = panel.no_power.text()
    assert "no sensor on this machine" in text and "NVIDIA" in text
    assert "pip" not in text and "pip install" not in panel.no_power.toolTip()
    assert "no GPU" in panel.mem_legend.text()


# ---------------------------------------------------------------------------------------------- a11y
def _name(w: QWidget) -> str:
    iface = QAccessible.queryAccessibleInterface(w)
    return iface.text(QAccessible.Text.Name).strip() if iface is not None else ""


def _controls(root: QWidget) -> list[QWidget]:
    out = []
    for w in root.findChildren(QWidget):
        if not isinstance(w, CONTROLS) or isinstance(w, QTabBar):
            continue
        if w.objectName().startswith("qt_") or isinstance(w.parent(), (QAbstractSpinBox, QComboBox)):
            continue  # Qt's own parts: the toolbar's overflow button, a spin box's or combo's line edit
        if isinstance(w, QToolButton) and isinstance(w.parent(), (QTabBar, QLineEdit)):
            continue  # a tab bar's scroll arrows, a line edit's clear button (Qt names them)
        out.append(w)
    return out


def _assert_named(root: QWidget) -> None:
    unnamed = []
    for w in _controls(root):
        name = _name(w)
        if not name or not name[0].isalnum():  # "▶ Start" reads as "black right-pointing triangle"
            unnamed.append(f"{type(w).__name__} {w.objectName()!r} {name!r}")
    assert not unnamed, unnamed


def _assert_buddies(root: QWidget) -> None:
    for form in root.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if label is None or field is None or not isinstance(label.widget(), QLabel):
                continue
            if isinstance(field.widget(), QLabel):
                continue  # a read-only value (the identity store's path), not a field
            buddy = label.widget().buddy()
            assert buddy is not None, label.widget().text()
            target = buddy.focusProxy() or buddy
            assert target.focusPolicy() & Qt.FocusPolicy.TabFocus, label.widget().text()


def test_the_main_window_controls_are_named_and_tab_stops_are_useful(window, qtbot) -> None:
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.plots.tabbed is False, timeout=3000)
    _assert_named(window)
    assert _name(window.start_button) == "Start"
    window.controller.starting = True  # noqa - what the Stop text reads
    window._update_start_action()
    assert _name(window.start_button) == "Stop"
    window.controller.starting = False
    window._update_start_action()
    assert _name(window.video)
    # read-only parts take no focus: the only tab stops are controls, the events table and the video
    useless = [
        f"{type(w).__name__} {w.objectName()!r}"
        for w in window.findChildren(QWidget)
        if w.isVisible()
        and w.focusPolicy() & Qt.FocusPolicy.TabFocus
        and not isinstance(w, (*CONTROLS, QAbstractItemView, QPlainTextEdit, QTabBar))
    ]
    assert not useless, useless
    # a sensible order: the source, start, the backends, then the access panel from the top down
    order, w = [], window.source_combo.lineEdit() or window.source_combo
    start = w
    for _ in range(40):
        order.append(w)
        w = w.nextInFocusChain()
        while not (w.focusPolicy() & Qt.FocusPolicy.TabFocus) or not w.isVisibleTo(window):
            w = w.nextInFocusChain()
        if w is start:
            break
    wanted = [
        window.combos["detector"],
        window.combos["recognizer"],
        window.combos["mode"],
        window.access.slider,
        window.access.search,
        window.access.table,
    ]
    positions = [order.index(x) for x in wanted]
    assert positions == sorted(positions), [type(order[p]).__name__ for p in positions]


def test_the_wizard_and_settings_controls_are_named_and_labelled(window, qtbot, tmp_path) -> None:
    from gui.backends import RemoteSettings
    from gui.dialogs import SettingsDialog
    from gui.enroll import EnrollWizard

    wiz = EnrollWizard(window.worker, ["ann"], None, window)
    qtbot.addWidget(wiz)
    wiz.show()
    _assert_named(wiz)
    _assert_buddies(wiz)
    wiz.reject()
    dlg = SettingsDialog(RemoteSettings(), False, str(tmp_path / "s.db"), window)
    qtbot.addWidget(dlg)
    dlg.show()
    _assert_named(dlg)
    _assert_buddies(dlg)
    dlg.reject()
