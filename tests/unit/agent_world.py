"""What the actor and observer tests share: a config, and the agent's servers as fakes."""

from __future__ import annotations

import os
import queue
from pathlib import Path

from dualbeat.config import Config, loads
from dualbeat.core.observations import Observation
from dualbeat.mysql.connection import Endpoint
from dualbeat.mysql.fake import FakeServer, FakeSession

WAIT = 10.0  # seconds: a bound against a hung worker thread, never a timing assertion


def config(tmp_path: Path, extra: str = "") -> Config:
    key = tmp_path / "key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    return loads(f"""
cluster = "c1"
[[nodes]]
name = "db1"
address = "10.1.0.1"
[[nodes]]
name = "db2"
address = "10.1.0.2"
[mysql]
user = "dualbeat"
password = "p"
[replication]
user = "repl"
password = "p"
[heartbeat]
key_file = "{key}"
[state]
dir = "{tmp_path / "state"}"
{extra}
""")


def endpoint(name: str) -> Endpoint:
    return Endpoint(name, f"10.1.0.{name[-1]}", 3306, "dualbeat", "p")


class Servers:
    """Both servers of the pair as fakes, and a ``Connect`` that opens sessions on them
    by the endpoint's node name (the agent's local server and its peer)."""

    def __init__(self) -> None:
        self.db1 = FakeServer(endpoint("db1"), server_id=1, gtid_domain_id=1)
        self.db2 = FakeServer(endpoint("db2"), server_id=2, gtid_domain_id=2)

    def connect(self, ep: Endpoint, *, idle_check: float | None = None) -> FakeSession:
        return {"db1": self.db1, "db2": self.db2}[ep.name].connect(ep, idle_check=idle_check)


class Posts:
    """The agent's ``post`` callback as a queue a test reads in order."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Observation] = queue.Queue()

    def __call__(self, observation: Observation) -> None:
        self.queue.put(observation)

    def take(self, count: int) -> list[Observation]:
        return [self.queue.get(timeout=WAIT) for _ in range(count)]
