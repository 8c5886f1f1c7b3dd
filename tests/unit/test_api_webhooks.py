"""Webhooks: which records are which events, and delivery to a real HTTP receiver on
loopback with retries and a timeout."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dualbeat.agent.notify import Delivery, ReplicationWatch, events_of
from dualbeat.agent.status import AgentStatus
from dualbeat.config import Webhook
from dualbeat.core.roles import Role
from tests.unit.test_api import STATUS


class Receiver:
    """A loopback HTTP server that records POSTed JSON; ``script`` says how to answer
    each request in turn (a status code, or a delay in seconds before a 200)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.script: list[int | float] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                step = receiver.script.pop(0) if receiver.script else 200
                if isinstance(step, float):
                    time.sleep(step)
                    step = 200
                receiver.bodies.append(body)
                self.send_response(int(step))
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.bodies


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def payload(event: str) -> dict[str, Any]:
    return {"event": event, "node": "db2", "record": {"code": "PROMOTED"}}


def test_records_map_to_events() -> None:
    promoted = {"code": "PROMOTED", "role": "active", "evidence": {"finding": "peer_dead"}}
    assert events_of(promoted) == ["failover"]
    planned = {**promoted, "evidence": {"finding": "peer_yielded", "planned": True}}
    assert events_of(planned) == ["switchover"]
    assert events_of({**promoted, "evidence": {"finding": "elected"}}) == []
    assert events_of({"code": "PEER_NEWER_EPOCH", "role": "fenced"}) == ["fence"]
    assert events_of({"code": "HOLDS_ERRANT", "role": "fenced"}) == ["fence", "rejoin_needed"]
    assert events_of({"code": "TWO_ACTIVES_LOSE", "role": "fenced"}) == [
        "fence",
        "split_brain_risk",
    ]
    assert events_of({"code": "TWO_ACTIVES_WIN", "role": "active"}) == ["split_brain_risk"]
    assert events_of({"code": "SEMISYNC_FELL_BACK", "role": "active"}) == ["semisync_fell_back"]
    assert events_of({"code": "PEER_ACTIVE", "role": "standby"}) == []


def test_replication_broken_is_a_standby_stopped_for_the_grace_period() -> None:
    standby = AgentStatus.from_json({**STATUS, "role": "standby"})
    stopped = replace(standby, mysql=replace(standby.mysql, replicating=False))
    watch = ReplicationWatch(grace=1.0)
    assert not watch.update(stopped, 0.0)  # never seen replicating: nothing broke
    assert not watch.update(standby, 1.0)
    assert not watch.update(stopped, 2.0)
    assert not watch.update(standby, 2.5)  # a brief restart of the I/O thread: no report
    assert not watch.update(stopped, 3.0)
    assert not watch.update(stopped, 3.9)
    assert watch.update(stopped, 4.0)  # stopped for the whole grace period: reported
    assert not watch.update(stopped, 9.0)  # once
    assert not watch.update(standby, 10.0)
    assert not watch.update(replace(stopped, role=Role.ACTIVE), 10.5)  # promoted: stops on purpose
    assert not watch.update(stopped, 20.0)


def test_delivery_retries_until_the_receiver_accepts(receiver: Receiver) -> None:
    receiver.script = [500, 503]
    d = Delivery(Webhook(url=receiver.url, retries=3, timeout=2.0))
    d.thread.start()
    d.put(payload("failover"))
    bodies = receiver.wait(3)
    d.close(5.0)
    assert [b["event"] for b in bodies] == ["failover"] * 3  # two refusals, then accepted
    assert receiver.script == []


def test_a_slow_receiver_times_out_and_is_retried(receiver: Receiver) -> None:
    receiver.script = [1.5]  # first answer comes after the 0.3 s timeout
    d = Delivery(Webhook(url=receiver.url, retries=1, timeout=0.3))
    d.thread.start()
    started = time.monotonic()
    d.put(payload("fence"))
    bodies = receiver.wait(2)
    d.close(5.0)
    assert len(bodies) == 2
    assert time.monotonic() - started < 5.0


def test_retries_are_bounded(receiver: Receiver) -> None:
    receiver.script = [500] * 10
    d = Delivery(Webhook(url=receiver.url, retries=2, timeout=1.0))
    d.thread.start()
    d.put(payload("failover"))
    d.put(payload("fence"))
    bodies = receiver.wait(6)
    d.close(5.0)
    assert [b["event"] for b in bodies] == ["failover"] * 3 + ["fence"] * 3
