"""Authenticated UDP heartbeats between the two agents.

Rule 1: nothing from the network is trusted before its HMAC verifies. The codec checks the
        framing and the HMAC-SHA256 trailer *before* the JSON parser sees a byte, and the
        cluster, the sender's name and the replay window only after.
Rule 2: a bad datagram is dropped and counted by reason (``DropReason``), never raised out of
        the receive path: whatever arrives on the wire, the agent keeps beating.
Rule 3: the codec (``codec``, ``message``) and the replay window (``replay``) are pure: no
        sockets, no clock. Time is passed in. Sockets live only in ``link``, with a fake
        (``FakeLinks``) beside the real seam (``Links``) for the agent's tests.

One datagram on the wire::

    b"DBHB" | version (1 byte) | compact JSON, sorted keys, UTF-8 | HMAC-SHA256 (32 bytes)

The MAC covers everything before it. The same encoded Beat goes out on every link, so the
peer sees it once per link: the first copy is a beat, the others are ``DUPLICATE`` drops
that still prove their link alive.
"""

from __future__ import annotations

from dualbeat.heartbeat.codec import MAX_DATAGRAM, VERSION, Dropped, DropReason, decode, encode
from dualbeat.heartbeat.link import BeatLinks, FakeLinks, Links, LinkStats, read_key
from dualbeat.heartbeat.message import Beat
from dualbeat.heartbeat.replay import ReplayWindow

__all__ = [
    "MAX_DATAGRAM",
    "VERSION",
    "Beat",
    "BeatLinks",
    "DropReason",
    "Dropped",
    "FakeLinks",
    "LinkStats",
    "Links",
    "ReplayWindow",
    "decode",
    "encode",
    "read_key",
]
