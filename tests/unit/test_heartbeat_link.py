"""The socket seam on loopback: two agents' Links over two links, and the fake beside it.

Node db1 owns 127.0.0.1 (link a) and 127.0.0.3 (link b); db2 owns 127.0.0.2 and 127.0.0.4.
Waits are on conditions with deadlines (an Event set by every callback), never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import os
import socket
from collections import Counter
from collections.abc import Callable, Coroutine
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from dualbeat.config import Config, Link, loads
from dualbeat.core.roles import Health, Role
from dualbeat.errors import ConfigError
from dualbeat.heartbeat import (
    MAX_DATAGRAM,
    Beat,
    BeatLinks,
    DropReason,
    FakeLinks,
    Links,
    LinkStats,
    encode,
    read_key,
)

KEY = os.urandom(32)
TWO_LINKS = {"a": ("127.0.0.1", "127.0.0.2"), "b": ("127.0.0.3", "127.0.0.4")}
DEADLINE = 5.0


def free_port(addresses: list[str]) -> int:
    """A UDP port free on all ``addresses`` right now."""
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind((addresses[0], 0))
        port: int = probe.getsockname()[1]
        others = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in addresses[1:]]
        try:
            for sock, address in zip(others, addresses[1:], strict=True):
                sock.bind((address, port))
        except OSError:
            continue
        else:
            return port
        finally:
            for sock in [probe, *others]:
                sock.close()
    raise AssertionError("no free UDP port")


def make_config(
    tmp_path: Path,
    links: dict[str, tuple[str, str]] | None = None,
    nodes: tuple[str, str] = ("127.0.0.1", "127.0.0.2"),
    key: bytes = KEY,
) -> Config:
    key_file = tmp_path / "hb.key"
    key_file.write_bytes(key)
    key_file.chmod(0o600)
    used = [a for pair in (links or {"main": nodes}).values() for a in pair]
    text = f"""
cluster = "orders"
[[nodes]]
name = "db1"
address = "{nodes[0]}"
[[nodes]]
name = "db2"
address = "{nodes[1]}"
[mysql]
user = "dualbeat"
password = "pw"
[replication]
user = "repl"
password = "pw"
[heartbeat]
key_file = "{key_file}"
port = {free_port([a for a in used if a.startswith("127.")])}
"""
    for name, (one, two) in (links or {}).items():
        text += f"""
[[heartbeat.links]]
name = "{name}"
addresses = {{ db1 = "{one}", db2 = "{two}" }}
"""
    return loads(text)


def beat(node: str = "db1", seq: int = 1, **changes: Any) -> Beat:
    base = Beat(
        cluster="orders",
        node=node,
        boot_id=1000,
        seq=seq,
        sent_at=1.5,
        epoch=1,
        role=Role.ACTIVE,
        mysql=Health.HEALTHY,
        executed="",
        received="",
        vip_held=True,
        writable=True,
        yielding=False,
        maintenance=False,
    )
    return dataclasses.replace(base, **changes)


class Recorder:
    """Callbacks that remember what they saw and wake whoever waits on a condition."""

    def __init__(self) -> None:
        self.beats: list[tuple[str, Beat, float]] = []
        self.drops: list[tuple[str, DropReason]] = []
        self._changed = asyncio.Event()

    def on_beat(self, link: str, beat: Beat, now: float) -> None:
        self.beats.append((link, beat, now))
        self._changed.set()

    def on_drop(self, link: str, reason: DropReason) -> None:
        self.drops.append((link, reason))
        self._changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        async def wait() -> None:
            while not condition():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), DEADLINE)


class Ticks:
    """A clock that moves only when told: ``now`` values are then exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def links_for(config: Config, node: str, rec: Recorder, **kw: Any) -> Links:
    return Links(config, node, KEY, rec.on_beat, rec.on_drop, **kw)


def drops(stats: LinkStats) -> dict[DropReason, int]:
    return dict(stats.dropped)


# ---------------------------------------------------------------- real sockets


