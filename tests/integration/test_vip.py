"""The VIP seam on a real veth pair: netlink addresses, carrier, ARP probe and announcement.

Two namespaces of our own, ``vt-a`` and ``vt-b`` (never the sandbox's ``db1``/``db2``, and never
the host's interfaces), joined by a veth pair: vt-a eth0 10.99.0.1/24, vt-b eth0 10.99.0.2/24.
The manager runs *inside* a namespace through ``inside()``, which switches only the calling
thread, exactly as the agent's worker thread would run it on a server.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv4Address, IPv4Interface

import pytest

from dualbeat.errors import VipConflict, VipError
from dualbeat.vip import arp
from dualbeat.vip.manager import VipManager
from dualbeat_lab.sandbox.netns import delete_namespace, ensure_namespace, ip
from tests.integration.labtools import inside, wait_for

pytestmark = pytest.mark.integration

A, B = "vt-a", "vt-b"
VIP = IPv4Interface("10.99.0.100/24")
STALE_MAC = "02:00:00:00:00:99"


@dataclass(frozen=True)
class Pair:
    mac_a: str
    mac_b: str


def _mac(ns: str) -> str:
    return str(json.loads(ip("-j", "link", "show", "dev", "eth0", ns=ns))[0]["address"])


def _is_up(ns: str) -> bool:
    return bool(json.loads(ip("-j", "link", "show", "dev", "eth0", ns=ns))[0]["operstate"] == "UP")


def _addresses(ns: str) -> list[str]:
    raw = json.loads(ip("-j", "-4", "addr", "show", "dev", "eth0", ns=ns))
    return [f"{a['local']}/{a['prefixlen']}" for a in raw[0]["addr_info"]]


def _neighbour(ns: str, address: IPv4Address) -> str | None:
    """The link-layer address ``ns`` has for ``address`` on eth0, or None."""
    raw = json.loads(ip("-j", "neigh", "show", str(address), "dev", "eth0", ns=ns) or "[]")
    return str(raw[0]["lladdr"]) if raw and "lladdr" in raw[0] else None


def _remove_namespaces() -> None:
    for ns in (A, B):
        delete_namespace(ns)


@pytest.fixture
def pair() -> Iterator[Pair]:
    _remove_namespaces()  # leftovers of a killed run
    try:
        for ns in (A, B):
            ensure_namespace(ns)
        ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", B, ns=A)
        for ns, cidr in ((A, "10.99.0.1/24"), (B, "10.99.0.2/24")):
            ip("addr", "add", cidr, "dev", "eth0", ns=ns)
            ip("link", "set", "eth0", "up", ns=ns)
        for ns in (A, B):
            wait_for(partial(_is_up, ns), 5, f"{ns} eth0 to come up", 0.02)
        yield Pair(mac_a=_mac(A), mac_b=_mac(B))
    finally:
        _remove_namespaces()


def test_add_and_remove_are_idempotent(pair: Pair) -> None:
    with inside(A):
        vip = VipManager(VIP, "eth0")
        assert not vip.held()
        vip.add()
        assert vip.held()
        vip.add()
        assert vip.held()
    assert _addresses(A) == ["10.99.0.1/24", "10.99.0.100/24"], "the configured prefix is used"
    with inside(A):
        vip.remove()
        assert not vip.held()
        vip.remove()
        assert not vip.held()
    assert _addresses(A) == ["10.99.0.1/24"]


def test_remove_takes_the_vip_off_whatever_its_prefix(pair: Pair) -> None:
    ip("addr", "add", "10.99.0.100/32", "dev", "eth0", ns=A)  # e.g. added by hand
    with inside(A):
        vip = VipManager(VIP, "eth0")
        assert vip.held()
        vip.add()  # already there: no second copy with another prefix
        vip.remove()
        assert not vip.held()
    assert _addresses(A) == ["10.99.0.1/24"]


def test_wait_for_change_wakes_on_an_address_or_a_carrier_change(pair: Pair) -> None:
    with inside(A), VipManager(VIP, "eth0") as vip:
        assert not vip.wait_for_change(0.05)  # nothing changes: the timeout
        ip("addr", "add", "10.99.0.100/32", "dev", "eth0", ns=A)
        assert vip.wait_for_change(5)
        assert not vip.wait_for_change(0.05)  # drained
        ip("link", "set", "eth0", "down", ns=B)  # our carrier goes
        assert vip.wait_for_change(5)
        assert vip.observe() == (True, False)


def test_a_release_with_grace_keeps_the_address_a_moment_reported_as_not_held(
    pair: Pair,
) -> None:
    with inside(A), VipManager(VIP, "eth0") as vip:
        vip.add()
        vip.release(grace=0.5)
        assert vip.releasing and not vip.held() and vip.observe() == (False, True)
        assert "10.99.0.100/24" in _addresses(A)  # still answering (the gate's resets)
        wait_for(lambda: "10.99.0.100/24" not in _addresses(A), 5, "the grace to end", 0.05)
        assert not vip.releasing
        vip.add()
        vip.release(grace=0.3)
        vip.add()  # a claim during the grace takes it back
        time.sleep(0.5)
        assert vip.held() and "10.99.0.100/24" in _addresses(A)
        vip.release(grace=5.0)
    assert "10.99.0.100/24" not in _addresses(A)  # close() does not leave it behind


def test_carrier_follows_both_ends_of_the_link(pair: Pair) -> None:
    with inside(A):
        vip = VipManager(VIP, "eth0")
        assert vip.carrier()
        ip("link", "set", "eth0", "down", ns=B)  # the far end: NO-CARRIER here
        wait_for(lambda: not vip.carrier(), 5, "vt-a to lose carrier", 0.02)
        ip("link", "set", "eth0", "up", ns=B)
        wait_for(vip.carrier, 5, "vt-a to regain carrier", 0.02)
        ip("link", "set", "eth0", "down", ns=A)  # our own end, administratively
        wait_for(lambda: not vip.carrier(), 5, "vt-a eth0 to go down", 0.02)


def test_observe_reuses_one_socket_and_survives_a_vanished_interface(pair: Pair) -> None:
    with inside(A):
        vip = VipManager(VIP, "eth0")
        assert vip.observe() == (False, True)
        socket = vip._observer
        vip.add()
        assert vip.observe() == (True, True) and vip._observer is socket
        ip("link", "set", "eth0", "down", ns=B)
        wait_for(lambda: vip.observe() == (True, False), 5, "vt-a to lose carrier", 0.02)
        ip("link", "set", "eth0", "up", ns=B)
        wait_for(lambda: vip.observe() == (True, True), 5, "vt-a to regain carrier", 0.02)
        vip.remove()
        assert vip.observe() == (False, True) and vip._observer is socket
        missing = VipManager(VIP, "nosuch0")
        assert missing.observe() == (False, False)
        vip.close()
        assert vip._observer is None
        with pytest.raises(VipError, match="closed"):
            vip.observe()


def test_missing_interface(pair: Pair) -> None:
    with inside(A):
        vip = VipManager(VIP, "nosuch0")
        assert not vip.carrier()
        assert not vip.held()
        vip.remove()  # nothing to remove: a demotion never stalls here
        with pytest.raises(VipError, match="interface nosuch0 does not exist"):
            vip.add()
        with pytest.raises(VipError, match="nosuch0"):
            vip.claim(3)


def test_announce_moves_an_existing_neighbour_entry(pair: Pair) -> None:
    ip("neigh", "replace", str(VIP.ip), "lladdr", STALE_MAC, "dev", "eth0", "nud", "stale", ns=B)
    assert _neighbour(B, VIP.ip) == STALE_MAC
    with inside(A):
        vip = VipManager(VIP, "eth0")
        vip.add()
        vip.announce(3)
    wait_for(lambda: _neighbour(B, VIP.ip) == pair.mac_a, 2, "vt-b to learn vt-a's MAC", 0.02)


def test_announce_on_a_down_interface_is_a_vip_error(pair: Pair) -> None:
    ip("link", "set", "eth0", "down", ns=A)
    with inside(A), pytest.raises(VipError, match=r"cannot send gratuitous ARP .* on eth0: "):
        VipManager(VIP, "eth0").announce(1)


def test_conflict_names_the_holder_and_claim_refuses(pair: Pair) -> None:
    ip("addr", "add", str(VIP), "dev", "eth0", ns=B)
    with inside(A):
        vip = VipManager(VIP, "eth0")
        start = time.monotonic()
        assert vip.conflict(timeout=1.0) == pair.mac_b
        assert time.monotonic() - start < 0.5, "an answer ends the probe at once"
        with pytest.raises(VipConflict, match=pair.mac_b):
            vip.claim(3)
        assert not vip.held()
    assert _addresses(A) == ["10.99.0.1/24"]


def test_no_conflict_when_nobody_holds_it(pair: Pair) -> None:
    with inside(A):
        vip = VipManager(VIP, "eth0")
        start = time.monotonic()
        assert vip.conflict(timeout=0.2) is None
        elapsed = time.monotonic() - start
        assert 0.2 <= elapsed < 0.5, elapsed
        vip.add()
        start = time.monotonic()
        assert vip.conflict() is None, "our own address is never a conflict"
        assert time.monotonic() - start < 0.1, "held: no probe needed"


def test_a_simultaneous_probe_is_a_conflict(pair: Pair) -> None:
    """Another host probing for the VIP right now is about to claim it: we back off."""
    stop = threading.Event()
    ready = threading.Event()

    def probe_from_b() -> None:
        with inside(B), arp.ArpSocket("eth0") as sock:
            mac = arp.mac_bytes(pair.mac_b)
            frame = arp.build_frame(arp.probe_packet(mac, VIP.ip), mac)
            while not stop.is_set():
                sock.send(frame)
                ready.set()
                stop.wait(0.02)

    thread = threading.Thread(target=probe_from_b, daemon=True)
    thread.start()
    try:
        assert ready.wait(5)
        with inside(A):
            assert VipManager(VIP, "eth0").conflict(timeout=1.0) == pair.mac_b
    finally:
        stop.set()
        thread.join(5)


def test_claim_release_and_move_to_the_peer(pair: Pair) -> None:
    """The failover sequence: a claims (clients follow), releases, b claims, a sees b."""
    ip("neigh", "replace", str(VIP.ip), "lladdr", STALE_MAC, "dev", "eth0", "nud", "stale", ns=B)
    with inside(A):
        a = VipManager(VIP, "eth0")
        start = time.monotonic()
        a.claim(3)
        took = time.monotonic() - start
        assert a.held()
    print(f"claim with arp_count=3 took {took * 1000:.0f} ms")
    assert took < 0.6, took  # 0.2 s probe + 2 x 0.05 s between announcements + netlink
    wait_for(lambda: _neighbour(B, VIP.ip) == pair.mac_a, 2, "vt-b to follow the GARP", 0.02)

    with inside(A):
        a.release()
        a.release()
        assert not a.held()
    with inside(B):
        b = VipManager(VIP, "eth0")
        b.claim(3)
        assert b.held()
    with inside(A):
        assert a.conflict() == pair.mac_b
        with pytest.raises(VipConflict):
            a.claim(3)
        a.close()
        with pytest.raises(VipError, match="closed"):
            a.held()
