"""Alarms (unknown / denied / tailgating events, open until acknowledged) and the audit trail (issue 13):
the store (db/audit.py) and the ``alarms`` / ``audit`` commands, on real SQLite files."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import StoreError
from db.store import Store, os_user

T = "2026-12-01T08:00:0{}.000+00:00"


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(1, 8)).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """ann (allowed) and eve (denied), and one event of each kind: granted, denied, unknown, change."""
    s = Store(tmp_path / "alarms.db")
    s.enroll("ann", "m", _vec(1))
    s.enroll("eve", "m", _vec(2), policy="denied")
    sid = s.start_session("cam.avi")
    s.add_event(sid, T.format(0), 1, "ann", 0.4, "granted", reason="matched", camera="front")  # 1
    s.add_event(sid, T.format(1), 2, "eve", 0.5, "denied", reason="policy", camera="front")  # 2
    s.add_event(sid, T.format(2), 3, None, None, "unknown", reason="no-match", camera="back")  # 3
    s.add_event(
        sid,
        T.format(3),
        1,
        "bob",
        0.6,
        "granted",
        reason="matched",
        camera="front",
        kind="change",
        previous="ann",
    )  # 4
    return s


def _actions(s: Store) -> list[str]:
    return [r["action"] for r in s.audit()]


def test_alarms_are_exactly_unknown_denied_and_change_events(store: Store) -> None:
    assert [a["id"] for a in store.alarms()] == [2, 3, 4]
    assert store.open_alarm_count() == 3
    change = store.alarms()[-1]
    assert (change["kind"], change["previous"], change["acknowledged"]) == ("change", "ann", False)
    assert [a["id"] for a in store.alarms(limit=2)] == [3, 4]  # the newest N, oldest first


def test_ack_with_a_note_closes_one_and_is_audited_with_the_os_user(store: Store) -> None:
    ack = store.ack_alarm(3, "a courier")
    assert ack["already"] is False and ack["user"] == os_user()
    assert [a["id"] for a in store.alarms(open_only=True)] == [2, 4]
    assert store.open_alarm_count() == 2
    row = next(a for a in store.alarms() if a["id"] == 3)
    assert (row["acknowledged"], row["ack_note"], row["ack_by"]) == (True, "a courier", os_user())
    last = store.audit()[-1]
    assert (last["action"], last["subject"], last["user"]) == ("ack", "event 3", os_user())
    assert last["after"] == {"event": 3, "note": "a courier"} and last["before"] is None


def test_a_second_ack_keeps_the_first(store: Store) -> None:
    store.ack_alarm(2, "first", user="op1")
    again = store.ack_alarm(2, "second", user="op2")
    assert again["already"] is True and (again["note"], again["user"]) == ("first", "op1")
    assert _actions(store).count("ack") == 1


@pytest.mark.parametrize(
    ("event_id", "message"), [(1, "event 1 is not an alarm"), (99, "no event with id 99")]
)
def test_acking_a_bad_id_is_one_line(store: Store, event_id: int, message: str) -> None:
    with pytest.raises(StoreError, match=message) as err:
        store.ack_alarm(event_id)
    assert "\n" not in str(err.value)
    assert "ack" not in _actions(store) and store.open_alarm_count() == 3


def test_each_audited_change_writes_its_before_and_after(store: Store) -> None:
    enroll = store.audit()[0]
    assert (enroll["action"], enroll["subject"], enroll["before"]) == ("enroll", "ann", None)
    assert enroll["after"] == {"policy": "allowed", "schedule": "", "samples": 1, "added": 1, "model": "m"}
    store.enroll("ann", "m", _vec(3))
    assert store.audit()[-1]["before"]["samples"] == 1 and store.audit()[-1]["after"]["samples"] == 2

    store.set_policy("ann", "schedule", "mon-fri 08:00-18:00")
    pol = store.audit()[-1]
    assert pol["action"] == "policy" and (pol["before"]["policy"], pol["after"]["schedule"]) == (
        "allowed",
        "mon-fri 08:00-18:00",
    )
    store.rename("ann", "anne")
    assert store.audit()[-1]["before"] == {"name": "ann"} and store.audit()[-1]["after"] == {"name": "anne"}
    store.add_correction(2, None, "not eve")
    cor = store.audit()[-1]
    assert (cor["action"], cor["before"]["identity"], cor["after"]["identity"]) == ("correction", "eve", None)
    store.set_door("front", "lobby", only_listed=True)
    assert store.audit()[-1]["after"] == {"door": "lobby", "only_listed": True}
    store.set_door_rule("lobby", "anne", "allowed")
    rule = store.audit()[-1]
    assert (rule["action"], rule["before"], rule["after"]["policy"]) == ("door rule", None, "allowed")
    store.remove_door("lobby")
    assert store.audit()[-1]["action"] == "remove door"
    store.save_calibration("m", 0.001, 0.9, 0.001, 0.05, 10, 100, [])
    store.save_calibration("m", 0.01, 1.0, 0.01, 0.02, 10, 100, [])
    cal = store.audit()[-1]
    assert (cal["before"]["threshold"], cal["after"]["threshold"]) == (0.9, 1.0)
    store.record_threshold("m", 1.0, 0.85)
    assert store.audit()[-1]["after"] == {"threshold": 0.85}
    store.remove("anne")
    rem = store.audit()[-1]
    assert (rem["action"], rem["before"]["policy"], rem["before"]["samples"], rem["after"]) == (
        "remove",
        "schedule",
        2,
        None,
    )
    assert all(r["user"] == os_user() and r["created"].endswith("+00:00") for r in store.audit())


def test_the_audit_row_is_in_the_same_transaction_as_the_change(store: Store) -> None:
    n = len(store.audit())
    # an audit row that cannot be written undoes the change it records ...
    store.db.execute(
        "CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.rename("ann", "anne")
    assert store.identity_id("ann") is not None and store.identity_id("anne") is None
    with pytest.raises(sqlite3.IntegrityError):
        store.ack_alarm(2)
    assert store.open_alarm_count() == 3
    store.db.execute("DROP TRIGGER no_audit")
    # ... and a change that fails leaves no audit row
    store.db.execute(
        "CREATE TRIGGER no_rename BEFORE UPDATE ON identities BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.rename("ann", "anne")
    with pytest.raises(StoreError):
        store.rename("ann", "eve")  # refused before any write
    assert len(store.audit()) == n


def test_a_schema_5_store_keeps_its_data(tmp_path: Path) -> None:
    from db.store import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "v5.db"
    conn = sqlite3.connect(path)
    for step in range(1, 6):
        for statement in MIGRATIONS[step]:
            conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '5')")
    conn.execute("INSERT INTO identities(name, created, policy) VALUES ('ann', '2026-01-01', 'denied')")
    conn.execute(
        "INSERT INTO events(timestamp, identity, decision, reason) VALUES (?, 'ann', 'denied', 'policy')",
        [T.format(0)],
    )
    conn.commit()
    conn.close()
    s = Store(path)
    assert s._version() == SCHEMA_VERSION >= 6
    assert s.identities()[0]["name"] == "ann" and s.policy("ann") == "denied"
    assert [a["id"] for a in s.alarms(open_only=True)] == [1] and s.audit() == []
    s.ack_alarm(1, "known")
    assert s.open_alarm_count() == 0


# ---------------------------------------------------------------------- the command line
def _lines(run_cli: Any, *args: Any) -> list[dict[str, Any]]:
    code, out, err = run_cli(*args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_alarms_and_audit_on_the_command_line(store: Store, run_cli: Any, tmp_path: Path) -> None:
    db = store.path
    store.close()
    rows = _lines(run_cli, "--db", db, "alarms", "list", "--json")
    assert [r["id"] for r in rows] == [2, 3, 4]
    assert set(rows[0]) == {
        "id", "timestamp", "camera", "identity", "decision", "reason", "kind", "previous",
        "acknowledged", "ack_note", "ack_by", "ack_at",
    }  # fmt: skip
    code, out, err = run_cli("--db", db, "alarms", "ack", "3", "--note", "a courier")
    assert code == 0 and "alarm 3 acknowledged; 2 open alarms left" in out
    code, out, _ = run_cli("--db", db, "alarms", "ack", "3", "--note", "again")
    assert code == 0 and "already acknowledged" in out and "(a courier)" in out
    assert [r["id"] for r in _lines(run_cli, "--db", db, "alarms", "list", "--open", "--json")] == [2, 4]
    code, out, _ = run_cli("--db", db, "alarms", "list")
    assert "OPEN" in out and "a courier" in out and out.rstrip().endswith(f"2 open alarms in {db}")

    audit = _lines(run_cli, "--db", db, "audit", "list", "--json")
    assert [r["action"] for r in audit] == ["enroll", "enroll", "ack"]
    assert _lines(run_cli, "--db", db, "audit", "list", "--json", "--limit", "1")[0]["action"] == "ack"
    code, out, _ = run_cli("--db", db, "audit", "list")  # the text listing says what changed in words
    assert code == 0 and out.rstrip().splitlines()[-1].endswith(
        "ack          event 3: acknowledged: a courier"
    )
    out_csv = tmp_path / "audit.csv"
    code, out, err = run_cli("--db", db, "audit", "export", out_csv)
    assert code == 0, err
    with open(out_csv, newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [r["action"] for r in table] == ["enroll", "enroll", "ack"]
    assert json.loads(table[-1]["after"]) == {"event": 3, "note": "a courier"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alarms", "ack", "1"], "event 1 is not an alarm"),
        (["alarms", "ack", "99"], "no event with id 99"),
        (["alarms", "ack"], "needs the alarm's event id"),
        (["alarms", "ack", "x"], "must be an event id"),
        (["audit", "export"], "needs the CSV file"),
        (["alarms", "list", "--limit", "-1"], "must be >= 0"),
    ],
)
def test_bad_input_is_one_line(
    store: Store, run_cli: Any, capsys: Any, args: list[str], message: str
) -> None:
    db = store.path
    store.close()
    try:
        code, _, err = run_cli("--db", db, *args)
    except SystemExit as exc:  # a usage error: argparse exits 2
        code, err = int(str(exc.code)), capsys.readouterr().err
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err


def test_audit_export_into_a_folder_is_refused(store: Store, run_cli: Any, tmp_path: Path) -> None:
    db = store.path
    store.close()
    code, _, err = run_cli("--db", db, "audit", "export", tmp_path)
    assert code != 0 and "is a folder" in err


# ---------------------------------------------------------------------- the window
def test_removing_a_person_asks_with_no_as_the_default(store: Store, qtbot: Any, monkeypatch: Any) -> None:
    from PySide6.QtWidgets import QMessageBox

    from gui.enroll import IdentityManager

    asked: list[tuple[Any, ...]] = []

    def answer(*args: Any) -> QMessageBox.StandardButton:
        asked.append(args)
        return args[-1]  # the operator presses Enter: the default button

    monkeypatch.setattr(QMessageBox, "question", answer)
    dlg = IdentityManager(store)
    qtbot.addWidget(dlg)
    dlg.select("ann")
    dlg._remove()
    assert asked and asked[0][-1] == QMessageBox.StandardButton.No
    assert store.identity_id("ann") is not None and "remove" not in _actions(store)


def test_audit_changes_read_as_sentences() -> None:
    """What the audit window shows for a row: only what changed, an empty value as a dash, no empty
    fields in a new or removed record."""
    from db.audit import describe_change

    assert (
        describe_change("threshold", {"threshold": None}, {"threshold": 0.92}) == "threshold default → 0.92"
    )
    assert (
        describe_change(
            "policy",
            {"policy": "allowed", "schedule": ""},
            {"policy": "schedule", "schedule": "mon-fri 08:00-18:00"},
        )
        == "policy allowed → schedule, schedule – → mon-fri 08:00-18:00"
    )
    assert describe_change("enroll", None, {"policy": "allowed", "samples": 3, "schedule": ""}) == (
        "new: policy allowed, samples 3"
    )
    assert describe_change("remove", {"policy": "denied", "notes": ""}, None) == "removed (was policy denied)"
    assert describe_change("ack", None, {"event": 5, "note": "courier"}) == "acknowledged: courier"
