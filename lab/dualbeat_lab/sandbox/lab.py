"""Build, inspect and remove the whole lab: ``up``, ``status``, ``down``.

Why every step is "ensure" rather than "create": ``up`` must end in the same healthy lab
whether it starts from nothing, from a running lab, or from the debris of a killed run, and
``down`` must work after a crash, on nothing, and twice in a row. Running servers are left
alone by ``up`` (their pids do not change), so tests can call it freely.

``up`` returns a ``LabInfo`` (config path, secrets, per-node sockets and endpoints) so that
later steps (``repl setup``, the application database) are a clean addition by the caller.
Note that the node addresses are only reachable from inside the lab's namespaces; from the
root namespace use the unix sockets (``NodeInfo.root_endpoint``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dualbeat.mysql import accounts
from dualbeat.mysql.connection import Endpoint, Server
from dualbeat.mysql.replica_status import to_flag
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import mariadb, netns, witness
from dualbeat_lab.sandbox.files import ADMIN_USER, Secrets, render_config, write_text
from dualbeat_lab.sandbox.layout import HEARTBEAT, WITNESS, Lab, NodePaths, standard_lab
from dualbeat_lab.sandbox.probe import http_probe, tcp_probe
from dualbeat_lab.sandbox.report import HostStatus, LabStatus, ServerStatus, WitnessStatus

Progress = Callable[[str], None]
NEED_ROOT = (
    "dualbeat sandbox needs root: it creates network namespaces and runs mariadbd as the "
    "mysql user; run it with sudo"
)
REACH_TIMEOUT = 15.0


def _quiet(_: str) -> None:
    """Default progress callback: say nothing."""


@dataclass(frozen=True)
class NodeInfo:
    """One database host of a running lab."""

    name: str
    lan_address: str
    hb_address: str
    server_id: int
    mysql_port: int
    paths: NodePaths
    pid: int
    started: bool  # False when ``up`` found it already running
    _lab: Lab

    @property
    def socket(self) -> Path:
        return self.paths.socket

    def root_endpoint(self) -> Endpoint:
        """root over the unix socket: works from the root namespace."""
        return mariadb.root_endpoint(self._lab, self.name)


@dataclass(frozen=True)
class LabInfo:
    """What ``up`` built: where the config and secrets are and how to reach each server."""

    lab: Lab
    config_path: Path
    secrets: Secrets
    nodes: tuple[NodeInfo, ...]

    @property
    def client_namespace(self) -> str:
        return self.lab.client.name

    @property
    def arbiter_endpoints(self) -> tuple[str, ...]:
        """The witness's etcd client URLs (empty in a lab without ``--arbiter``)."""
        return self.lab.arbiter_endpoints

    def node(self, name: str) -> NodeInfo:
        for n in self.nodes:
            if n.name == name:
                return n
        raise SandboxError(f"no database node {name!r} in the sandbox")

    def admin_endpoint(self, name: str) -> Endpoint:
        """The dualbeat account over TCP (reachable only from inside the lab's namespaces)."""
        n = self.node(name)
        return Endpoint(
            name=n.name,
            host=n.lan_address,
            port=n.mysql_port,
            user=ADMIN_USER,
            password=self.secrets.password(ADMIN_USER),
        )

    def how_to_connect(self) -> str:
        lines = [f"config: {self.config_path}"]
        for n in self.nodes:
            lines.append(
                f"{n.name}: {n.lan_address}:{n.mysql_port} (pid {n.pid}); as root: "
                f"mariadb --defaults-file={n.paths.my_cnf}"
            )
        if self.arbiter_endpoints:
            lines.append(f"witness: etcd at {', '.join(self.arbiter_endpoints)}")
        lines.append(
            f"run commands inside the lab: ip netns exec {self.client_namespace} "
            f"dualbeat -c {self.config_path} status"
        )
        return "\n".join(lines)