def test_beats_on_both_links_duplicates_counted(tmp_path: Path) -> None:
    config = make_config(tmp_path, TWO_LINKS)

    async def main() -> None:
        r1, r2, clock = Recorder(), Recorder(), Ticks()
        one, two = links_for(config, "db1", r1), links_for(config, "db2", r2, clock=clock)
        await one.start()
        await two.start()
        try:

            def copies(n: int) -> Callable[[], bool]:
                return lambda: len(r2.beats) + len(r2.drops) == n

            for seq in (1, 2, 3):
                one.send(beat(seq=seq))
                await r2.until(copies(2 * seq))
            assert [b.seq for _, b, _ in r2.beats] == [1, 2, 3]
            assert {now for _, _, now in r2.beats} == {100.0}
            assert all(reason is DropReason.DUPLICATE for _, reason in r2.drops)
            stats = two.stats()
            assert set(stats) == {"a", "b"}
            for s in stats.values():
                assert (s.received, s.last_received, s.sent) == (3, 100.0, 0)
            assert sum(s.delivered for s in stats.values()) == 3
            assert sum(s.dropped[DropReason.DUPLICATE] for s in stats.values()) == 3
            assert {(s.sent, s.send_errors) for s in one.stats().values()} == {(3, 0)}

            two.send(beat("db2", seq=1, role=Role.STANDBY, vip_held=False))
            await r1.until(lambda: len(r1.beats) == 1 and len(r1.drops) == 1)
            assert r1.beats[0][1].role is Role.STANDBY
        finally:
            one.close()
            two.close()

    run(main())


def test_bad_datagrams_are_counted_by_reason_and_never_crash(tmp_path: Path) -> None:
    config = make_config(tmp_path, TWO_LINKS)
    port = config.heartbeat.port
    signed = b"DBHB\x01{not json"
    garbled = signed + hmac.digest(KEY, signed, "sha256")
    bad = {
        encode(beat(epoch=99), os.urandom(32)): DropReason.BAD_SIGNATURE,
        garbled: DropReason.GARBLED,
        b"DBHB": DropReason.TRUNCATED,
        b"GET / HTTP/1.1\r\n\r\n" + b"\0" * 40: DropReason.BAD_MAGIC,
        b"\0" * (MAX_DATAGRAM + 100): DropReason.OVERSIZE,
        encode(beat("db2"), KEY): DropReason.OWN,
        encode(beat("db3"), KEY): DropReason.UNKNOWN_NODE,
        encode(beat(cluster="billing"), KEY): DropReason.OTHER_CLUSTER,
    }

    async def main() -> None:
        rec = Recorder()
        two = links_for(config, "db2", rec)
        await two.start()
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw.bind(("127.0.0.1", 0))
        try:
            for datagram in bad:
                raw.sendto(datagram, ("127.0.0.2", port))
            await rec.until(lambda: len(rec.drops) == len(bad))
            assert Counter(reason for _, reason in rec.drops) == Counter(bad.values())
            a = two.stats()["a"]
            assert (a.received, a.last_received, a.delivered) == (len(bad), None, 0)
            assert drops(a) == dict.fromkeys(bad.values(), 1)

            raw.sendto(encode(beat(seq=7), KEY), ("127.0.0.2", port))  # still alive after it
            await rec.until(lambda: len(rec.beats) == 1)
            a = two.stats()["a"]
            assert (a.received, a.delivered) == (len(bad) + 1, 1)
            assert a.last_received is not None
            assert two.stats()["b"] == LinkStats()
        finally:
            raw.close()
            two.close()

    run(main())


def test_replayed_datagram_is_counted_and_does_not_mark_the_link_alive(tmp_path: Path) -> None:
    config = make_config(tmp_path, TWO_LINKS)
    port = config.heartbeat.port
    old = encode(beat(boot_id=1, seq=1), KEY)

    async def main() -> None:
        rec, clock = Recorder(), Ticks()
        two = links_for(config, "db2", rec, clock=clock)
        await two.start()
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            raw.sendto(encode(beat(boot_id=2, seq=1), KEY), ("127.0.0.2", port))
            await rec.until(lambda: len(rec.beats) == 1)
            clock.now = 200.0
            raw.sendto(old, ("127.0.0.4", port))
            await rec.until(lambda: len(rec.drops) == 1)
            assert rec.drops == [("b", DropReason.REPLAY)]
            assert two.stats()["b"].last_received is None
            assert two.stats()["a"].last_received == 100.0
        finally:
            raw.close()
            two.close()

    run(main())


