"""Integrations (issue 13): every decision delivered to a signed webhook and an MQTT broker through the
store's outbox, in order, surviving a receiver that is down and a restart.

Real things only: a local HTTP receiver (http.server in a thread) that checks the HMAC, a real MQTT
broker (amqtt, pure Python, started by the test in its own process) subscribed to with paho-mqtt, and
real runs of ``main.py run`` on the door video.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.integrations.payload import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from core.integrations.transports import MqttPublisher, Webhook
from core.integrations.worker import DeliveryWorker
from db.store import Store

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cret-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A webhook receiver on 127.0.0.1: checks each request's signature and records the events it
    accepted (answered 2xx), in arrival order. ``fail_next`` requests are answered ``fail_status``."""

    def __init__(self, port: int = 0, fail_next: int = 0, fail_status: int = 503) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.fail_next, self.fail_status = fail_next, fail_status
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(SECRET, body, self.headers.get(SIGNATURE_HEADER, ""))
                event = json.loads(body) if ok else {}
                sent_at = event.pop("sent_at", 0)  # signed with the body: a stale one is a replay
                ok = ok and abs(time.time() - sent_at) < 300
                ok = ok and self.headers.get(TIMESTAMP_HEADER) == str(sent_at)
                with receiver.lock:
                    if not ok:
                        receiver.bad_signatures += 1
                        status = 401
                    elif receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        status = receiver.fail_status
                    else:
                        receiver.accepted.append({"path": self.path, "event": event})
                        status = 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> list[int]:
        with self.lock:
            return [a["event"]["event_id"] for a in self.accepted]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(cond: Any, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return bool(cond())


def add_events(store: Store, session: str, n: int, camera: str = "front", start: int = 0) -> list[int]:
    ids = []
    for i in range(start, start + n):
        decision = ("granted", "denied", "unknown")[i % 3]
        ids.append(
            store.add_event(
                session,
                f"2026-01-31T12:00:{i:02d}.000+00:00",
                i,
                None if decision == "unknown" else f"person{i}",
                None if decision == "unknown" else 0.5 + i / 100,
                decision,
                reason={"granted": "matched", "denied": "policy", "unknown": "no-match"}[decision],
                camera=camera,
                frame=10 * i,
                observations=3,
            )
        )
    return ids


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "gate.db")
    yield s
    s.close()


def worker_for(store: Store, transports: dict[str, Any], **kw: Any) -> DeliveryWorker:
    path = store.path
    kw.setdefault("retry_min_s", 0.05)
    kw.setdefault("retry_max_s", 0.2)
    kw.setdefault("poll_s", 0.02)
    return DeliveryWorker(lambda: Store(path), transports, **kw)


def test_webhook_gets_each_event_signed_and_in_order(store) -> None:
    rx = Receiver()
    target = f"webhook {rx.url}"
    store.outbox_targets = (target,)
    store.set_door("front", "Main entrance")
    session = store.start_session("cam", "local")
    worker = worker_for(store, {target: Webhook(rx.url, SECRET, 2.0)}).start()
    try:
        ids = add_events(store, session, 6)
        assert wait_for(lambda: len(rx.ids()) == 6), rx.ids()
    finally:
        worker.stop(1.0)
        rx.close()
    assert rx.ids() == ids and rx.bad_signatures == 0
    first = rx.accepted[0]["event"]
    assert first == {
        "version": 1,
        "event_id": ids[0],
        "time": "2026-01-31T12:00:00.000+00:00",
        "camera": "front",
        "door": "Main entrance",
        "identity": "person0",
        "decision": "granted",
        "reason": "matched",
        "kind": "decision",
        "previous": None,
        "distance": 0.5,
        "session": session,
        "track": 0,
        "frame": 0,
    }
    assert rx.accepted[2]["event"]["identity"] is None and rx.accepted[2]["event"]["decision"] == "unknown"
    rows = store.outbox()
    assert [r["state"] for r in rows] == ["delivered"] * 6 and all(r["attempts"] == 1 for r in rows)
    # what is signed: the exact body (the event with this try's sent_at); any other key or body fails
    from core.integrations.payload import signature, signed_body

    body = signed_body(rows[0]["payload"], 1700000000)
    assert json.loads(body) == {**json.loads(rows[0]["payload"]), "sent_at": 1700000000}
    assert verify(SECRET, body, signature(SECRET, body))
    assert not verify("other", body, signature(SECRET, body))
    assert not verify(SECRET, signed_body(rows[0]["payload"], 1700000001), signature(SECRET, body))


