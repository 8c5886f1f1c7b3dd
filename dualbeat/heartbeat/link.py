"""The socket seam: one UDP socket per heartbeat link, and a fake beside it.

``Links`` binds, on every configured link (``Config.heartbeat_links()``), this node's
address on that link at ``heartbeat.port``, and sends to the peer's address on it.
``send`` encodes a Beat once and sends the same bytes on every link; a link that is down
(network unreachable, no route) costs a ``send_errors`` count on that link, never an
exception, so one dead cable never stops the beats on the other.

Why plain non-blocking sockets under ``loop.add_reader`` rather than asyncio datagram
transports: a transport queues what the kernel refuses and sends it later, but a late
heartbeat is worse than a lost one; here a refused send is counted and forgotten.

The receive path, shared by ``Links`` and ``FakeLinks`` so the fake exercises the real
logic: decode (framing, HMAC, payload, cluster) → not from ourselves (``OWN``) → from our
configured peer (``UNKNOWN_NODE``) → replay window → ``on_beat``. An authenticated datagram
from the peer marks its link alive (``last_received``) even when it is a ``DUPLICATE``,
because the first copy of each beat may arrive on another link; a ``REPLAY`` does not, or
someone replaying recorded datagrams could keep a dead link looking alive. Every other
outcome is counted in ``dropped`` and reported through ``on_drop``.

Each beat arrives once per link, byte for byte the same datagram: the copy that matches the
last one decoded reuses its Beat instead of checking the HMAC and parsing the JSON again
(``decode`` is a pure function of the bytes, the key and the cluster, which never change),
then goes through the same checks and the replay window as any other. On an idle pair with
two links that was half of the receive path's work.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from dualbeat.config import Config, short_key
from dualbeat.errors import ConfigError
from dualbeat.heartbeat.codec import MAX_DATAGRAM, Dropped, DropReason, decode, encode
from dualbeat.heartbeat.message import Beat
from dualbeat.heartbeat.replay import ReplayWindow

OnBeat = Callable[[str, Beat, float], None]
OnDrop = Callable[[str, DropReason], None]

#: Datagrams read per readiness callback, so one flooded link cannot starve the loop.
_BATCH = 64


@dataclass
class LinkStats:
    """Counters of one link.

    ``received`` counts every datagram read from its socket, whatever became of it, and
    ``dropped`` why some went nowhere; ``last_received`` is the (injected, monotonic) time
    of the last authenticated datagram from the peer on this link: the link's liveness.
    ``receive_errors`` counts socket errors on reading (no datagram was read).
    """

    sent: int = 0
    send_errors: int = 0
    received: int = 0
    last_received: float | None = None
    dropped: Counter[DropReason] = field(default_factory=Counter)
    receive_errors: int = 0

    @property
    def delivered(self) -> int:
        """Datagrams on this link that became beats for the agent."""
        return self.received - sum(self.dropped.values())

    def copy(self) -> LinkStats:
        return dataclasses.replace(self, dropped=Counter(self.dropped))


class BeatLinks(Protocol):
    """What the agent needs from the heartbeat transport: ``Links`` or ``FakeLinks``."""

    async def start(self) -> None: ...
    def send(self, beat: Beat) -> None: ...
    def close(self) -> None: ...
    def stats(self) -> dict[str, LinkStats]: ...


def read_key(config: Config) -> bytes:
    """The shared heartbeat key: the raw bytes of ``heartbeat.key_file``."""
    path = config.heartbeat.key_file
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{config.source}: heartbeat.key_file: cannot read {path}: {exc.strerror}"
        ) from None
    if why := short_key(len(key)):  # the rule ``load`` applies to the file's size
        raise ConfigError(f"{config.source}: heartbeat.key_file: {path} {why}")
    return key


class _Endpoint:
    """Configuration and receive logic common to the real links and the fake."""

    def __init__(
        self,
        config: Config,
        node: str,
        key: bytes,
        on_beat: OnBeat,
        on_drop: OnDrop,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._node = config.node(node).name
        self._peer = config.peer_of(node).name
        self._key = key
        self._on_beat = on_beat
        self._on_drop = on_drop
        self._clock = clock
        self._window = ReplayWindow()
        self._links = config.heartbeat_links()
        self._stats = {link.name: LinkStats() for link in self._links}
        self._decoded: tuple[bytes, Beat] | None = None  # the last datagram that decoded

    def stats(self) -> dict[str, LinkStats]:
        """A snapshot of the per-link counters, keyed by link name."""
        return {name: s.copy() for name, s in self._stats.items()}

    def _encode(self, beat: Beat) -> bytes:
        if beat.node != self._node or beat.cluster != self._config.cluster:
            raise ValueError(
                f"refusing to send a beat of {beat.cluster}/{beat.node} as "
                f"{self._config.cluster}/{self._node}"
            )
        return encode(beat, self._key)

    def _receive(self, link: str, datagram: bytes) -> None:
        """Handle one datagram that arrived on ``link``; never raises for its content."""
        stats = self._stats[link]
        stats.received += 1
        now = self._clock()
        try:
            if self._decoded is not None and self._decoded[0] == datagram:
                beat = self._decoded[1]
            else:
                beat = decode(datagram, self._key, cluster=self._config.cluster)
                self._decoded = (datagram, beat)
            if beat.node == self._node:
                raise Dropped(DropReason.OWN)
            if beat.node != self._peer:
                raise Dropped(DropReason.UNKNOWN_NODE, beat.node)
        except Dropped as drop:
            self._drop(stats, link, drop.reason)
            return
        verdict = self._window.check(beat.boot_id, beat.seq)
        if verdict is not DropReason.REPLAY:
            stats.last_received = now
        if verdict is not None:
            self._drop(stats, link, verdict)
            return
        self._on_beat(link, beat, now)

    def _drop(self, stats: LinkStats, link: str, reason: DropReason) -> None:
        stats.dropped[reason] += 1
        self._on_drop(link, reason)


@dataclass
class _Route:
    link: str
    sock: socket.socket
    peer: tuple[str, int]


class Links(_Endpoint):
    """The real heartbeat transport: one bound UDP socket per link.

    ``start`` binds every link or none (a bind failure closes what it opened and raises
    ``ConfigError``: the link address is not on this host, or the port is taken, most
    likely by another agent). Call it from the running event loop; ``close`` is idempotent.
    """

    def __init__(
        self,
        config: Config,
        node: str,
        key: bytes,
        on_beat: OnBeat,
        on_drop: OnDrop,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, node, key, on_beat, on_drop, clock)
        self._routes: list[_Route] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        if self._loop is not None:
            raise RuntimeError("Links.start() called twice")
        self._loop = asyncio.get_running_loop()
        port = self._config.heartbeat.port
        for link in self._links:
            local, peer = link.addresses[self._node], link.addresses[self._peer]
            where = f"{self._config.source}: heartbeat link {link.name!r}"
            if local.version != peer.version:
                self.close()
                raise ConfigError(f"{where}: {local} and {peer} are not the same IP version")
            family = socket.AF_INET6 if local.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.bind((str(local), port))
            except OSError as exc:
                sock.close()
                self.close()
                raise ConfigError(
                    f"{where}: cannot bind {local} port {port}: {exc.strerror} (is the "
                    f"address on this host, and is no other agent running?)"
                ) from None
            self._routes.append(_Route(link.name, sock, (str(peer), port)))
            self._loop.add_reader(sock.fileno(), self._readable, link.name, sock)

    def send(self, beat: Beat) -> None:
        """Send ``beat`` on every link; per-link failures are counted, never raised."""
        if self._loop is None:
            raise RuntimeError("Links.send() before start()")
        datagram = self._encode(beat)
        for route in self._routes:
            stats = self._stats[route.link]
            try:
                route.sock.sendto(datagram, route.peer)
            except OSError:  # unreachable, no route, buffer full: the link is down for now
                stats.send_errors += 1
            else:
                stats.sent += 1

    def close(self) -> None:
        """Stop reading and close every socket. Sending after ``close`` does nothing."""
        for route in self._routes:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(route.sock.fileno())
            route.sock.close()
        self._routes = []

    def _readable(self, link: str, sock: socket.socket) -> None:
        for _ in range(_BATCH):
            try:
                # One byte more than the limit, so an oversized datagram is seen as such.
                datagram = sock.recv(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. a queued ICMP error: count it and wait for readiness
                self._stats[link].receive_errors += 1
                return
            self._receive(link, datagram)


class FakeLinks(_Endpoint):
    """The heartbeat transport without sockets, for the agent's tests.

    ``send`` records the beat in ``sent`` and, for every link not in ``down``, the datagram
    in ``wire`` as (link, bytes), which a simulation can ``deliver`` to the peer's fake;
    ``deliver`` runs the real receive path on a datagram or on a Beat (encoded with our
    key, as if the peer had sent it).
    """

    def __init__(
        self,
        config: Config,
        node: str,
        key: bytes,
        on_beat: OnBeat,
        on_drop: OnDrop,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, node, key, on_beat, on_drop, clock)
        self.sent: list[Beat] = []
        self.wire: list[tuple[str, bytes]] = []
        self.down: set[str] = set()
        self.started = False
        self.closed = False

    async def start(self) -> None:
        self.started = True

    def send(self, beat: Beat) -> None:
        datagram = self._encode(beat)
        self.sent.append(beat)
        for link in self._links:
            if link.name in self.down:
                self._stats[link.name].send_errors += 1
            else:
                self._stats[link.name].sent += 1
                self.wire.append((link.name, datagram))

    def close(self) -> None:
        self.closed = True

    def deliver(self, link: str, datagram: bytes | Beat) -> None:
        """Receive ``datagram`` on ``link`` as if it came from the network."""
        if link not in self._stats:
            raise ValueError(f"no heartbeat link named {link!r} (links: {sorted(self._stats)})")
        if isinstance(datagram, Beat):
            datagram = encode(datagram, self._key)
        self._receive(link, datagram)