def test_flood_is_read_in_batches_and_the_loop_keeps_going(tmp_path: Path) -> None:
    config = make_config(tmp_path)

    async def main() -> None:
        rec = Recorder()
        two = links_for(config, "db2", rec)
        await two.start()
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for _ in range(100):  # more than one batch, less than the socket buffer
                raw.sendto(b"junk", ("127.0.0.2", config.heartbeat.port))
            raw.sendto(encode(beat(), KEY), ("127.0.0.2", config.heartbeat.port))
            await rec.until(lambda: len(rec.beats) == 1)
            main_link = two.stats()["main"]
            assert set(two.stats()) == {"main"}
            assert drops(main_link) == {DropReason.TRUNCATED: 100}
        finally:
            raw.close()
            two.close()

    run(main())


def test_a_link_that_cannot_send_is_counted_not_raised(tmp_path: Path) -> None:
    # The peer's link-b address is off-host: a socket bound to loopback cannot reach it.
    config = make_config(tmp_path, {"a": TWO_LINKS["a"], "b": ("127.0.0.3", "198.51.100.7")})

    async def main() -> None:
        rec = Recorder()
        one = links_for(config, "db1", rec)
        await one.start()
        try:
            one.send(beat(seq=1))
            one.send(beat(seq=2))
            stats = one.stats()
            assert (stats["a"].sent, stats["a"].send_errors) == (2, 0)
            assert (stats["b"].sent, stats["b"].send_errors) == (0, 2)
        finally:
            one.close()

    run(main())


def test_start_errors_are_config_errors_and_release_what_was_bound(tmp_path: Path) -> None:
    config = make_config(tmp_path, TWO_LINKS)
    port = config.heartbeat.port

    async def main() -> None:
        rec = Recorder()
        squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        squatter.bind(("127.0.0.3", port))  # link b's address of db1 is taken
        one = links_for(config, "db1", rec)
        try:
            with pytest.raises(ConfigError, match=r"link 'b'.*127\.0\.0\.3 port"):
                await one.start()
        finally:
            squatter.close()
        again = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        again.bind(("127.0.0.1", port))  # link a was released
        again.close()

        off_host = make_config(tmp_path, {"a": ("198.51.100.7", "127.0.0.2")})
        with pytest.raises(ConfigError, match=r"cannot bind 198\.51\.100\.7"):
            await links_for(off_host, "db1", rec).start()

        with pytest.raises(ConfigError, match="same IP version"):  # a start rule of the config
            make_config(tmp_path, {"a": ("127.0.0.1", "::1")})
        # ...and the seam refuses one built past the loader all the same.
        mixed_link = Link(
            name="a", addresses={"db1": ip_address("127.0.0.1"), "db2": ip_address("::1")}
        )
        mixed = config.model_copy(
            update={"heartbeat": config.heartbeat.model_copy(update={"links": (mixed_link,)})}
        )
        with pytest.raises(ConfigError, match="same IP version"):
            await links_for(mixed, "db1", rec).start()

    run(main())


def test_lifecycle_and_misuse(tmp_path: Path) -> None:
    config = make_config(tmp_path)

    async def main() -> None:
        rec = Recorder()
        one = links_for(config, "db1", rec)
        with pytest.raises(RuntimeError, match="before start"):
            one.send(beat())
        await one.start()
        with pytest.raises(RuntimeError, match="twice"):
            await one.start()
        with pytest.raises(ValueError, match="refusing"):
            one.send(beat("db2"))
        with pytest.raises(ValueError, match="refusing"):
            one.send(beat(cluster="billing"))
        one.close()
        one.close()
        one.send(beat())  # after close: nothing, no error
        assert one.stats()["main"].sent == 0

    run(main())

    async def leave_open() -> Links:
        links = links_for(config, "db1", Recorder())
        await links.start()
        return links

    forgotten = asyncio.run(leave_open())
    forgotten.close()  # after the loop is gone: the sockets are still closed, no error
    with pytest.raises(ConfigError, match="no node named"):
        Links(config, "db9", KEY, Recorder().on_beat, Recorder().on_drop)


