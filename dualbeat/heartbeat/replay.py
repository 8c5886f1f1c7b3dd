"""The replay window: which (boot_id, seq) pairs from the peer are new.

The same Beat arrives once per link, links reorder against each other, and an attacker
on a link can record authenticated datagrams and play them back later. The window tells
these apart, as IPsec's anti-replay window does, over the pair (boot_id, seq):

* an older boot than the newest seen is a ``REPLAY`` (a restarted peer never goes back);
* a newer boot resets the window and is accepted (the peer restarted, seq starts again);
* in the same boot, a seq above the highest is accepted; one within ``size`` below the
  highest and not seen yet is accepted too (it was overtaken on another link); one seen
  already is a ``DUPLICATE`` (normal: its copy on another link won); one older than the
  window is a ``REPLAY``.

The window is *mutable*: ``check`` records what it accepts, so one instance belongs to the
receive path of one peer and is shared by all links to that peer (that is what turns the
second copy of a beat into a duplicate). It is still pure: no I/O, no clock.

Known limit: a freshly started window has seen nothing, so the first authenticated beat is
accepted whatever its age. Freshness across our own restart needs the epoch and lease
logic, not this window.
"""

from __future__ import annotations

from dualbeat.heartbeat.codec import DropReason

#: Default width of the window, in sequence numbers below the highest seen.
WINDOW = 64


class ReplayWindow:
    """Anti-replay state for one peer: the newest boot, its highest seq and a seen bitmap."""

    def __init__(self, size: int = WINDOW) -> None:
        if size < 1:
            raise ValueError(f"a replay window needs a size of at least 1, got {size}")
        self._size = size
        self._full = (1 << size) - 1
        self._boot: int | None = None
        self._highest = 0
        # Bit i set: seq ``highest - i`` has been accepted (bit 0 is ``highest`` itself).
        self._seen = 0

    @property
    def boot_id(self) -> int | None:
        """The newest boot accepted, or None before the first beat."""
        return self._boot

    @property
    def highest(self) -> int:
        """The highest seq accepted in the newest boot (0 before the first beat)."""
        return self._highest

    def check(self, boot_id: int, seq: int) -> DropReason | None:
        """None if (boot_id, seq) is new, which is then recorded; else why it is dropped."""
        if self._boot is None or boot_id > self._boot:
            self._boot, self._highest, self._seen = boot_id, seq, 1
            return None
        if boot_id < self._boot:
            return DropReason.REPLAY
        if seq > self._highest:
            shift = seq - self._highest
            self._seen = ((self._seen << shift) | 1) & self._full if shift < self._size else 1
            self._highest = seq
            return None
        offset = self._highest - seq
        if offset >= self._size:
            return DropReason.REPLAY
        bit = 1 << offset
        if self._seen & bit:
            return DropReason.DUPLICATE
        self._seen |= bit
        return None
