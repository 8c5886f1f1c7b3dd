"""ARP frames as bytes, the RFC 5227 conflict rule, and what the VIP manager refuses up front."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Interface

import pytest

from dualbeat.errors import VipError
from dualbeat.vip import arp
from dualbeat.vip.manager import VipManager

OURS = bytes.fromhex("020000000001")
THEIRS = bytes.fromhex("020000000002")
VIP = IPv4Address("10.99.0.100")
OTHER = IPv4Address("10.99.0.7")


def test_probe_frame_layout() -> None:
    frame = arp.build_frame(arp.probe_packet(OURS, VIP), OURS)
    assert len(frame) == 60, "padded to the Ethernet minimum"
    assert frame[0:6] == b"\xff" * 6, "broadcast"
    assert frame[6:12] == OURS
    assert frame[12:14] == b"\x08\x06", "ethertype ARP"
    assert frame[14:22] == bytes.fromhex("0001 0800 06 04 0001"), "Ethernet/IPv4 request"
    assert frame[22:28] == OURS
    assert frame[28:32] == b"\x00" * 4, "RFC 5227 probe: sender IP 0.0.0.0"
    assert frame[32:38] == b"\x00" * 6
    assert frame[38:42] == VIP.packed
    assert frame[42:] == b"\x00" * 18


def test_announcement_has_the_vip_as_sender_and_target() -> None:
    packet = arp.parse_frame(arp.build_frame(arp.announcement_packet(OURS, VIP), OURS))
    assert packet == arp.ArpPacket(arp.OP_REQUEST, OURS, VIP, arp.ZERO_MAC, VIP)


def test_round_trip_of_a_reply() -> None:
    reply = arp.ArpPacket(arp.OP_REPLY, THEIRS, VIP, OURS, IPv4Address(0))
    assert arp.parse_frame(arp.build_frame(reply, THEIRS, OURS)) == reply


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\xff" * 41,
        bytes(12) + b"\x08\x00" + bytes(46),  # IPv4, not ARP
        bytes(12) + b"\x08\x06" + bytes.fromhex("0006 0800 06 04 0001") + bytes(38),  # not Ether
    ],
)
def test_parse_ignores_what_is_not_ethernet_ipv4_arp(frame: bytes) -> None:
    assert arp.parse_frame(frame) is None


def test_conflict_rule() -> None:
    def conflict(packet: arp.ArpPacket) -> bytes | None:
        return arp.conflicting_sender(packet, VIP, OURS)

    # someone holds it: their reply to our probe, or any packet sent from the VIP
    assert conflict(arp.ArpPacket(arp.OP_REPLY, THEIRS, VIP, OURS, arp.ANY)) == THEIRS
    assert conflict(arp.announcement_packet(THEIRS, VIP)) == THEIRS
    # someone is probing for it at the same moment
    assert conflict(arp.probe_packet(THEIRS, VIP)) == THEIRS
    # a client asking where the VIP is, other addresses, and our own frames are not conflicts
    assert conflict(arp.ArpPacket(arp.OP_REQUEST, THEIRS, OTHER, arp.ZERO_MAC, VIP)) is None
    assert conflict(arp.announcement_packet(THEIRS, OTHER)) is None
    assert conflict(arp.probe_packet(THEIRS, OTHER)) is None
    assert conflict(arp.probe_packet(OURS, VIP)) is None
    assert conflict(arp.announcement_packet(OURS, VIP)) is None


def test_mac_spelling() -> None:
    assert arp.mac_text(OURS) == "02:00:00:00:00:01"
    assert arp.mac_bytes("02:00:00:00:00:01") == OURS
    assert arp.mac_bytes("AA:bb:cc:dd:ee:FF") == bytes.fromhex("aabbccddeeff")
    for bad in ("", "02:00:00:00:00", "2:0:0:0:0:1", "zz:00:00:00:00:00"):
        with pytest.raises(ValueError):
            arp.mac_bytes(bad)


def test_ipv6_vip_is_refused_in_the_constructor() -> None:
    with pytest.raises(VipError, match="IPv6 VIPs are not supported yet; use an IPv4 address"):
        VipManager(IPv6Interface("fd00::100/64"), "eth0")


def test_construction_touches_nothing() -> None:
    vip = VipManager(IPv4Interface("10.99.0.100/24"), "eth0")
    assert vip.ip == VIP
    assert repr(vip) == "VipManager(10.99.0.100/24 on eth0)"
    vip.close()
    with pytest.raises(VipError, match="closed"):
        vip.carrier()