# ---------------------------------------------------------------- the fake


def test_fake_links_run_the_real_receive_path(tmp_path: Path) -> None:
    config = make_config(tmp_path, TWO_LINKS)
    got: list[tuple[str, Beat, float]] = []
    dropped: list[tuple[str, DropReason]] = []
    clock = Ticks()
    one = FakeLinks(config, "db1", KEY, lambda *a: None, lambda *a: None)
    two = FakeLinks(
        config, "db2", KEY, lambda *a: got.append(a), lambda *a: dropped.append(a), clock
    )
    transports: list[BeatLinks] = [one, two]
    for t in transports:
        asyncio.run(t.start())
    assert one.started

    one.down.add("b")
    one.send(beat(seq=1))
    assert one.sent == [beat(seq=1)]
    assert [link for link, _ in one.wire] == ["a"]
    assert (one.stats()["b"].send_errors, one.stats()["a"].sent) == (1, 1)
    for link, datagram in one.wire:
        two.deliver(link, datagram)
    two.deliver("b", beat(seq=1))  # a Beat is encoded as the peer would have
    two.deliver("a", beat(seq=1, boot_id=1))
    two.deliver("a", b"junk")
    assert got == [("a", beat(seq=1), 100.0)]
    assert dropped == [
        ("b", DropReason.DUPLICATE),
        ("a", DropReason.REPLAY),
        ("a", DropReason.TRUNCATED),
    ]
    assert two.stats()["b"].last_received == 100.0
    with pytest.raises(ValueError, match="no heartbeat link named 'c'"):
        two.deliver("c", beat())
    one.close()
    assert one.closed


def test_a_beats_copy_on_the_other_link_is_decoded_once_with_the_same_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy reuses the decoded Beat; a forged datagram never does, and a copy still
    goes through the replay window (duplicate, replay) as before."""
    from dualbeat.heartbeat import codec
    from dualbeat.heartbeat import link as link_module

    decoded: list[bytes] = []
    real_decode = codec.decode

    def counting(datagram: bytes, key: bytes, *, cluster: str) -> Beat:
        decoded.append(datagram)
        return real_decode(datagram, key, cluster=cluster)

    monkeypatch.setattr(link_module, "decode", counting)
    got: list[tuple[str, Beat, float]] = []
    dropped: list[tuple[str, DropReason]] = []
    two = FakeLinks(
        make_config(tmp_path, TWO_LINKS),
        "db2",
        KEY,
        lambda *a: got.append(a),
        lambda *a: dropped.append(a),
        Ticks(),
    )
    first, second = encode(beat(seq=1), KEY), encode(beat(seq=2), KEY)
    forged = first[:-1] + bytes([first[-1] ^ 1])
    for link, datagram in [("a", first), ("b", first), ("a", forged), ("b", second)]:
        two.deliver(link, datagram)
    two.deliver("a", first)  # the old beat again, after a newer one
    assert [b.seq for _, b, _ in got] == [1, 2]
    assert dropped == [
        ("b", DropReason.DUPLICATE),
        ("a", DropReason.BAD_SIGNATURE),
        ("a", DropReason.DUPLICATE),
    ]
    assert decoded == [first, forged, second, first]
    assert {s.last_received for s in two.stats().values()} == {100.0}


def test_stats_are_snapshots(tmp_path: Path) -> None:
    fake = FakeLinks(make_config(tmp_path), "db2", KEY, lambda *a: None, lambda *a: None)
    before = fake.stats()
    fake.deliver("main", b"junk")
    assert before["main"] == LinkStats()
    before["main"].dropped[DropReason.OWN] += 1
    assert drops(fake.stats()["main"]) == {DropReason.TRUNCATED: 1}


def test_read_key(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert read_key(config) == KEY
    config.heartbeat.key_file.write_bytes(b"short")
    with pytest.raises(ConfigError, match="holds 5 bytes"):
        read_key(config)
    config.heartbeat.key_file.unlink()
    with pytest.raises(ConfigError, match="cannot read"):
        read_key(config)
