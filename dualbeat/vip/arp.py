"""ARP frames on an AF_PACKET socket: the RFC 5227 probe and the gratuitous announcement.

Why raw frames rather than running ``arping``: Debian ships two incompatible ``arping``
programs (iputils and Thomas Habets'), with different flags and exit codes; a subprocess costs
tens of milliseconds to start, and its failures come back as text. A packet socket gives us
the exact frame, our own deadline, and an ``OSError`` the manager turns into ``VipError``.

Why these two shapes (RFC 5227):

- the **probe** asks "who has VIP?" with sender IP ``0.0.0.0``. A normal request would carry
  the VIP as sender IP and so *announce* our MAC for the VIP to every neighbour before we know
  the address is free, which is the very duplicate we are trying to avoid. Linux answers a
  probe for any of its addresses (``arp_process``: ``sip == 0`` branch).
- the **announcement** is an ARP *request* with sender IP = target IP = VIP, broadcast. Linux
  neighbours treat that as gratuitous (``arp_is_garp``) and override an existing entry at
  once, even inside ``locktime``; that is what moves clients to the new active.

Everything here is about one interface, is bounded by a deadline, and raises ``OSError``.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from ipaddress import IPv4Address
from types import TracebackType

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER = 1
OP_REQUEST = 1
OP_REPLY = 2

BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
ANY = IPv4Address(0)

_ETHERNET = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
# An Ethernet frame is at least 60 bytes before the FCS; some NICs do not pad what we hand
# them, and some switches drop runts, so we pad ourselves.
_MIN_FRAME = 60
# The probe is sent this many times within its timeout, so one lost frame is not a "free".
PROBES = 2


@dataclass(frozen=True)
class ArpPacket:
    """The fields of an Ethernet/IPv4 ARP packet that matter to us."""

    op: int
    sender_mac: bytes
    sender_ip: IPv4Address
    target_mac: bytes
    target_ip: IPv4Address


def mac_text(mac: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff``, the spelling ``ip link`` and ``ip neigh`` use."""
    return ":".join(f"{b:02x}" for b in mac)


def mac_bytes(text: str) -> bytes:
    """The six bytes of a MAC written as ``aa:bb:cc:dd:ee:ff``; ValueError otherwise."""
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not an Ethernet MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


def probe_packet(mac: bytes, ip: IPv4Address) -> ArpPacket:
    """RFC 5227 probe: who has ``ip``? asked from 0.0.0.0, so nobody learns anything from it."""
    return ArpPacket(OP_REQUEST, mac, ANY, ZERO_MAC, ip)


def announcement_packet(mac: bytes, ip: IPv4Address) -> ArpPacket:
    """RFC 5227 announcement (gratuitous ARP request): ``ip`` is at ``mac``."""
    return ArpPacket(OP_REQUEST, mac, ip, ZERO_MAC, ip)


def build_frame(packet: ArpPacket, source: bytes, destination: bytes = BROADCAST) -> bytes:
    """The Ethernet frame carrying ``packet``, padded to the Ethernet minimum."""
    header = _ETHERNET.pack(destination, source, ETH_P_ARP)
    body = _ARP.pack(
        ARPHRD_ETHER,
        ETH_P_IP,
        6,
        4,
        packet.op,
        packet.sender_mac,
        packet.sender_ip.packed,
        packet.target_mac,
        packet.target_ip.packed,
    )
    return (header + body).ljust(_MIN_FRAME, b"\x00")


def parse_frame(frame: bytes) -> ArpPacket | None:
    """The Ethernet/IPv4 ARP packet in ``frame``, or None for anything else (never raises)."""
    if len(frame) < _ETHERNET.size + _ARP.size:
        return None
    _, _, ethertype = _ETHERNET.unpack_from(frame)
    if ethertype != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(frame, _ETHERNET.size)
    if (htype, ptype, hlen, plen) != (ARPHRD_ETHER, ETH_P_IP, 6, 4):
        return None
    return ArpPacket(op, sha, IPv4Address(spa), tha, IPv4Address(tpa))


def conflicting_sender(packet: ArpPacket, ip: IPv4Address, own_mac: bytes) -> bytes | None:
    """The MAC of another host claiming ``ip``, per RFC 5227 §2.1.1, or None.

    Two things are a conflict while we probe: any ARP packet (reply or request) whose sender
    IP is ``ip`` — someone holds it — and another host's *probe* for ``ip`` — someone is about
    to claim it at the same moment; both then back off, which is the safe outcome. Frames with
    our own MAC as sender are ours (looped back, or seen through a bond) and never count.
    """
    if packet.sender_mac == own_mac:
        return None
    if packet.sender_ip == ip:
        return packet.sender_mac
    if packet.op == OP_REQUEST and packet.sender_ip == ANY and packet.target_ip == ip:
        return packet.sender_mac
    return None


class ArpSocket:
    """A packet socket that sends and receives ARP frames on one interface only.

    It is created with protocol 0 (receives nothing) and then bound to the interface with
    ETH_P_ARP, so no frame from another interface can slip in between ``socket()`` and
    ``bind()``. It belongs to the calling thread's network namespace, like a netlink socket.
    """

    def __init__(self, interface: str) -> None:
        self.interface = interface
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            self._sock.bind((interface, ETH_P_ARP))
        except OSError:
            self._sock.close()
            raise

    def send(self, frame: bytes) -> None:
        self._sock.send(frame)

    def receive(self, until: float) -> ArpPacket | None:
        """The next incoming ARP packet, or None once ``time.monotonic()`` reaches ``until``."""
        while (remaining := until - time.monotonic()) > 0:
            self._sock.settimeout(remaining)
            try:
                frame, address = self._sock.recvfrom(2048)
            except TimeoutError:
                return None
            if address[2] == socket.PACKET_OUTGOING:
                continue
            packet = parse_frame(frame)
            if packet is not None:
                return packet
        return None

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> ArpSocket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def probe(interface: str, mac: bytes, ip: IPv4Address, timeout: float) -> bytes | None:
    """Probe for ``ip`` on ``interface``; the MAC of the first other claimant, or None.

    Sends ``PROBES`` probes spread over ``timeout`` and returns as soon as someone answers,
    so a conflict is reported in about one round trip and "free" costs exactly ``timeout``.
    """
    frame = build_frame(probe_packet(mac, ip), mac)
    deadline = time.monotonic() + timeout
    with ArpSocket(interface) as sock:
        sent = 0
        next_send = time.monotonic()
        while (now := time.monotonic()) < deadline:
            if sent < PROBES and now >= next_send:
                sock.send(frame)
                sent += 1
                next_send = now + timeout / PROBES
            until = min(deadline, next_send) if sent < PROBES else deadline
            packet = sock.receive(until)
            if packet is not None and (other := conflicting_sender(packet, ip, mac)):
                return other
    return None


def announce(interface: str, mac: bytes, ip: IPv4Address, count: int, interval: float) -> None:
    """Send ``count`` gratuitous ARP requests for ``ip``, ``interval`` seconds apart.

    More than one, because a single broadcast frame may be lost or arrive while a switch is
    still learning the port; the total time is bounded by ``(count - 1) * interval``.
    """
    if count <= 0:
        return
    frame = build_frame(announcement_packet(mac, ip), mac)
    with ArpSocket(interface) as sock:
        for i in range(count):
            if i:
                time.sleep(interval)
            sock.send(frame)