def test_the_event_and_its_deliveries_are_one_transaction(store) -> None:
    """An event is never stored without its outbox rows, nor rows without the event."""
    store.outbox_targets = ("webhook https://a.example/x", "mqtt broker:1883")
    session = store.start_session("cam", "local")
    (eid,) = add_events(store, session, 1)
    assert [(r["event_id"], r["target"], r["state"]) for r in store.outbox()] == [
        (eid, "webhook https://a.example/x", "pending"),
        (eid, "mqtt broker:1883", "pending"),
    ]
    store.db.execute("DROP TABLE outbox")  # the outbox write fails ...
    with pytest.raises(Exception, match="outbox"):
        add_events(store, session, 1)
    assert len(store.events()) == 1  # ... and so the event is not stored either


def test_a_receiver_down_for_a_while_gets_every_event_once_in_order(store) -> None:
    port = free_port()  # nothing listens here yet: connection refused
    url = f"http://127.0.0.1:{port}/hook"
    target = f"webhook {url}"
    store.outbox_targets = (target,)
    session = store.start_session("cam", "local")
    worker = worker_for(store, {target: Webhook(url, SECRET, 2.0)}).start()
    rx = None
    try:
        ids = add_events(store, session, 3)
        assert wait_for(lambda: store.outbox()[0]["attempts"] >= 3)
        head, *rest = store.outbox()
        assert head["state"] == "pending" and "refused" in head["last_error"].lower(), head
        assert all(r["attempts"] == 0 for r in rest)  # later events wait for the first: order is kept
        ids += add_events(store, session, 3, start=3)
        rx = Receiver(port, fail_next=2)  # up now, but answers its first two requests 503
        assert wait_for(lambda: len(rx.ids()) == 6), rx.ids()
    finally:
        worker.stop(1.0)
        if rx is not None:
            rx.close()
    assert rx.ids() == ids  # each event once, in the order they were decided
    assert all(r["state"] == "delivered" for r in store.outbox())
    assert worker.stats[target].retries >= 5 and worker.stats[target].delivered == 6


def test_a_new_run_tries_what_an_earlier_run_left_at_once(store) -> None:
    """Rows an earlier run left pending with a long backoff (its receiver was down for minutes) are
    tried as soon as the next run's worker starts, not after that run's backoff: a short run would
    otherwise end before they are due (CI caught a run that delivered nothing)."""
    rx = Receiver()
    target = f"webhook {rx.url}"
    store.outbox_targets = (target,)
    session = store.start_session("cam", "local")
    ids = add_events(store, session, 2)
    head = store.outbox()[0]
    store.outbox_failed(head["id"], "connection refused", time.time() + 3600)  # an hour of backoff
    worker = worker_for(store, {target: Webhook(rx.url, SECRET, 2.0)}).start()
    try:
        assert wait_for(lambda: len(rx.ids()) == 2, 10), rx.ids()
    finally:
        worker.stop(1.0)
        rx.close()
    assert rx.ids() == ids


