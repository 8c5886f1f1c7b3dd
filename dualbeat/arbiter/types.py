"""What the agent needs from an arbiter: a leased key naming the active node.

The types are engine-neutral so the agent and the simulator can use a fake arbiter; the
only real one is etcd (``dualbeat.arbiter.etcd``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dualbeat.errors import ArbiterUnavailable

__all__ = ["Arbiter", "ArbiterUnavailable", "Grant", "View"]


@dataclass(frozen=True)
class Grant:
    """A lease we hold on the active key.

    ``valid_until`` is the agent's clock (``dualbeat.agent.clock``: boot time, suspend
    included) at the moment the request that started or renewed the lease was SENT,
    plus ``ttl``: the server started its TTL after that moment,
    so the lease cannot end before ``valid_until`` (conservative for the holder).
    """

    holder: str
    epoch: int
    ttl: float
    valid_until: float


@dataclass(frozen=True)
class View:
    """Who the arbiter says holds the key now (``None`` when nobody does)."""

    holder: str | None
    epoch: int | None
    revision: int


class Arbiter(Protocol):
    """Blocking calls, each bounded by the configured timeout; used by one thread."""

    def acquire(self, node: str, epoch: int) -> Grant | None:
        """Take the key for ``node`` (or re-attach if it already names ``node``).

        ``None`` when another node holds it.
        """
        ...

    def renew(self) -> Grant | None:
        """Extend the lease from the last acquire; ``None`` when the lease or key is gone."""
        ...

    def release(self) -> None:
        """Give the key up now (best effort, never raises, idempotent)."""
        ...

    def view(self) -> View:
        """Read the key."""
        ...

    def close(self) -> None:
        """Drop connections; does not release the key (its lease runs out by itself)."""
        ...