def check_prerequisites() -> mariadb.Binaries:
    """Root and the MariaDB binaries; raises SandboxError saying what to do otherwise."""
    if os.geteuid() != 0:
        raise SandboxError(NEED_ROOT)
    if shutil.which("ip") is None and not Path("/usr/sbin/ip").exists():
        raise SandboxError("the ip command is missing: apt-get install iproute2")
    return mariadb.find_binaries()


# --- up -----------------------------------------------------------------------------------


def _ensure_network(lab: Lab, progress: Progress) -> None:
    progress(f"network: namespaces {', '.join(lab.namespaces)}; bridges in {lab.switch}")
    for ns in lab.namespaces:
        netns.ensure_namespace(ns)
    for net in lab.networks:
        netns.ensure_bridge(lab.switch, net.bridge)
    for host in lab.hosts:
        for iface in host.interfaces:
            netns.ensure_veth(
                host.name,
                iface.ifname,
                switch_ns=lab.switch,
                peer=iface.peer(host.name),
                bridge=iface.network.bridge,
                cidr=iface.cidr,
            )


def _wait_reachable(lab: Lab, progress: Progress) -> None:
    """Every server greets the client over the LAN; db hosts reach each other on every link."""
    progress("checking TCP reachability inside the lab")
    checks: list[tuple[str, list[str], bool]] = [
        (lab.client.name, [f"{h.lan_address}:{lab.mysql_port}" for h in lab.db_hosts], True)
    ]
    for a in lab.db_hosts:  # mariadbd listens on the LAN only: a refusal proves the hb path
        for b in lab.db_hosts:
            addr = b.address(HEARTBEAT)
            if a is not b and addr is not None:
                checks.append((a.name, [f"{addr}:{lab.mysql_port}"], False))
    deadline = time.monotonic() + REACH_TIMEOUT
    for ns, targets, need_greeting in checks:
        while True:
            found = tcp_probe(ns, targets)
            bad = [r for r in found.values() if not (r.greeted if need_greeting else r.reachable)]
            if not bad:
                break
            if time.monotonic() >= deadline:
                detail = "; ".join(f"{r.target}: {r.detail}" for r in bad)
                raise SandboxError(f"from namespace {ns}: {detail}")
            time.sleep(0.2)
    urls = [f"{e}/health" for e in lab.arbiter_endpoints]
    for a in lab.db_hosts if urls else ():  # etcd answers both nodes on both networks
        while True:
            answers = http_probe(a.name, urls)
            failed = [f"{u}: {d}" for u, (ok, d) in answers.items() if not ok]
            if not failed:
                break
            if time.monotonic() >= deadline:
                raise SandboxError(f"from namespace {a.name}: {'; '.join(failed)}")
            time.sleep(0.2)


