"""The VIP seam the agent acts through: hold, release, check and announce the virtual IP.

Why a duplicate-address check before every claim: keepalived's most reported bug is the VIP
on both nodes at once — clients then flip between two writers as their ARP caches age. The
peer's kernel answers an RFC 5227 probe for any address it holds, so ``claim`` asks first and
refuses with ``VipConflict`` (naming the MAC that answered) instead of adding a duplicate.

Why a gratuitous ARP burst after every claim, and again on a timer: neighbours keep the old
active's MAC for the VIP until their entry ages out (tens of seconds); an announcement makes
them switch at once. HeartBeat's "no GARP after recovery" bug is avoided by announcing on
every claim, even when the address was already there.

Why a new netlink and packet socket per call, rather than one kept open: the agent calls us
from several worker threads, a netlink socket serves one request at a time, and a
socket lives in the network namespace of the thread that opened it. Opening per call is
cheap, is safe from any thread, and acts in the calling thread's namespace (which is
how the tests run it inside ``vt-a``). For the same reason the MAC comes from netlink, not
``/sys/class/net``: sysfs shows the namespace it was mounted in, not the thread's.

Every call is short and bounded: netlink requests are local, ``conflict`` waits at most its
timeout, ``announce`` at most ``(count - 1) * interval``.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Interface
from socket import AF_INET
from types import TracebackType

from dualbeat.errors import VipConflict, VipError
from dualbeat.vip import arp
from dualbeat.vip.netlink import Rtnl

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
# "UNKNOWN" is what drivers without operstate support report (dummy, some virtual NICs);
# they still set IFF_LOWER_UP when the link is usable.
_USABLE_OPERSTATES = frozenset({"UP", "UNKNOWN"})

log = logging.getLogger("dualbeat.vip")
_NETLINK_ROUTE = 0
_RTMGRP_LINK = 0x1
_RTMGRP_IPV4_IFADDR = 0x10

DEFAULT_PROBE_TIMEOUT = 0.2
DEFAULT_ARP_INTERVAL = 0.05


@dataclass(frozen=True)
class _Link:
    index: int
    flags: int
    operstate: str
    mac: bytes | None
    hwtype: int


def _has_carrier(link: _Link | None) -> bool:
    if link is None:
        return False
    up = link.flags & IFF_UP and link.flags & IFF_LOWER_UP
    return bool(up) and link.operstate in _USABLE_OPERSTATES


def _strerror(exc: OSError) -> str:
    code = exc.errno
    text = os.strerror(code) if code else str(exc)
    if code == errno.EPERM:
        text += " (dualbeat needs root or CAP_NET_ADMIN/CAP_NET_RAW)"
    return text


class VipManager:
    """Adds, removes, probes for and announces one IPv4 VIP on one Ethernet interface.

    IPv6 VIPs are not supported yet (neighbour discovery would replace ARP, with its own
    DAD rules): the constructor raises ``VipError`` for an ``IPv6Interface``. The prefix
    length of the configured interface address is the one given to the kernel.
    """

    def __init__(self, address: IPv4Interface | IPv6Interface, interface: str) -> None:
        if not isinstance(address, IPv4Interface):
            raise VipError("IPv6 VIPs are not supported yet; use an IPv4 address")
        self.address = address
        self.interface = interface
        self._closed = False
        self._observer: Rtnl | None = None  # observe()'s netlink socket, opened on first use
        self._events: socket.socket | None = None  # wait_for_change()'s, likewise
        self._lock = threading.Lock()
        self._pending: threading.Timer | None = None  # removes a released VIP after its grace

    @property
    def ip(self) -> IPv4Address:
        return self.address.ip

    def __repr__(self) -> str:
        return f"VipManager({self.address.with_prefixlen} on {self.interface})"

    # ------------------------------------------------------------------ state

    def held(self) -> bool:
        """Whether the VIP is on the interface (with any prefix length); False if it is
        missing, or released and only waiting out its grace."""
        with self._netlink("read addresses of") as ipr:
            link = self._link(ipr)
            held = link is not None and bool(self._held_prefixes(ipr, link))
        return held and not self.releasing

    def carrier(self) -> bool:
        """Whether the interface is administratively up *and* has carrier; False if missing.

        A peer that pulls its cable, or a veth whose other end goes down, shows here as
        NO-CARRIER at once, which the agent uses to tell a local fault from a dead peer.
        """
        with self._netlink("read the state of") as ipr:
            return _has_carrier(self._link(ipr))

    def observe(self) -> tuple[bool, bool]:
        """``(held, carrier)`` with one link query, on a netlink socket kept open between
        calls: the agent asks five times a second, and opening a socket and decoding the
        link twice per question was half of an idle agent's CPU. For one observing thread
        only (a netlink socket serves one request at a time); changes use their own."""
        if self._closed:
            raise VipError(f"{self!r} is closed")
        try:
            if self._observer is None:
                self._observer = Rtnl()
            link = self._link(self._observer)
            held = link is not None and bool(self._held_prefixes(self._observer, link))
            held = held and not self.releasing
            return held, _has_carrier(link)
        except OSError as exc:
            self._close_observer()
            raise VipError(f"cannot read the state of {self.interface}: {_strerror(exc)}") from exc

    def wait_for_change(self, timeout: float) -> bool:
        """Block until the kernel reports a link or IPv4 address change in this network
        namespace, or ``timeout`` passes; whether one came. Lets the agent re-``observe``
        only when something changed (plus a slow refresh) instead of five times a second:
        decoding a link dump was most of an idle agent's CPU. For the observing thread
        only; the raw socket is opened on first use, in that thread's namespace."""
        if self._closed:
            raise VipError(f"{self!r} is closed")
        try:
            if self._events is None:
                events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_ROUTE)
                events.bind((0, _RTMGRP_LINK | _RTMGRP_IPV4_IFADDR))
                events.setblocking(False)
                self._events = events
            ready, _, _ = select.select([self._events], [], [], timeout)
            if not ready:
                return False
            with suppress(BlockingIOError):
                while self._events.recv(65536):  # the content does not matter: drain it
                    pass
            return True
        except OSError as exc:
            self._close_observer()
            raise VipError(f"cannot watch {self.interface} for changes: {_strerror(exc)}") from exc

    def _close_observer(self) -> None:
        if self._observer is not None:
            self._observer.close()
            self._observer = None
        if self._events is not None:
            self._events.close()
            self._events = None

    # ------------------------------------------------------------------ address

    def add(self) -> None:
        """Put the VIP on the interface; already there (any prefix length) is success
        (a released VIP still in its grace is taken back)."""
        self._cancel_pending()
        with self._netlink("add the VIP to") as ipr:
            link = self._require_link(ipr)
            if self._held_prefixes(ipr, link):
                return
            try:
                ipr.add_address(link.index, self.ip, self.address.network.prefixlen)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise VipError(
                        f"cannot add {self.address.with_prefixlen} to {self.interface}: "
                        f"{_strerror(exc)}"
                    ) from exc

    def remove(self) -> None:
        """Take the VIP off the interface, whatever its prefix length; absent is success.

        A missing interface also counts as success: it cannot hold the address, and a
        demotion must never stall on its release step.
        """
        with self._netlink("remove the VIP from") as ipr:
            link = self._link(ipr)
            if link is None:
                return
            for prefixlen in self._held_prefixes(ipr, link):
                try:
                    ipr.delete_address(link.index, self.ip, prefixlen)
                except OSError as exc:
                    if exc.errno not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                        raise VipError(
                            f"cannot remove {self.ip}/{prefixlen} from {self.interface}: "
                            f"{_strerror(exc)}"
                        ) from exc

    # ------------------------------------------------------------------ ARP

    def conflict(self, timeout: float = DEFAULT_PROBE_TIMEOUT) -> str | None:
        """The MAC of another host answering for the VIP, found by an RFC 5227 probe, or None.

        Returns None at once when we hold the VIP ourselves (our own kernel would be the
        holder), otherwise waits at most ``timeout`` seconds, less when someone answers.
        """
        with self._netlink("read the state of") as ipr:
            link = self._require_link(ipr)
            if self._held_prefixes(ipr, link):
                return None
        mac = self._ethernet_mac(link)
        try:
            other = arp.probe(self.interface, mac, self.ip, timeout)
        except OSError as exc:
            raise VipError(
                f"cannot send ARP probe for {self.ip} on {self.interface}: {_strerror(exc)}"
            ) from exc
        return None if other is None else arp.mac_text(other)

    def announce(self, count: int, interval: float = DEFAULT_ARP_INTERVAL) -> None:
        """Broadcast ``count`` gratuitous ARP requests for the VIP, ``interval`` s apart."""
        with self._netlink("read the state of") as ipr:
            link = self._require_link(ipr)
        mac = self._ethernet_mac(link)
        try:
            arp.announce(self.interface, mac, self.ip, count, interval)
        except OSError as exc:
            raise VipError(
                f"cannot send gratuitous ARP for {self.ip} on {self.interface}: {_strerror(exc)}"
            ) from exc

    # ------------------------------------------------------------------ the agent's verbs

    def claim(self, arp_count: int, *, force: bool = False, probe: bool = True) -> str | None:
        """Probe, add, announce: ``VipConflict`` (and nothing added) if another host answers,
        unless ``force`` (that host is known to refuse MySQL: see ``core.findings.
        vip_overridable``); then the MAC that also answers is returned, else None.

        The probe waits 100 ms: a neighbour on the segment answers ARP in well under a
        millisecond, and every millisecond here is write downtime during a failover.
        ``probe=False`` skips it, for a claim right after the old holder announced over the
        heartbeat that it released the address: the wait would be 100 ms of silence."""
        other = self.conflict(timeout=0.1) if probe else None
        if other is not None and not force:
            raise VipConflict(
                f"{self.ip} is already answered for by {other} on {self.interface}; "
                "not adding it here, which would put the VIP on two hosts"
            )
        self.add()
        self.announce(arp_count, interval=0.02)
        return other

    def release(self, grace: float = 0.0) -> None:
        """Give the VIP up (idempotent). No ARP: the next holder's announcement moves clients.

        With ``grace`` > 0 the address stays on the interface that long, *released*: only
        for a host that no longer answers ARP for it and refuses its MySQL port with a
        reset (the client gate), so a client whose neighbour entry still points here
        gets a refusal it can retry instead of silence until the new holder's gratuitous
        ARP. ``observe`` and ``held`` report it as not held; a ``claim`` takes it back."""
        if grace <= 0:
            self._cancel_pending()
            self.remove()
            return
        with self._lock:
            if self._pending is None:
                self._pending = threading.Timer(grace, self._expire)
                self._pending.daemon = True
                self._pending.start()

    def _expire(self) -> None:
        with self._lock:
            if self._pending is None or self._pending is not threading.current_thread():
                return
            self._pending = None
            try:
                self.remove()
            except VipError as exc:  # the reconcile removes it on the next check
                log.warning("could not remove the released VIP after its grace: %s", exc)

    def _cancel_pending(self) -> None:
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None

    @property
    def releasing(self) -> bool:
        """The VIP is released but still on the interface for its grace."""
        return self._pending is not None

    def close(self) -> None:
        """Closes ``observe``'s socket (nothing else stays open between calls); later
        calls fail loudly. A released VIP still in its grace is removed now: nobody
        would remove it once the agent is gone."""
        if self.releasing:
            self._cancel_pending()
            self.remove()
        self._closed = True
        self._close_observer()

    def __enter__(self) -> VipManager:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ netlink helpers

    @contextmanager
    def _netlink(self, doing: str) -> Iterator[Rtnl]:
        """A netlink socket for one call; netlink failures become ``VipError``."""
        if self._closed:
            raise VipError(f"{self!r} is closed")
        try:
            ipr = Rtnl()
        except OSError as exc:
            raise VipError(f"cannot open netlink to {doing} {self.interface}: {exc}") from exc
        try:
            yield ipr
        except OSError as exc:
            raise VipError(f"cannot {doing} {self.interface}: {_strerror(exc)}") from exc
        finally:
            ipr.close()

    def _link(self, ipr: Rtnl) -> _Link | None:
        try:
            link = ipr.link(self.interface)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        address = link.address
        return _Link(
            index=link.index,
            flags=link.flags,
            operstate=link.operstate,
            mac=address if address is not None and len(address) == 6 else None,  # Ethernet
            hwtype=link.hwtype,
        )

    def _require_link(self, ipr: Rtnl) -> _Link:
        link = self._link(ipr)
        if link is None:
            raise VipError(f"interface {self.interface} does not exist")
        return link

    def _held_prefixes(self, ipr: Rtnl, link: _Link) -> list[int]:
        """Prefix lengths with which the VIP is on the interface (usually zero or one)."""
        ip = str(self.ip)
        return [
            a.prefixlen for a in ipr.addresses(AF_INET) if a.index == link.index and a.address == ip
        ]

    def _ethernet_mac(self, link: _Link) -> bytes:
        if link.hwtype != arp.ARPHRD_ETHER or link.mac is None:
            raise VipError(
                f"interface {self.interface} is not Ethernet (ARP hardware type "
                f"{link.hwtype}): a VIP needs ARP, which needs an Ethernet interface"
            )
        return link.mac
