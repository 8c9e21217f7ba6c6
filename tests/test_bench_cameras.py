"""``main.py bench --cameras``: the name check and options as units, then one short real run of 1 and 2
real-time site cameras (tests/scenes.py:SITE) producing the CSV, the tables, the verdict and the figure."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from app.bench.cameras import check_names, parse_counts, verdict
from app.bench.constants import CAMERA_COLUMNS
from app.bench.plan import UsageError
from app.bench.site import SITE, site_cameras, site_frames, site_passes, site_spans

POLICY = {"ben_afflek": "granted", "jerry_seinfeld": "granted", "elton_john": "denied", "madonna": "denied"}


def test_camera_counts_are_parsed_sorted_and_checked() -> None:
    assert parse_counts("4, 1,2,2") == [1, 2, 4]
    for bad, message in (("", "empty"), ("1,x", "'x' is not a number"), ("0", "between 1 and 64")):
        with pytest.raises(UsageError, match=message):
            parse_counts(bad)


def test_cameras_beyond_the_four_videos_reuse_them_under_their_own_names() -> None:
    cams = site_cameras(6)
    assert cams[:4] == [(k, k) for k in SITE]
    assert cams[4:] == [("front-2", "front"), ("back-2", "back")]
    assert site_spans()["lobby"] == [("jerry_seinfeld", 6, 35), (None, 46, 75)]
    # --frames longer than the videos: the people pass again
    assert site_frames() == 86 and [site_passes(n) for n in (0, 40, 86, 87, 400)] == [1, 1, 1, 2, 5]
    assert site_frames(passes=2) == 166 and site_spans(passes=2)["lobby"][2:] == [
        ("jerry_seinfeld", 86, 115),
        (None, 126, 155),
    ]


def test_everyone_named_right_means_each_appearance_decided_and_nothing_else() -> None:
    spans = site_spans()["lobby"]  # jerry (frames 6-35), then a stranger (46-75)
    ok = check_names([("jerry_seinfeld", "granted", 9), (None, "unknown", 50)], spans, POLICY, 86)
    assert ok == {"expected": 2, "wrong_names": 0, "missed": 0, "extra": 0, "named_right": True}
    wrong = check_names([("ben_afflek", "granted", 9), (None, "unknown", 50)], spans, POLICY, 86)
    assert wrong["wrong_names"] == 1 and wrong["missed"] == 1 and not wrong["named_right"]
    # jerry's track too brief to name him (decided when it ended, after his last frame): missed + extra
    brief = check_names([(None, "unknown", 36), (None, "unknown", 50)], spans, POLICY, 86)
    assert brief["missed"] == 1 and brief["extra"] == 1 and not brief["named_right"]
    # a second decision in one appearance, or a wrong decision for the right name, is not right either
    twice = [("jerry_seinfeld", "granted", 9), ("jerry_seinfeld", "granted", 20), (None, "unknown", 50)]
    assert check_names(twice, spans, POLICY, 86)["extra"] == 1
    assert not check_names([("jerry_seinfeld", "denied", 9), (None, "unknown", 50)], spans, POLICY, 86)[
        "named_right"
    ]
    # only appearances played to their end must be decided; a started one may be
    assert check_names([("jerry_seinfeld", "granted", 9)], spans, POLICY, 60)["named_right"]
    assert check_names([("jerry_seinfeld", "granted", 9), (None, "unknown", 55)], spans, POLICY, 60)[
        "named_right"
    ]
    assert check_names([], spans, POLICY, 30) == {
        "expected": 0, "wrong_names": 0, "missed": 0, "extra": 0, "named_right": True
    }  # fmt: skip


def test_the_verdict_is_the_largest_count_every_camera_of_which_holds() -> None:
    rows = [
        {"cameras": 1, "holds": True},
        {"cameras": 2, "holds": True},
        {"cameras": 2, "holds": True},
        {"cameras": 4, "holds": False},
        {"cameras": 4, "holds": True},
    ]
    best, line = verdict(rows, [1, 2, 4])
    assert best == 2 and line.startswith("verdict: 2 cameras held")
    assert verdict([{"cameras": 1, "holds": False}], [1]) == (None, verdict([], [1])[1])


def _csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_bench_cameras_on_the_real_site_videos(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    code, stdout, err = run_cli("bench", "--cameras", "1,2", "--frames", "40", "--out", out)
    assert code == 0, err + stdout
    cols, rows = _csv(out / "cameras.csv")
    assert cols == CAMERA_COLUMNS
    assert [(r["cameras"], r["camera"]) for r in rows] == [("1", "front"), ("2", "front"), ("2", "back")]
    for r in rows:
        played, processed, dropped = int(r["played"]), int(r["processed"]), int(r["dropped"])
        assert processed > 0 and played >= 40 and 0 <= dropped < played, r
        assert processed + dropped <= played
        assert float(r["dropped_pct"]) == pytest.approx(100 * dropped / played, abs=1e-3)
        assert 0 < float(r["fps"]) <= 25, r  # never faster than the video plays (20 FPS)
        assert float(r["detect_ms_p50"]) > 0 and float(r["round_ms_p50"]) > 0 and float(r["rss_mb"]) > 50
        assert r["load_before"] and r["holds"] in ("True", "False")
    one = rows[0]
    # the first person (ben, frames 6-35) passed the front camera within the 40 frames: named right
    assert one["named_right"] == "True" and one["expected"] == "1", one
    assert one["decisions"].startswith("ben_afflek:"), one
    for n in (1, 2):
        assert (out / f"frames-{n}.csv").stat().st_size > 0 and (out / f"events-{n}.csv").exists()

    report = (out / "report.md").read_text()
    assert "| cameras | camera | FPS | dropped | named right |" in report
    assert "| cameras | slowest FPS | worst drops |" in report and "verdict: " in report
    assert "| cameras | camera | FPS |" in stdout and "verdict: " in stdout
    png = out / "fig_cameras.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "](fig_cameras.png)" in report


def test_bad_camera_counts_are_a_usage_error(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("bench", "--cameras", "two", "--out", tmp_path)
    assert code == 2 and err.strip() == "error: --cameras: 'two' is not a number (use e.g. 1,2,4)"
