"""A gate that only remembers: for tests of the actor and the agent without root."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dualbeat.errors import GateError
from dualbeat.gate.base import Shut


class FakeGate:
    """Behaves as ``NftGate``: ``shut`` tears down ``connections`` (as set by the test),
    ``open`` lets clients in again; ``fail`` makes the next call raise ``GateError``."""

    def __init__(self) -> None:
        self.shut_now = False
        self.arp_silent = False
        self.connections = 0
        self.calls: list[str] = []
        self.fail: str | None = None

    def shut(self) -> Shut:
        self._call("shut")
        self.shut_now = self.arp_silent = True
        destroyed, self.connections = self.connections, 0
        return Shut(destroyed)

    def open(self) -> None:
        self._call("open")
        self.shut_now = False

    @contextmanager
    def shut_briefly(self) -> Iterator[Shut | None]:
        if self.shut_now:
            yield None
            return
        self._call("shut briefly")
        self.shut_now = True
        destroyed, self.connections = self.connections, 0
        shuts = self.calls.count("shut")
        try:
            yield Shut(destroyed)
        finally:
            if self.calls.count("shut") == shuts:
                self.open()

    def is_shut(self) -> bool:
        return self.shut_now

    def is_arp_silent(self) -> bool:
        return self.arp_silent

    def answer_arp(self) -> None:
        self._call("answer_arp")
        self.arp_silent = False

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail is not None:
            why, self.fail = self.fail, None
            raise GateError(f"cannot {name} the gate: {why}")