def up(
    state_dir: Path | str | None = None,
    progress: Progress = _quiet,
    *,
    cache_dir: Path | str | None = None,
    arbiter: bool = False,
) -> LabInfo:
    """Build or repair the lab; returns what later steps need. Idempotent.

    ``arbiter`` adds the witness host running etcd, and an [arbiter] section in the
    generated config. A lab that already has a witness keeps it (so ``up`` used to restart
    a killed server never removes the arbiter); ``down`` removes it.
    """
    started_at = time.monotonic()
    binaries = check_prerequisites()
    lab = _lab(state_dir, cache_dir, arbiter)
    if lab.witness is not None:
        witness.etcd_binary()  # fail before building anything when etcd is missing
    if lab.state_dir.exists() and not lab.marker.exists() and any(lab.state_dir.iterdir()):
        raise SandboxError(f"{lab.state_dir} exists, is not empty and was not made by the sandbox")
    lab.state_dir.mkdir(parents=True, exist_ok=True)
    lab.state_dir.chmod(0o755)  # mariadbd (user mysql) must traverse it
    lab.marker.touch()

    _ensure_network(lab, progress)
    sec = Secrets(lab.secrets_dir)
    sec.ensure()
    template = mariadb.ensure_template(lab, binaries, progress)

    pending: dict[str, tuple[int, int]] = {}
    running: dict[str, int] = {}
    for host in lab.db_hosts:
        mariadb.prepare_node(lab, host, template, progress)
        pid = mariadb.running_pid(lab, host.name)
        if pid is None:
            progress(f"{host.name}: starting mariadbd on {host.lan_address}:{lab.mysql_port}")
            pending[host.name] = mariadb.start(lab, host, binaries)
        else:
            progress(f"{host.name}: mariadbd already running (pid {pid})")
            running[host.name] = pid
    if lab.witness is not None:
        pid = witness.running_pid(lab)
        if pid is None:
            progress(f"witness: starting etcd on {', '.join(lab.arbiter_endpoints)}")
        pid = witness.start(lab)
        progress(f"witness: etcd ready (pid {pid})")
    for name, (pid, offset) in pending.items():
        mariadb.wait_ready(lab, name, pid, offset, mariadb.READY_TIMEOUT)
        progress(f"{name}: mariadbd ready (pid {pid})")
        running[name] = pid

    admin_password = sec.password(ADMIN_USER)
    for host in lab.db_hosts:
        with Server(mariadb.root_endpoint(lab, host.name)) as server:
            accounts.ensure_user(
                server, ADMIN_USER, admin_password, accounts.Grant.ADMIN, binlog=False
            )
    _wait_reachable(lab, progress)
    write_text(lab.config_path, render_config(lab, sec), 0o644)

    nodes = []
    for host in lab.db_hosts:
        assert host.server_id is not None
        nodes.append(
            NodeInfo(
                name=host.name,
                lan_address=host.lan_address,
                hb_address=host.address(HEARTBEAT) or "",
                server_id=host.server_id,
                mysql_port=lab.mysql_port,
                paths=lab.node_paths(host.name),
                pid=running[host.name],
                started=host.name in pending,
                _lab=lab,
            )
        )
    progress(f"lab up in {time.monotonic() - started_at:.1f} s")
    return LabInfo(lab=lab, config_path=lab.config_path, secrets=sec, nodes=tuple(nodes))


def _lab(state_dir: Path | str | None, cache_dir: Path | str | None, arbiter: bool) -> Lab:
    """The standard lab, with the witness when asked for or when one already exists."""
    has_witness = arbiter or netns.namespace_exists(WITNESS.name)
    return standard_lab(state_dir, cache_dir=cache_dir, witness=has_witness)


def server(state_dir: Path | str | None, node: str, action: str) -> int | None:
    """Stop or start one node's mariadbd, nothing else: the ``[rejoin]`` server commands
    of the lab's config, which a physical rebuild (``rejoin --method backup``) runs while
    the agents go on. Returns the pid stopped or started."""
    lab = standard_lab(state_dir)
    host = lab.host(node)
    if host.server_id is None:
        raise SandboxError(f"{node} runs no database")
    if action == "stop":
        return mariadb.stop(lab, node)
    if (pid := mariadb.running_pid(lab, node)) is not None:
        return pid
    binaries = check_prerequisites()
    pid, offset = mariadb.start(lab, host, binaries)
    mariadb.wait_ready(lab, node, pid, offset, mariadb.READY_TIMEOUT)
    return pid


# --- status -------------------------------------------------------------------------------


