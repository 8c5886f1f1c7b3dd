"""The four rtnetlink requests the VIP needs, on a raw ``NETLINK_ROUTE`` socket.

Why not pyroute2 (which dualbeat used until issue 14 item 5): its package ``__init__``
imports its whole API, about 300 modules and 20 MB of resident memory, more than the
rest of an idle agent together, to send four kinds of message whose layout the kernel
fixes in ``linux/netlink.h``, ``linux/rtnetlink.h``, ``linux/if_link.h`` and
``linux/if_addr.h``: get one link by name, dump the addresses, add and delete one.
Decoding is done only for the attributes read here; the rest of a reply is skipped.

Why a socket per ``Rtnl`` and blocking reads with a timeout: a netlink socket lives in
the network namespace of the thread that opened it, and the kernel answers a local
request at once, so a reply that does not come within ``TIMEOUT`` means something is
badly wrong and becomes an ``OSError`` like any other failure here.

Errors are ``OSError`` with the kernel's errno (``ENODEV``: no such interface,
``EEXIST``: the address is there already, ``EADDRNOTAVAIL``: it is not there).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from types import TracebackType

TIMEOUT = 2.0

# linux/netlink.h
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_ERROR = struct.Struct("=i")  # nlmsgerr: a negative errno, or 0 for an acknowledgement
_ATTR = struct.Struct("=HH")  # rtattr: length, type
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
# linux/rtnetlink.h
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBi")  # ifaddrmsg: family, prefixlen, flags, scope, index
# linux/if_link.h, linux/if_addr.h
IFLA_ADDRESS, IFLA_IFNAME, IFLA_OPERSTATE = 1, 3, 16
IFA_ADDRESS, IFA_LOCAL = 1, 2
#: ``IF_OPER_*`` (RFC 2863), by value, as ``ip link`` prints them.
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")


@dataclass(frozen=True)
class Link:
    """One interface as ``RTM_NEWLINK`` describes it: ``flags`` are the ``IFF_*`` bits,
    ``hwtype`` the ``ARPHRD_*`` type, ``address`` the hardware address (None if none)."""

    index: int
    flags: int
    operstate: str
    address: bytes | None
    hwtype: int


@dataclass(frozen=True)
class Address:
    """One interface address: ``IFA_LOCAL`` when the kernel gives it (the address itself
    on a point-to-point link), else ``IFA_ADDRESS``."""

    family: int
    index: int
    address: str
    prefixlen: int


def _attrs(data: bytes, offset: int) -> dict[int, bytes]:
    """The ``rtattr`` list from ``offset`` on, by type (the last of a repeated type)."""
    found = {}
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            break
        found[kind & 0x3FFF] = data[offset + _ATTR.size : offset + length]  # no NLA_F_* bits
        offset += (length + 3) & ~3
    return found


def _attr(kind: int, value: bytes) -> bytes:
    header = _ATTR.pack(_ATTR.size + len(value), kind)
    return header + value + b"\0" * (-len(value) % 4)


def _text(address: bytes, family: int) -> str:
    return socket.inet_ntop(family, address)


class Rtnl:
    """One ``NETLINK_ROUTE`` socket, opened in the calling thread's network namespace.
    Not thread-safe: one request at a time."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            self._sock.settimeout(timeout)
            self._sock.bind((0, 0))
        except OSError:
            self._sock.close()
            raise
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ requests

    def link(self, name: str) -> Link:
        """The interface called ``name``; ``OSError(ENODEV)`` when there is none."""
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        body += _attr(IFLA_IFNAME, name.encode() + b"\0")
        for kind, payload in self._request(RTM_GETLINK, NLM_F_REQUEST, body):
            if kind != RTM_NEWLINK:
                continue
            _family, hwtype, index, flags, _change = _IFINFO.unpack_from(payload)
            attrs = _attrs(payload, _IFINFO.size)
            oper = attrs.get(IFLA_OPERSTATE, b"\0")[0]
            return Link(
                index=index,
                flags=flags,
                operstate=OPERSTATES[oper] if oper < len(OPERSTATES) else "UNKNOWN",
                address=attrs.get(IFLA_ADDRESS) or None,
                hwtype=hwtype,
            )
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))

    def addresses(self, family: int = socket.AF_UNSPEC) -> list[Address]:
        """Every address of ``family`` (IPv4 and IPv6 with ``AF_UNSPEC``) in the namespace."""
        body = _IFADDR.pack(family, 0, 0, 0, 0)
        found = []
        for kind, payload in self._request(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, body):
            if kind != RTM_NEWADDR:
                continue
            fam, prefixlen, _flags, _scope, index = _IFADDR.unpack_from(payload)
            attrs = _attrs(payload, _IFADDR.size)
            raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
            if raw is not None and fam in (socket.AF_INET, socket.AF_INET6):
                found.append(Address(fam, index, _text(raw, fam), prefixlen))
        return found

    def add_address(self, index: int, address: IPv4Address, prefixlen: int) -> None:
        """Add ``address/prefixlen`` to interface ``index`` (``OSError(EEXIST)`` if there),
        as ``ip addr add`` does: local and peer address the same, no broadcast."""
        flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        self._ack(RTM_NEWADDR, flags, self._ipv4(index, address, prefixlen))

    def delete_address(self, index: int, address: IPv4Address, prefixlen: int) -> None:
        """Delete ``address/prefixlen`` from interface ``index`` (``OSError(EADDRNOTAVAIL)``
        if it is not there)."""
        self._ack(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, self._ipv4(index, address, prefixlen))

    @staticmethod
    def _ipv4(index: int, address: IPv4Address, prefixlen: int) -> bytes:
        body = _IFADDR.pack(socket.AF_INET, prefixlen, 0, 0, index)
        return body + _attr(IFA_LOCAL, address.packed) + _attr(IFA_ADDRESS, address.packed)

    # ------------------------------------------------------------------ the wire

    def _ack(self, kind: int, flags: int, body: bytes) -> None:
        for _ in self._request(kind, flags, body):
            pass

    def _request(self, kind: int, flags: int, body: bytes) -> Iterator[tuple[int, bytes]]:
        """Send one request; yield ``(type, payload)`` of each reply message until the
        request is answered: one message, the end of a dump, or the acknowledgement.
        A kernel error is raised as ``OSError`` with its errno."""
        self._seq += 1
        seq = self._seq
        self._sock.send(_HEADER.pack(_HEADER.size + len(body), kind, flags, seq, 0) + body)
        while True:
            data = self._sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, reply, reply_flags, reply_seq, _port = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    raise OSError(errno.EPROTO, "netlink: a message shorter than its header")
                payload = data[offset + _HEADER.size : offset + length]
                offset += (length + 3) & ~3
                if reply_seq != seq:
                    continue  # an answer to an earlier request that timed out
                if reply == NLMSG_DONE:
                    return
                if reply == NLMSG_ERROR:
                    (code,) = _ERROR.unpack_from(payload)
                    if code:
                        raise OSError(-code, os.strerror(-code))
                    return  # the acknowledgement
                yield reply, payload
                if not reply_flags & 0x2:  # NLM_F_MULTI: more messages follow
                    return
