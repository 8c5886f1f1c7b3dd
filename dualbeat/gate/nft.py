"""The real client gate: the ``nft`` command with a JSON ruleset, and ``ss -K``.

Why the CLI rather than a binding: libnftables' Python module is not on PyPI, and ``nft
-j -f -`` takes exactly the JSON that ``ruleset`` builds, in one atomic transaction. Why
``ss -K`` rather than pyroute2: pyroute2 (0.9) can list sockets through sock_diag but has
no SOCK_DESTROY request; ``ss`` (iproute2) sends it for every socket its filter selects
and prints each one it destroyed, with ``-p`` the process and descriptor holding it (for
``drain``). Each call is one short subprocess (a few ms), bounded
by ``timeout``, run in the calling thread's network namespace (a child inherits it).

When the kernel lacks SOCK_DESTROY (``CONFIG_INET_DIAG_DESTROY`` off), ``ss -K`` destroys
nothing; the shut table still answers the client's next segment with a reset, so a client
that sends anything (a retransmission, a keepalive, its next query) is released at once.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from ipaddress import IPv4Address, ip_address

from dualbeat.config import Config
from dualbeat.errors import GateError
from dualbeat.gate import drain, ruleset, window
from dualbeat.gate.base import Shut
from dualbeat.gate.ruleset import Address, GateSpec

DEFAULT_TIMEOUT = 2.0
log = logging.getLogger("dualbeat.gate")


class _Drainer:
    """``drain`` in a daemon thread, then ``after(pid)`` with the server process whose
    connections were destroyed (``window``); its count is logged and kept."""

    def __init__(self, inodes: set[int], after: Callable[[int], None]) -> None:
        self._count: int | None = None
        self._thread = threading.Thread(target=self._run, args=(inodes, after), daemon=True)
        self._thread.start()

    def _run(self, inodes: set[int], after: Callable[[int], None]) -> None:
        held = drain.owners(inodes) if inodes else []
        self._count = sum(1 for owner in held if drain.drain(owner))
        if self._count:
            log.warning(
                "drained unread client statements from %d destroyed connection(s): the "
                "server had not read them and never will",
                self._count,
            )
        if held:
            after(held[0].pid)

    def result(self, timeout: float) -> int | None:
        self._thread.join(timeout)
        return self._count


class NftGate:
    """Shuts and opens the MySQL port to clients in this network namespace."""

    def __init__(
        self,
        spec: GateSpec,
        timeout: float = DEFAULT_TIMEOUT,
        windows: window.Recorder | None = None,
    ) -> None:
        self.spec, self.timeout, self.windows = spec, timeout, windows
        self._drainer: _Drainer | None = None
        self._arp_silent: bool | None = None  # unknown until the first shut or answer
        # A window is opened only while the shut that destroyed the connections holds:
        # ``_shuts`` numbers the shuts, ``_shut`` says whether the last one holds.
        self._lock = threading.Lock()
        # Shuts and opens one at a time (the handoff lane and the main lane both may):
        # a brief shut's open must not land after a demotion's shut.
        self._steps = threading.Lock()
        self._shuts = 0
        self._shut = False

    def __repr__(self) -> str:
        return f"NftGate(port {self.spec.port})"

    def shut(self) -> Shut:
        """Reject new client connections with a reset, then destroy the established ones,
        and stop answering ARP for the VIP (a handoff).

        The table goes first, so a client whose connection is destroyed cannot reconnect
        in between; idempotent."""
        with self._steps:
            return self._shut_now(silence_arp=True)

    @contextmanager
    def shut_briefly(self) -> Iterator[Shut | None]:
        """Shut the gate for the span of one step of a node that stays active (the source
        side of semi-sync switched off when the peer fell silent: the commits it releases
        must answer no client that may be cut off with this node), then open it again.
        ARP is still answered: this node keeps the VIP.

        Yields None and does nothing when the gate is shut already (a demotion's shut: it
        is not this step's to open). The gate stays shut when another shut came meanwhile
        (a demotion during the step)."""
        shut: Shut | None = None
        with self._steps:
            if not self._shut:
                shut, mine = self._shut_now(silence_arp=False), self._shuts
        if shut is not None:
            # The window is opened by the drainer, which must find the server process
            # through the destroyed connections' descriptors: before the step, which
            # lets the server answer (and close) them.
            self.drained(self.timeout)
        try:
            yield shut
        finally:
            if shut is not None:
                with self._steps:
                    if self._shuts == mine and self._shut:
                        self._open_now()

    def _shut_now(self, silence_arp: bool) -> Shut:
        self._nft(ruleset.shut(self.spec, silence_arp), "shut the MySQL port to clients")
        if silence_arp:
            self._arp_silent = self.spec.vip is not None
        with self._lock:
            self._shuts += 1
            self._shut = True
        return self.destroy()

    def destroy(self) -> Shut:
        """Destroy the established client connections to the port; then, in a thread of
        its own, drain what their clients sent that the server has not read (``drain``:
        finding the owners reads /proc, tens of ms the VIP release must not wait for;
        the server thawing within them is the one case it does not cover)."""
        out = self._run(
            ["ss", "-K", "-t", "-n", "-e", "-H", *ruleset.destroy_filter(self.spec)],
            "destroy the client connections",
        )
        lines = [line for line in out.splitlines() if line.strip()]
        inodes = {i for i in map(drain.inode, lines) if i is not None}
        shut, at = self._shuts, time.monotonic()  # no answer reaches a client after this
        self._drainer = _Drainer(inodes, lambda pid: self._open_window(pid, shut, at))
        return Shut(destroyed=len(lines))

    def _open_window(self, pid: int, shut: int, at: float) -> None:
        with self._lock:
            if self.windows is not None and self._shut and self._shuts == shut:
                self.windows.opened(pid, shut, at)

    def drained(self, timeout: float) -> int | None:
        """How many connections the last ``destroy`` drained bytes from (None: not done
        within ``timeout``, or no destroy yet)."""
        return None if self._drainer is None else self._drainer.result(timeout)

    def open(self) -> None:
        """Remove the gate's table (absent already is success). The ARP table stays: a
        released VIP may still be on this host for its grace; a claim removes it.

        The last destroy's drainer is waited for first (at most ``timeout``): it opens
        the window, and a server that did not freeze is read-only again within tens of
        ms, often before the drainer has found its process; without the wait that shut
        would leave no window (a link-down's commit waiting for its acknowledgement)."""
        self.drained(self.timeout)
        with self._steps:
            self._open_now()

    def _open_now(self) -> None:
        with self._lock:  # before the port opens: the window ends while it is shut
            self._shut = False
            if self.windows is not None:
                self.windows.closing()
        self._nft(ruleset.opened(), "open the MySQL port to clients")

    def is_arp_silent(self) -> bool:
        """Whether the last shut also stopped this host answering ARP for the VIP."""
        return self._arp_silent is True

    def answer_arp(self) -> None:
        """Answer ARP for the VIP again (before claiming it; absent already is success).
        Skipped when known not silenced; the first call after a start always runs (a
        crashed agent may have left the table behind)."""
        if self.spec.vip is not None and self._arp_silent is not False:
            self._nft(ruleset.answer_arp(), "answer ARP for the VIP again")
        self._arp_silent = False

    def is_shut(self) -> bool:
        """Whether the gate's table is in place (read from the kernel)."""
        out = self._run(["nft", "-j", "list", "tables", ruleset.FAMILY], "list nftables tables")
        try:
            items = json.loads(out)["nftables"]
        except (ValueError, KeyError, TypeError) as exc:
            raise GateError(f"nft printed what is not its JSON: {out[:200]!r}") from exc
        return any(
            item.get("table", {}).get("name") == ruleset.TABLE
            for item in items
            if isinstance(item, dict)
        )

    def _nft(self, commands: dict[str, object], doing: str) -> None:
        self._run(["nft", "-j", "-f", "-"], doing, stdin=json.dumps(commands))

    def _run(self, argv: Sequence[str], doing: str, stdin: str | None = None) -> str:
        try:
            proc = subprocess.run(
                list(argv),
                input=stdin,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise GateError(
                f"cannot {doing}: {argv[0]} not found (install nftables and iproute2)"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise GateError(
                f"cannot {doing}: {argv[0]} gave no answer in {self.timeout:g} s"
            ) from exc
        if proc.returncode != 0:
            detail = proc.stderr.strip() or f"exit status {proc.returncode}"
            if "Operation not permitted" in detail:
                detail += " (dualbeat needs root or CAP_NET_ADMIN)"
            raise GateError(f"cannot {doing}: {argv[0]}: {detail}")
        return proc.stdout


def spec_from_config(config: Config, node: str) -> GateSpec:
    """This node's MySQL port, with both nodes' addresses (node, MySQL host when it is an
    address, every heartbeat link) allowed: see ``ruleset`` for why by source address."""
    addresses: list[Address] = []
    for n in config.nodes:
        addresses.append(n.address)
        with suppress(ValueError):  # a host name: its connections come from the node's address
            addresses.append(ip_address(n.mysql_address))
    for link in config.heartbeat_links():
        addresses.extend(link.addresses.values())
    vip = config.vip.address.ip if config.vip is not None else None
    return ruleset.spec_for(
        config.node(node).mysql_port,
        addresses,
        vip if isinstance(vip, IPv4Address) else None,
    )