def test_a_refused_event_is_given_up_the_next_ones_go_on_and_retry_brings_it_back(store) -> None:
    rx = Receiver(fail_next=1, fail_status=400)  # a 4xx: sending the same bytes again cannot help
    target = f"webhook {rx.url}"
    store.outbox_targets = (target,)
    session = store.start_session("cam", "local")
    ids = add_events(store, session, 3)
    worker = worker_for(store, {target: Webhook(rx.url, SECRET, 2.0)})
    try:
        assert worker.deliver(store, target)[0] == 2
        rows = store.outbox()
        assert rows[0]["state"] == "failed" and "HTTP 400" in rows[0]["last_error"]
        assert rx.ids() == ids[1:]
        assert store.outbox_retry() == 1
        assert worker.deliver(store, target)[0] == 1
    finally:
        rx.close()
    assert rx.ids() == ids[1:] + ids[:1] and all(r["state"] == "delivered" for r in store.outbox())


def test_max_attempts_gives_up_on_a_receiver_that_stays_down(store) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    target = f"webhook {url}"
    store.outbox_targets = (target,)
    add_events(store, store.start_session("cam", "local"), 2)
    worker = worker_for(store, {target: Webhook(url, SECRET, 1.0)}, retry_min_s=0.001, max_attempts=2)
    worker.deliver(store, target)
    time.sleep(0.01)
    worker.deliver(store, target)
    assert [(r["state"], r["attempts"]) for r in store.outbox()][0] == ("failed", 2)
    assert worker.backoff(1) == 0.001 and worker.backoff(30) == 0.2  # doubling, capped


KILLED_RUN = """
import sys, time
from core.integrations.transports import Webhook
from core.integrations.worker import DeliveryWorker
from db.store import Store
path, url = sys.argv[1], sys.argv[2]
store = Store(path)
store.outbox_targets = ("webhook " + url,)
session = store.start_session("cam", "local")
for i in range(3):
    store.add_event(session, "2026-01-31T12:00:0%d.000+00:00" % i, i, "p%d" % i, 0.5, "granted", camera="front")
worker = DeliveryWorker(lambda: Store(path), {"webhook " + url: Webhook(url, "x", 1.0)}, 0.05, 0.1).start()
while store.outbox()[0]["attempts"] < 2:
    time.sleep(0.02)
print("stored", flush=True)
time.sleep(60)
"""


def test_deliveries_left_by_a_killed_process_are_sent_by_the_next(tmp_path) -> None:
    """A process stores events while the receiver is down and is killed (SIGKILL): nothing delivered,
    nothing lost. The next process delivers every event, once, in order."""
    db = tmp_path / "gate.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(db), url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "stored"
    finally:
        proc.kill()
        proc.wait(10)
    store = Store(db)
    rx = Receiver(port)
    target = f"webhook {url}"
    worker = worker_for(store, {target: Webhook(url, SECRET, 2.0)}).start()
    try:
        assert wait_for(lambda: len(rx.ids()) == 3)
    finally:
        worker.stop(1.0)
        rx.close()
    ids = [e["id"] for e in store.events()]
    assert rx.ids() == ids and [a["event"]["identity"] for a in rx.accepted] == ["p0", "p1", "p2"]
    assert [r["state"] for r in store.outbox()] == ["delivered"] * 3 and store.outbox()[0]["attempts"] >= 3
    store.close()


def test_two_runs_on_one_store_deliver_each_event_once_in_order(store) -> None:
    """The window and a headless run share a store and both deliver the same webhook: only the holder of
    the target's lease sends, so the receiver gets each event once and in order; when the holder stops,
    the other takes over at once (no waiting for the lease to expire)."""
    rx = Receiver()
    target = f"webhook {rx.url}"
    store.outbox_targets = (target,)
    session = store.start_session("cam", "local")
    a = worker_for(store, {target: Webhook(rx.url, SECRET, 2.0)}).start()
    b = worker_for(store, {target: Webhook(rx.url, SECRET, 2.0)}).start()
    try:
        ids = add_events(store, session, 8)
        assert wait_for(lambda: len(rx.ids()) >= 8), rx.ids()
        time.sleep(0.3)  # a second sender, if any, would have sent by now
        assert rx.ids() == ids
        holder, other = (a, b) if a.leased[target] else (b, a)
        assert holder.leased[target] and not other.leased[target]
        holder.stop(1.0)  # its lease is released: the other delivers the next events at once
        more = add_events(store, session, 3, start=8)
        assert wait_for(lambda: len(rx.ids()) == 11, timeout=5.0), rx.ids()
    finally:
        a.stop(1.0)
        b.stop(1.0)
        rx.close()
    assert rx.ids() == ids + more
    assert [r["state"] for r in store.outbox()] == ["delivered"] * 11


