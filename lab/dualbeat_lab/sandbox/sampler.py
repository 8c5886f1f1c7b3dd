"""Who is a writer, sampled: for the split-brain tests and the partition benchmark.

A writer is a server that holds the VIP *and* is writable (read_only off): where a client
connecting through the VIP would write. Each sample reads both from every node of the lab
(the VIP with ``ip -n``, read_only over the server's socket as root, so partitions of the
lab's networks do not hide anything), and counts the samples that saw two writers.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field

from dualbeat.errors import MysqlError
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox.drill import VIP_HOST
from dualbeat_lab.sandbox.lab import LabInfo


@dataclass(frozen=True)
class Sample:
    at: float  # wall clock
    writers: tuple[str, ...]


def holds_vip(node: str) -> bool:
    """The lab's VIP is on one of the node's interfaces."""
    out = subprocess.run(
        ["ip", "-n", node, "-4", "-o", "addr", "show"],
        capture_output=True,
        text=True,
        check=False,
        timeout=5,
    ).stdout
    return f" {VIP_HOST}/" in out


def writable(info: LabInfo, node: str) -> bool | None:
    """read_only off on the node's server (None when it does not answer)."""
    try:
        with Server(info.node(node).root_endpoint()) as server:
            row = server.query(Statement("SELECT @@GLOBAL.read_only AS ro"))
    except MysqlError:
        return None
    return not int(row[0]["ro"])


def writers(info: LabInfo) -> tuple[str, ...]:
    return tuple(n.name for n in info.nodes if holds_vip(n.name) and writable(info, n.name) is True)


@dataclass
class Sampler:
    """Samples ``writers`` every ``every`` seconds in a thread, from ``start`` to ``stop``."""

    info: LabInfo
    every: float = 0.1
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="writer-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        return self.samples

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(Sample(time.time(), writers(self.info)))
            self._stop.wait(self.every)

    def two_writers(self) -> int:
        """How many samples saw more than one writer."""
        return sum(1 for s in self.samples if len(s.writers) > 1)

    def first_writer_after(self, at: float, node: str) -> float | None:
        """When ``node`` was first seen as the only writer at or after ``at``."""
        return next((s.at for s in self.samples if s.at >= at and s.writers == (node,)), None)
