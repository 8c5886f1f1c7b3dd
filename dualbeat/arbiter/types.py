"""What the agent needs from an arbiter: a leased key naming the active node.

The types are engine-neutral so the agent and the simulator can use a fake arbiter; the
only real one is etcd (``dualbeat.arbiter.etcd``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dualbeat.errors import ArbiterUnavailable

__all__ = ["Arbiter", "ArbiterUnavailable", "Floor", "Grant", "View"]


@dataclass(frozen=True)
class Floor:
    """The highest epoch the arbiter ever granted, and to whom; kept beside the key and
    never leased, so a release or an expiry deletes the key but not the epoch.

    Why: a node that promotes advertises its old epoch until its promotion completes, so
    a term cut off at once may never reach the peer in a beat. Without the floor, the
    peer would later find the key free and take it at that same epoch: two terms, one
    epoch, and two actives that tie. With it, the refusal names the epoch and the peer
    asks again one above it.
    """

    node: str
    epoch: int

    def admits(self, node: str, epoch: int) -> bool:
        """A new term above the floor, or the floor's own node re-taking its term (an
        active whose lease lapsed); never another node at or below it."""
        return epoch > self.epoch or (epoch == self.epoch and node == self.node)


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
    """Who the arbiter says holds the key now (``None`` when nobody does), and the
    highest epoch it knows: the holder's, or the floor's when that is higher or nobody
    holds the key (``None`` when it never granted one)."""

    holder: str | None
    epoch: int | None
    revision: int


class Arbiter(Protocol):
    """Blocking calls, each bounded by the configured timeout; used by one thread."""

    def acquire(self, node: str, epoch: int) -> Grant | None:
        """Take the key for ``node`` (or re-attach if it already names ``node``), and
        raise the floor to ``epoch`` with it.

        ``None`` when another node holds it or the floor does not admit ``epoch``.
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