def status(
    state_dir: Path | str | None = None, *, cache_dir: Path | str | None = None
) -> LabStatus:
    """What exists and answers right now; never changes anything."""
    lab = _lab(state_dir, cache_dir, arbiter=False)
    hosts = tuple(
        HostStatus(h.name, netns.namespace_exists(h.name), netns.addresses(h.name))
        for h in lab.hosts
    )
    targets = {h.name: f"{h.lan_address}:{lab.mysql_port}" for h in lab.db_hosts}
    reach = tcp_probe(lab.client.name, list(targets.values()))
    servers = []
    for h in lab.db_hosts:
        pid = mariadb.running_pid(lab, h.name)
        variables: dict[str, str] = {}
        error = None
        frozen = pid is not None and netns.process_state(pid) == "T"
        if pid is not None and not frozen:
            try:
                ep = mariadb.root_endpoint(lab, h.name, read_timeout=2.0)
                with Server(ep) as server:
                    variables = server.variables(["read_only", "server_id", "gtid_domain_id"])
            except Exception as exc:  # status reports whatever is wrong, it never raises
                error = str(exc)
        r = reach[targets[h.name]]
        servers.append(
            ServerStatus(
                name=h.name,
                pid=pid,
                alive=pid is not None,
                socket_ok=bool(variables),
                tcp_ok=r.greeted,
                tcp_detail=r.detail,
                read_only=to_flag(variables.get("read_only")),
                server_id=_int(variables.get("server_id")),
                gtid_domain_id=_int(variables.get("gtid_domain_id")),
                frozen=frozen,
                error=error,
            )
        )
    return LabStatus(
        state_dir=lab.state_dir,
        config_present=lab.config_path.is_file(),
        switch_present=netns.namespace_exists(lab.switch),
        hosts=hosts,
        servers=tuple(servers),
        witness=_witness_status(lab),
    )


def _witness_status(lab: Lab) -> WitnessStatus | None:
    if lab.witness is None:
        return None
    pid = witness.running_pid(lab)
    frozen = pid is not None and netns.process_state(pid) == "T"
    answers = witness.health(lab) if pid is not None and not frozen else {}
    return WitnessStatus(
        pid=pid,
        frozen=frozen,
        endpoints=lab.arbiter_endpoints,
        healthy={url.removesuffix("/health"): ok for url, (ok, _) in answers.items()},
    )


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


# --- down ---------------------------------------------------------------------------------


def _stop_recorded(lab: Lab, progress: Progress) -> None:
    """Stop the processes the lab started: every ``*.pid`` under a host's directory that
    names a live process in that host's namespace (agents first, then mariadbd)."""
    for host in lab.hosts:
        root = lab.node_paths(host.name).root
        if not root.is_dir():
            continue
        paths = lab.node_paths(host.name)
        for pid_file in sorted(root.rglob("*.pid")):
            if pid_file == paths.pid_file or paths.data in pid_file.parents:
                continue
            pid = netns.read_pid(pid_file)
            if pid is not None and netns.is_ours(pid, (host.name,)):
                progress(f"{host.name}: stopping pid {pid} ({pid_file.name})")
                netns.stop_pid(pid)
    for host in lab.db_hosts:
        pid = mariadb.running_pid(lab, host.name)
        if pid is not None:
            progress(f"{host.name}: stopping mariadbd (pid {pid})")
            mariadb.stop(lab, host.name)


def down(
    state_dir: Path | str | None = None,
    progress: Progress = _quiet,
    purge_template: bool = False,
    *,
    cache_dir: Path | str | None = None,
) -> None:
    """Stop what the lab started, delete its namespaces and its state dir. Idempotent."""
    if os.geteuid() != 0:
        raise SandboxError(NEED_ROOT)
    lab = standard_lab(state_dir, cache_dir=cache_dir, witness=True)  # remove one if present
    if lab.state_dir.exists() and not lab.marker.exists() and any(lab.state_dir.iterdir()):
        raise SandboxError(
            f"refusing to delete {lab.state_dir}: it is not empty and has no {lab.marker.name} "
            "marker, so the sandbox did not make it"
        )
    _stop_recorded(lab, progress)
    for ns in (*(h.name for h in lab.hosts), lab.switch):  # switch last: it holds the bridges
        for pid in netns.namespace_pids(ns):
            progress(f"warning: pid {pid} still runs in namespace {ns} (not started by the lab)")
        if netns.delete_namespace(ns):
            progress(f"deleted namespace {ns}")
    if lab.state_dir.exists():
        progress(f"removing {lab.state_dir}")
        shutil.rmtree(lab.state_dir)
    if purge_template and lab.cache_dir.is_dir():
        for tpl in lab.cache_dir.glob("mariadb-template-*"):
            progress(f"removing template {tpl}")
            shutil.rmtree(tpl)
