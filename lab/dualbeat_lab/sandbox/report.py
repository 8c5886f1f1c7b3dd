"""The lab's status as data, and its plain-text rendering for ``dualbeat sandbox status``.

Why data first: the integration tests assert on fields (alive, read_only, server_id), the
CLI prints ``render()``; neither parses the other's output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostStatus:
    """One host namespace: does it exist, and which IPv4 addresses does each interface hold."""

    name: str
    namespace_present: bool
    addresses: dict[str, list[str]]


@dataclass(frozen=True)
class ServerStatus:
    """One private mariadbd, seen through its pid, its unix socket and the client's LAN."""

    name: str
    pid: int | None
    alive: bool
    socket_ok: bool  # root answered over the unix socket
    tcp_ok: bool  # the client namespace got a MySQL greeting over the LAN
    tcp_detail: str
    read_only: bool | None
    server_id: int | None
    gtid_domain_id: int | None
    frozen: bool = False  # stopped by SIGSTOP (``mariadb.freeze``)
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.alive and self.socket_ok and self.tcp_ok


@dataclass(frozen=True)
class WitnessStatus:
    """The witness's etcd: its pid and whether each client URL answers ``/health``."""

    pid: int | None
    frozen: bool
    endpoints: tuple[str, ...]
    healthy: dict[str, bool]

    @property
    def ok(self) -> bool:
        return self.pid is not None and all(self.healthy.get(e) for e in self.endpoints)

    def render(self) -> str:
        if self.pid is None:
            return "  witness etcd not running"
        if self.frozen:
            return f"  witness etcd pid {self.pid}: FROZEN (SIGSTOP)"
        urls = ", ".join(f"{e} {'ok' if self.healthy.get(e) else 'FAIL'}" for e in self.endpoints)
        return f"  witness etcd pid {self.pid}: {urls}"


@dataclass(frozen=True)
class LabStatus:
    state_dir: Path
    config_present: bool
    switch_present: bool
    hosts: tuple[HostStatus, ...]
    servers: tuple[ServerStatus, ...]
    witness: WitnessStatus | None = None  # only in labs built with --arbiter

    @property
    def healthy(self) -> bool:
        return (
            self.config_present
            and self.switch_present
            and all(h.namespace_present for h in self.hosts)
            and all(s.healthy for s in self.servers)
            and (self.witness is None or self.witness.ok)
        )

    @property
    def absent(self) -> bool:
        """Nothing of the lab exists (after ``down``)."""
        return (
            not self.switch_present
            and not any(h.namespace_present for h in self.hosts)
            and not any(s.alive for s in self.servers)
            and not self.state_dir.exists()
        )

    def server(self, name: str) -> ServerStatus:
        return next(s for s in self.servers if s.name == name)

    def render(self) -> str:
        if self.absent:
            return f"sandbox is down (nothing in {self.state_dir}, no namespaces)"
        lines = [
            f"sandbox {'healthy' if self.healthy else 'NOT healthy'} (state: {self.state_dir}; "
            f"config {'present' if self.config_present else 'missing'}; "
            f"switch namespace {'present' if self.switch_present else 'missing'})"
        ]
        for h in self.hosts:
            if not h.namespace_present:
                lines.append(f"  {h.name:<7} namespace missing")
                continue
            addrs = ", ".join(
                f"{ifname} {' '.join(a)}" for ifname, a in sorted(h.addresses.items())
            )
            lines.append(f"  {h.name:<7} {addrs}")
        for s in self.servers:
            if not s.alive:
                lines.append(f"  {s.name:<7} mariadbd not running")
                continue
            if s.frozen:
                lines.append(
                    f"  {s.name:<7} mariadbd pid {s.pid}: FROZEN (SIGSTOP; thaw to resume)"
                )
                continue
            ro = {True: "read-only", False: "WRITABLE", None: "read_only unknown"}[s.read_only]
            lines.append(
                f"  {s.name:<7} mariadbd pid {s.pid}: socket {'ok' if s.socket_ok else 'FAIL'}, "
                f"tcp from client {'ok' if s.tcp_ok else 'FAIL (' + s.tcp_detail + ')'}, {ro}, "
                f"server_id {s.server_id}, gtid_domain_id {s.gtid_domain_id}"
                + (f"; error: {s.error}" if s.error else "")
            )
        if self.witness is not None:
            lines.append(self.witness.render())
        return "\n".join(lines)