# ---------------------------------------------------------------------- MQTT
BROKER = """
import asyncio, sys
from amqtt.broker import Broker
cfg = {"listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:%d"}},
       "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}}
async def main():
    broker = Broker(cfg)
    await broker.start()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


@pytest.fixture
def broker():
    """A real MQTT broker on a free local port: amqtt (a dev dependency) in its own process."""
    pytest.importorskip(
        "paho.mqtt", reason="paho-mqtt is not installed (pip install 'facegate[integrations]')"
    )
    pytest.importorskip("amqtt", reason="amqtt (the test's MQTT broker) is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", BROKER % port], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if line.strip() != "ready":
            proc.kill()
            err = proc.communicate(timeout=10)[1]
            pytest.skip(f"the amqtt MQTT broker did not start: {err.strip()[-300:]}")
        yield port
    finally:
        proc.kill()
        proc.wait(10)


def subscribe(port: int, pattern: str) -> tuple[Any, list[tuple[str, dict[str, Any], int]]]:
    import paho.mqtt.client as mqtt

    got: list[tuple[str, dict[str, Any], int]] = []
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="facegate-test-subscriber")
    client.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload), m.qos))
    client.on_subscribe = lambda *a: ready.set()
    client.connect("127.0.0.1", port)
    client.subscribe(pattern, qos=1)
    client.loop_start()
    assert ready.wait(10), "the broker did not confirm the subscription"
    return client, got


def test_mqtt_publishes_each_event_to_its_camera_and_decision_topic(store, broker) -> None:
    sub, got = subscribe(broker, "site/#")
    target = f"mqtt 127.0.0.1:{broker}"
    store.outbox_targets = (target,)
    session = store.start_session("cams", "local")
    worker = worker_for(store, {target: MqttPublisher("127.0.0.1", broker, "site", 5.0)}).start()
    try:
        ids = add_events(store, session, 3, camera="lobby") + add_events(
            store, session, 3, camera="videos/back door.mp4", start=3
        )
        assert wait_for(lambda: len(got) == 6), got
    finally:
        worker.stop(1.0)
        sub.loop_stop()
        sub.disconnect()
    assert [m[1]["event_id"] for m in got] == ids
    assert [m[0] for m in got] == [
        "site/lobby/granted",
        "site/lobby/denied",
        "site/lobby/unknown",
        "site/videos_back door.mp4/granted",  # a '/' in a camera name does not make a topic level
        "site/videos_back door.mp4/denied",
        "site/videos_back door.mp4/unknown",
    ]
    assert all(m[2] == 1 for m in got)  # QoS 1 end to end
    assert got[1][1]["identity"] == "person1" and got[1][1]["reason"] == "policy"
    assert all(r["state"] == "delivered" for r in store.outbox())


def start_broker(port: int) -> subprocess.Popen[str]:
    """The amqtt broker on ``port``, in its own process, once it listens."""
    proc = subprocess.Popen([sys.executable, "-c", BROKER % port], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()  # SIGKILL: a broker that dies, not one that says goodbye
    proc.wait(10)


def unsubscribe(sub: Any) -> None:
    sub.loop_stop()
    sub.disconnect()


class MqttOutbox:
    """An outbox with one MQTT target on a free port where no broker runs yet, and its worker."""

    def __init__(self, store: Store) -> None:
        self.store, self.port = store, free_port()
        self.target = f"mqtt 127.0.0.1:{self.port}"
        store.outbox_targets = (self.target,)
        self.session = store.start_session("cams", "local")
        self.publisher = MqttPublisher("127.0.0.1", self.port, "facegate", 3.0)
        self.worker = worker_for(store, {self.target: self.publisher}, retry_min_s=0.001)

    def delivered(self) -> bool:
        """One delivery pass; True once nothing is pending."""
        self.worker.deliver(self.store, self.target)
        return not self.store.outbox(state="pending")


@pytest.fixture
def mqtt_outbox(store):
    pytest.importorskip("paho.mqtt", reason="paho-mqtt is not installed")
    pytest.importorskip("amqtt", reason="amqtt (the test's MQTT broker) is not installed")
    box = MqttOutbox(store)
    yield box
    box.publisher.close()


def test_mqtt_broker_down_then_up_keeps_order(store, mqtt_outbox) -> None:
    box = mqtt_outbox
    ids = add_events(store, box.session, 2)
    assert box.worker.deliver(store, box.target)[0] == 0  # no broker: refused, the row waits
    head = store.outbox()[0]
    assert head["attempts"] == 1 and head["state"] == "pending" and head["last_error"]
    proc = start_broker(box.port)
    try:
        sub, got = subscribe(box.port, "facegate/#")
        ids += add_events(store, box.session, 2, start=2)
        assert wait_for(box.delivered)
        assert wait_for(lambda: len(got) == 4), got
        unsubscribe(sub)
    finally:
        stop(proc)
    assert [m[1]["event_id"] for m in got] == ids


def test_a_broker_restart_mid_stream_loses_nothing_and_keeps_order(store, mqtt_outbox) -> None:
    """The door controller's case: the broker is up and receiving, is killed (SIGKILL, not a clean
    shutdown), decisions go on being made, and a new broker comes up on the same port. Every event
    arrives exactly once, in the order it was decided."""
    box = mqtt_outbox
    proc = start_broker(box.port)
    try:
        sub, before = subscribe(box.port, "facegate/#")
        ids = add_events(store, box.session, 3)
        assert wait_for(box.delivered) and wait_for(lambda: len(before) == 3), before
        unsubscribe(sub)
        stop(proc)  # the broker dies; the door keeps deciding
        ids += add_events(store, box.session, 3, start=3)
        box.worker.deliver(store, box.target)
        pending = store.outbox(state="pending")
        assert len(pending) == 3 and pending[0]["attempts"] >= 1 and pending[0]["last_error"]
        proc = start_broker(box.port)  # back on the same port
        sub, after = subscribe(box.port, "facegate/#")
        assert wait_for(box.delivered) and wait_for(lambda: len(after) >= 3), after
        time.sleep(0.3)  # a duplicate would arrive now
        unsubscribe(sub)
    finally:
        stop(proc)
    assert [m[1]["event_id"] for m in before + after] == ids


# ---------------------------------------------------------------------- main.py run
@pytest.fixture(scope="module")
def scene(tmp_path_factory, celeb_train, celeb_val):
    from tests.conftest import make_door

    return make_door(tmp_path_factory.mktemp("integrations"), celeb_train, celeb_val)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--webhook", "ftp://x/y"], "needs http:// or https://"),
        (["--webhook", "http://doors.example.com/hook"], "plain http to another machine"),
        (["--webhook", "https://"], "no host"),
        (["--webhook", "https://doors.example.com/hook"], "needs a secret"),
        (["--webhook", "https://a.example/h", "--webhook-secret-file", "/nonexistent/s"], "cannot read"),
        (["--mqtt", "bad host!"], "not a host name"),
        (["--mqtt", "broker:99999"], "port must be 1-65535"),
        (["--mqtt", "broker", "--mqtt-topic", "a/#"], "without '+' or '#'"),
    ],
)
def test_bad_integration_options_are_one_line_errors(run_cli, tmp_path, args, message) -> None:
    code, out, err = run_cli("--db", tmp_path / "x.db", "run", "--quiet", *args)
    assert code != 0 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.db").exists()  # refused before anything opened


def test_run_delivers_its_decisions_and_the_next_run_delivers_what_one_left(
    scene, run_cli, tmp_path, broker
) -> None:
    """Run 1 decides while the webhook receiver is down: its deliveries stay pending in the store. Run 2
    (another run of the same site, a webhook receiver up and an MQTT broker too) delivers them first,
    then its own, each once and in order."""
    db, video, _ = scene
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    port = free_port()
    hook = ["--webhook", f"http://127.0.0.1:{port}/hook", "--webhook-secret-file", secret]
    code, out, err = run_cli("run", "--source", video, "--db", db, "--quiet", *hook)
    assert code == 0, err
    assert "down (" in err and "3 pending (sent on the next run)" in out, (out, err)
    s = Store(db)
    try:
        first = [e["id"] for e in s.events()]
        assert len(first) == 3 and [r["state"] for r in s.outbox()] == ["pending"] * 3
    finally:
        s.close()
    code, out, err = run_cli("--db", db, "outbox", "list")
    assert code == 0 and "3 pending" in out and "refused" in out.lower(), out

    rx = Receiver(port)  # the receiver is back
    sub, got = subscribe(broker, "facegate/#")
    try:
        code, out, err = run_cli(
            "run", "--source", video, "--db", db, "--quiet", *hook, "--mqtt", f"127.0.0.1:{broker}"
        )
        assert code == 0, err
        assert wait_for(lambda: len(got) == 3)
    finally:
        rx.close()
        sub.loop_stop()
        sub.disconnect()
    s = Store(db)
    try:
        events = s.events()
        outbox = s.outbox()
    finally:
        s.close()
    second = [e["id"] for e in events][3:]
    assert len(second) == 3
    assert rx.ids() == first + second and rx.bad_signatures == 0  # once each, in order, across runs
    assert [m[1]["event_id"] for m in got] == second  # MQTT was configured for run 2 only
    for topic_name, payload, qos in got:
        camera = payload["camera"].replace("/", "_")
        assert topic_name == f"facegate/{camera}/{payload['decision']}" and qos == 1
    by_id = {e["id"]: e for e in events}
    for a in rx.accepted:
        e, ev = by_id[a["event"]["event_id"]], a["event"]
        assert (ev["identity"], ev["decision"], ev["reason"], ev["time"]) == (
            e["identity"],
            e["decision"],
            e["reason"],
            e["timestamp"],
        )
    assert sorted((ev["event"]["identity"] or "", ev["event"]["decision"]) for ev in rx.accepted[3:]) == [
        ("", "unknown"),
        ("ben_afflek", "granted"),
        ("elton_john", "denied"),
    ]
    assert all(r["state"] == "delivered" for r in outbox) and len(outbox) == 9
    assert "integrations: webhook" in out and "3 delivered" in out


def test_the_integrations_section_reads_the_environment() -> None:
    from core.config import Config, ConfigError
    from core.integrations.config import IntegrationError

    cfg = Config.from_env(
        {
            "FACEGATE_INTEGRATIONS_WEBHOOK": "https://a.example/x, http://127.0.0.1:9/y",
            "FACEGATE_INTEGRATIONS_MQTT": "broker.local",
            "FACEGATE_INTEGRATIONS_MQTT_TLS": "yes",
            "FACEGATE_INTEGRATIONS_RETRY_MAX_S": "10",
        }
    ).integrations
    assert cfg.webhooks == ("https://a.example/x", "http://127.0.0.1:9/y") and cfg.enabled
    assert cfg.mqtt_tls and cfg.retry_max_s == 10 and cfg.mqtt_topic == "facegate"
    assert not Config().integrations.enabled  # nothing is delivered unless configured
    with pytest.raises(IntegrationError, match="retry_max_s"):
        Config.from_env({"FACEGATE_INTEGRATIONS_RETRY_MAX_S": "0.5"})
    with pytest.raises(ConfigError, match="not a number"):
        Config.from_env({"FACEGATE_INTEGRATIONS_TIMEOUT_S": "soon"})
