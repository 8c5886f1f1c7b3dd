"""What the agent needs of a client gate; ``NftGate`` and ``FakeGate`` both provide it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Shut:
    """The outcome of shutting the gate: how many client connections were torn down."""

    destroyed: int


class ClientGate(Protocol):
    def shut(self) -> Shut:
        """Reject new client connections and destroy the established ones (idempotent)."""
        ...

    def open(self) -> None:
        """Let clients connect again (idempotent)."""
        ...

    def shut_briefly(self) -> AbstractContextManager[Shut | None]:
        """Shut for the span of a step of a node that keeps the VIP (ARP still answered),
        then open, unless shut already before or by another shut during the step."""
        ...

    def is_shut(self) -> bool: ...

    def is_arp_silent(self) -> bool:
        """Whether the last shut also stopped this host answering ARP for the VIP (and
        no ``answer_arp`` since): known without asking the kernel."""
        ...

    def answer_arp(self) -> None:
        """Answer ARP for the VIP again (before a claim)."""
        ...
