"""A webhook receiver on the client host gets the events: replication broken on the
standby, then the failover from the new active."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from dualbeat.mysql import control
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox import agents, faults
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.labtools import inside, wait_for

pytestmark = pytest.mark.integration
PORT = 9911


class Receiver(HTTPServer):
    """Records every POSTed JSON body; its socket is bound inside the client namespace."""

    def __init__(self, sock: socket.socket) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(sock.getsockname(), Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_activate()


@pytest.fixture
def receiver(pair: LabInfo) -> Iterator[Receiver]:
    with inside(pair.client_namespace):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((pair.lab.client.lan_address, PORT))
    server = Receiver(sock)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def steadily_replicating(info: LabInfo, node: str, seconds: float) -> Callable[[], bool]:
    """A condition: ``node`` has been a replicating standby for ``seconds`` (so the agent's
    once-per-interval watch has seen it replicate before we break it)."""
    since: list[float] = []

    def check() -> bool:
        s = agents.status(info, node)
        if not (s and s["role"] == "standby" and s["mysql"]["replicating"]):
            since.clear()
            return False
        since[:] = since or [time.monotonic()]
        return time.monotonic() - since[0] >= seconds

    return check


def test_webhooks_for_broken_replication_and_the_failover(
    pair: LabInfo, receiver: Receiver
) -> None:
    info = pair
    url = f"http://{info.lab.client.lan_address}:{PORT}/dualbeat"
    with info.config_path.open("a") as config:
        config.write(
            f'\n[[webhooks]]\nurl = "{url}"\nevents = ["failover", "replication_broken"]\n'
        )
    faults.kill_agent(info.lab, "db2")  # the standby's agent, restarted to read the webhook
    agents.start(info, "db2", lambda _: None)
    agents.wait_settled(info, lambda _: None)

    wait_for(steadily_replicating(info, "db2", 1.0), 15, "db2 replicating steadily")
    with Server(info.node("db2").root_endpoint()) as db2:
        # The standby's SQL thread stops (an operator's slip, a failed statement): the
        # agent restarts only a channel stopped whole (skip_slave_start), never a stopped
        # SQL thread, so this stays broken until someone looks.
        db2.execute(Statement("STOP SLAVE SQL_THREAD"))
        broken = wait_for(lambda: [b for b in receiver.bodies
                                   if b["event"] == "replication_broken"], 10,
                          "the replication_broken webhook")  # fmt: skip
        assert broken[0]["node"] == "db2" and broken[0]["record"]["role"] == "standby"
        control.start_replication(db2)
    wait_for(steadily_replicating(info, "db2", 0.0), 10, "db2 replicating again")

    faults.kill_mysqld(info.lab, "db1")
    bodies = wait_for(lambda: [b for b in receiver.bodies if b["event"] == "failover"], 30,
                      "the failover webhook")  # fmt: skip
    event = bodies[0]
    assert (event["node"], event["cluster"]) == ("db2", "sandbox")
    assert event["record"]["code"] == "PROMOTED"
    # db1's agent saw its MySQL fail and yielded (unplanned): a failover, not a switchover.
    assert event["record"]["evidence"]["finding"] == "peer_yielded"
    assert event["record"]["evidence"]["planned"] is False
    assert event["record"]["role"] == "active"
    assert len(bodies) == 1
    assert len([b for b in receiver.bodies if b["event"] == "replication_broken"]) == 1
