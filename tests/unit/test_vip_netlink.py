"""The rtnetlink client: attributes as bytes, and read-only requests to this namespace's kernel.

Adding and deleting addresses needs CAP_NET_ADMIN in a namespace of its own: that is
``tests/integration/test_vip.py``, which runs the VIP manager (and so these requests)
on a real veth pair. Here only what any process may ask: the loopback link and the
addresses, compared with what the kernel shows in ``/sys`` and ``/proc``.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from dualbeat.vip import netlink
from dualbeat.vip.addresses import local_addresses
from dualbeat.vip.netlink import Rtnl


def test_attributes_are_padded_and_read_back_by_type() -> None:
    packed = netlink._attr(3, b"eth0\0") + netlink._attr(16, b"\x06")
    assert len(packed) == 12 + 8, "4-byte header, payload padded to 4 bytes"
    assert netlink._attrs(packed, 0) == {3: b"eth0\0", 16: b"\x06"}


def test_attribute_flag_bits_are_ignored_and_a_broken_length_ends_the_list() -> None:
    nested = netlink._ATTR.pack(8, 0x8000 | 5) + b"abcd"  # NLA_F_NESTED set
    broken = netlink._ATTR.pack(2, 7)  # shorter than its own header
    assert netlink._attrs(nested + broken + netlink._attr(1, b"x"), 0) == {5: b"abcd"}


def test_loopback_link_as_the_kernel_shows_it() -> None:
    sys_lo = Path("/sys/class/net/lo")
    with Rtnl() as rtnl:
        lo = rtnl.link("lo")
    assert lo.index == int((sys_lo / "ifindex").read_text())
    assert lo.hwtype == int((sys_lo / "type").read_text()) == 772  # ARPHRD_LOOPBACK
    assert lo.flags & 0x1, "IFF_UP"
    assert lo.operstate == (sys_lo / "operstate").read_text().strip().upper()
    assert lo.address == b"\0" * 6


def test_a_missing_link_is_enodev() -> None:
    with Rtnl() as rtnl, pytest.raises(OSError) as caught:
        rtnl.link("no-such-if0")
    assert caught.value.errno == errno.ENODEV


def test_addresses_include_loopback_and_one_socket_serves_many_requests() -> None:
    with Rtnl() as rtnl:
        lo = rtnl.link("lo").index
        ipv4 = rtnl.addresses(socket.AF_INET)
        every = rtnl.addresses()
    assert netlink.Address(socket.AF_INET, lo, "127.0.0.1", 8) in ipv4
    assert all(a.family == socket.AF_INET for a in ipv4)
    assert set(ipv4) <= set(every)
    assert "127.0.0.1" in local_addresses()
