"""Bad command lines from issue 10: each is one line on stderr (no traceback), a non-zero exit where it
is an error, and changes nothing. Real files, real processes where the failure is about processes
(a closed pipe, a camera that is not there)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _errors(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.strip()]


def _usage_error(capsys, *argv: str) -> str:
    """Run a command line argparse must refuse: exit 2 and one stderr line; returns that line."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    assert exc.value.code == 2
    (line,) = _errors(capsys.readouterr().err)
    return line


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# ------------------------------------------------------------------------------ identify


def test_identify_text_output_with_nobody_enrolled(tmp_path, fr_images, run_cli) -> None:
    code, out, err = run_cli("--db", tmp_path / "empty.db", "identify", fr_images / "obama.jpg")
    assert code == 0
    assert out.strip().endswith("1 face(s): " + out.split("1 face(s): ")[1].strip())
    assert "unknown at [" in out
    assert _errors(err) == [f"warning: nobody is enrolled in {tmp_path / 'empty.db'}: every face is unknown"]


def test_identify_with_another_recognizer_uses_the_stored_crops(tmp_path, fr_images, run_cli) -> None:
    """Enrolled with facenet128; identify with facenet512: its embeddings are computed from the stored
    face crops (as `run` does), so the person is recognised instead of "unknown" with no word."""
    db = tmp_path / "g.db"
    assert run_cli("--db", db, "enroll", "obama", fr_images / "obama.jpg")[0] == 0
    code, out, err = run_cli(
        "--db", db, "--recognizer", "facenet512:onnxruntime", "identify", fr_images / "obama2.jpg"
    )
    assert code == 0 and "1 face(s): obama (" in out, (out, err)
    assert "computed 1 facenet512 embedding" in err


def test_identify_names_people_it_cannot_recognise_with_this_recognizer(tmp_path, fr_images, run_cli) -> None:
    from db.store import Store

    db = tmp_path / "g.db"
    s = Store(db)
    s.enroll("old_timer", "facenet128", _unit(1, 128))  # no stored crop: nothing to compute from
    s.close()
    code, out, err = run_cli(
        "--db", db, "--recognizer", "facenet512:onnxruntime", "identify", fr_images / "obama.jpg"
    )
    assert code == 0 and "unknown" in out
    assert "old_timer has no facenet512 embedding and no stored face crop" in err


# ------------------------------------------------------------------------------ inputs and outputs


def test_non_utf8_or_binary_pairs_csv(tmp_path, run_cli) -> None:
    latin = tmp_path / "pairs.csv"
    latin.write_bytes("caf\u00e9.jpg,b.jpg\n".encode("latin-1"))
    code, out, err = run_cli("verify", "--pairs", latin)
    assert code == 1 and _errors(err) == [f"error: {latin}: not a UTF-8 text CSV (byte 0xe9 at offset 3)"]
    binary = tmp_path / "pairs2.csv"
    binary.write_bytes(b"a.jpg\x00,b.jpg\n")
    code, out, err = run_cli("verify", "--pairs", binary)
    assert code == 1 and _errors(err) == [f"error: {binary}: not a text CSV (it holds NUL bytes)"]


def test_db_under_a_file_or_in_an_unwritable_place(tmp_path, run_cli) -> None:
    a_file = tmp_path / "photo.jpg"
    a_file.write_bytes(b"\xff\xd8not much")
    code, out, err = run_cli("--db", a_file / "gate.db", "identities", "list")
    assert code == 1
    assert _errors(err) == [
        f"error: {a_file / 'gate.db'}: cannot create the database, {a_file} is a file, not a folder"
    ]
    assert a_file.read_bytes() == b"\xff\xd8not much"
    # /proc takes no new files, even for root (the tests may run as root, where chmod does not stop writes)
    code, out, err = run_cli("--db", "/proc/facegate-test/gate.db", "identities", "list")
    (line,) = _errors(err)
    assert code == 1 and line.startswith("error: /proc/facegate-test/gate.db: cannot create the database")


def test_db_on_an_existing_non_database_file_is_refused_and_left_unchanged(tmp_path, run_cli) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    code, out, err = run_cli("--db", notes, "identities", "list")
    assert code == 1 and _errors(err) == [
        f"error: {notes}: not a FaceGate database (not an SQLite file); left unchanged"
    ]
    assert notes.read_text() == "my notes\n"
    # another program's SQLite database: refused too, not given FaceGate's tables
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    before = other.read_bytes()
    code, out, err = run_cli("--db", other, "identities", "list")
    (line,) = _errors(err)
    assert code == 1 and "not a FaceGate database" in line and "songs" in line
    assert other.read_bytes() == before


def test_output_files_naming_a_folder(tmp_path, run_cli) -> None:
    from db.store import Store

    db = tmp_path / "g.db"
    s = Store(db)
    sid = s.start_session("x")
    s.end_session(sid)
    s.close()
    folder = tmp_path / "out"
    folder.mkdir()
    code, out, err = run_cli("--db", db, "sessions", "export", sid, "--out", folder)
    assert code == 1 and _errors(err) == [
        f"error: --out {folder}: is a folder; name a file in it, e.g. {folder / 'out.csv'}"
    ]
    code, out, err = run_cli("--db", db, "run", "--source", "demo", "--export", folder, "--quiet")
    assert code == 1 and _errors(err) == [
        f"error: --export {folder}: is a folder; name a file in it, e.g. {folder / 'out.csv'}"
    ]
    code, out, err = run_cli("--db", db, "run", "--source", "demo", "--events", folder, "--quiet")
    assert code == 1 and _errors(err)[0].startswith(f"error: --events {folder}: is a folder")
    assert len(Store(db).sessions()) == 1  # nothing was started


def test_a_text_file_as_source_is_an_error_not_an_empty_session(tmp_path, run_cli) -> None:
    db = tmp_path / "g.db"
    notes = tmp_path / "notes.txt"
    notes.write_text("hello world\n" * 500)  # FFmpeg would "play" it as ANSI art
    code, out, err = run_cli("--db", db, "run", "--source", notes, "--quiet")
    assert code == 1 and _errors(err) == [f"error: {notes}: a text file, not a video"]
    junk = tmp_path / "clip.avi"
    junk.write_bytes(b"RIFF" + os.urandom(3000))
    code, out, err = run_cli("--db", db, "run", "--source", junk, "--quiet")
    assert code == 1 and len(_errors(err)) == 1 and str(junk) in err
    from db.store import Store

    assert not db.exists() or Store(db).sessions() == []


def test_a_video_still_gives_every_frame_after_the_probe(tmp_path) -> None:
    from core.sources import open_source

    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for k in range(7):
        writer.write(np.full((48, 64, 3), 30 * k, np.uint8))
    writer.release()
    with open_source(str(video)) as source:
        frames = list(source.iter_frames())
    assert [f.index for f in frames] == list(range(7))
    assert [round(f.image.mean() / 30) for f in frames] == list(range(7))  # the first one too


# ------------------------------------------------------------------------------ argument validation


def test_bad_numbers_are_usage_errors(capsys) -> None:
    assert "--frames: must be >= 0, not -3" in _usage_error(capsys, "run", "--frames", "-3")
    line = _usage_error(capsys, "run", "--fallback-after", "nan")
    assert "--fallback-after: must be a finite number of seconds > 0, not 'nan'" in line
    assert "--fallback-after" in _usage_error(capsys, "run", "--fallback-after", "-1")
    assert "--port: must be a port number 0-65535, not 99999" in _usage_error(
        capsys, "serve", "--port", "99999"
    )


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://[::1", "not a valid URL"),
        ("http://127.0.0.1:99999", "not a valid URL"),
        ("ftp://127.0.0.1:8000", "needs http:// or https://"),
        ("127.0.0.1:8000", "needs http:// or https://"),
        ("http:///v2", "no host"),
        ("http://127.0.0.1:8000/x y", "holds spaces or control characters"),
    ],
)
def test_an_invalid_endpoint_url_is_one_line(tmp_path, run_cli, url, why) -> None:
    code, out, err = run_cli(
        "--db", tmp_path / "g.db", "run", "--mode", "cloud", "--endpoint", url, "--quiet"
    )
    (line,) = _errors(err)
    assert code == 1 and line.startswith(f"error: --endpoint {url!r}: {why}")


# ------------------------------------------------------------------------------ output


def test_names_with_control_characters_are_escaped(tmp_path, run_cli) -> None:
    from db.store import Store

    db = tmp_path / "g.db"
    evil = "mallory\x1b[2J\x1b]0;pwned\x07\nroot"
    s = Store(db)
    s.enroll(evil, "facenet128", _unit(1, 128))
    s.close()
    code, out, err = run_cli("--db", db, "identities", "list")
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "mallory\\x1b[2J\\x1b]0;pwned\\x07\\nroot" in out and len(out.splitlines()) == 1
    code, out, err = run_cli("--db", db, "identities", "rename", evil, "mallory")
    assert code == 0 and out.strip() == "renamed mallory\\x1b[2J\\x1b]0;pwned\\x07\\nroot -> mallory"


def test_identities_list_into_a_closed_pipe(tmp_path) -> None:
    """`main.py identities list | head -1`: the reader goes away; no BrokenPipeError traceback."""
    from db.store import Store

    db = tmp_path / "many.db"
    s = Store(db)
    with s.transaction():
        s.db.conn.executemany(
            "INSERT INTO identities(name, created) VALUES (?, '2026-01-01')",
            [(f"p{i:05d}",) for i in range(5000)],
        )
    s.close()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "--db", str(db), "identities", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"p00000")
    proc.stdout.close()  # what `head -1` does once it has its line
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.wait(timeout=60) == 141
    assert err == ""


def test_a_missing_camera_is_named_on_stderr_and_retried(tmp_path) -> None:
    from tests.helpers import DUMPABLE_ENV, stop_and_wait

    if os.path.exists("/dev/video7"):
        pytest.skip("this machine has a /dev/video7")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "main.py"),
            "--db",
            str(tmp_path / "g.db"),
            "run",
            "--source",
            "7",
            "--quiet",
        ],
        env=DUMPABLE_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.time() + 60
        while time.time() < deadline and sum("waiting for camera 7" in ln for ln in lines) < 2:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line.strip())
        assert proc.poll() is None, lines  # still running: a camera may come back
    finally:
        out, rest = stop_and_wait(proc, signal.SIGTERM, 30)
    waits = [ln for ln in lines if ln.startswith("waiting for camera 7: reconnecting in ")]
    assert len(waits) >= 2 and all("no such camera (/dev/video7 does not exist)" in ln for ln in waits), lines
    delays = [float(ln.split("reconnecting in ")[1].split(" s")[0]) for ln in waits]
    assert delays == sorted(delays) and delays[-1] > delays[0]  # backoff
    assert not any("[ WARN" in ln for ln in lines + rest.splitlines())  # no OpenCV noise instead of a reason
    assert "interrupted: processed 0 frames from camera 7" in out


def test_a_database_locked_past_the_timeout_is_one_line(tmp_path, run_cli) -> None:
    """Another program holds the database exclusively for longer than the store's 10 s busy timeout."""
    from db.store import Store

    db = tmp_path / "g.db"
    Store(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        code, out, err = run_cli("--db", db, "identities", "list")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    (line,) = _errors(err)
    assert code == 1 and "database is locked" in line and str(db) in line
    assert 9 < time.monotonic() - t0 < 30
