"""``dualbeat repl setup``: turn two servers into a dual-master pair, idempotently.

Order matters and is deliberate:
1. look before touching: both servers are read and every refusal (missing static setting,
   diverging data, mixed flavours) is raised before the first change;
2. dynamic settings are fixed with SET GLOBAL (and listed for my.cnf, since MariaDB has no
   SET PERSIST and a restart would undo them);
3. the replication user is created with the binary log off on each server, so it never
   replicates into an "already exists" error;
4. each direction is (re)pointed only when it is not already replicating from the peer;
5. the passive is made read-only *before* the active is made writable, so there is never a
   moment with two writers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from dualbeat.config import Config
from dualbeat.errors import MysqlError, MysqlMisconfigured, RefusedError, UsageError
from dualbeat.mysql import accounts, control, snapshot
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import ThreadState
from dualbeat.mysql.endpoints import servers
from dualbeat.mysql.snapshot import ServerSnapshot

Progress = Callable[[str], None]
REPLICATION_START_TIMEOUT = 30.0
ACCESS_DENIED = 1045


@dataclass
class SetupReport:
    active: str
    passive: str
    changes: list[str] = field(default_factory=list)
    persist: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> my.cnf lines


def _static_problems(snap: ServerSnapshot) -> list[str]:
    """Settings that need my.cnf and a restart: we refuse rather than half-configure."""
    problems = []
    if not snap.flag("log_bin"):
        problems.append("log_bin is OFF (my.cnf: log_bin=mysql-bin)")
    if not snap.flag("log_replica_updates", "log_slave_updates"):
        problems.append("log_slave_updates is OFF (my.cnf: log_slave_updates=ON)")
    if not snap.is_mariadb and (snap.var("gtid_mode") or "").upper() != "ON":
        problems.append(
            "gtid_mode is not ON (my.cnf: gtid_mode=ON, enforce_gtid_consistency=ON; on a "
            "running MySQL follow the online procedure OFF_PERMISSIVE -> ON_PERMISSIVE -> ON)"
        )
    return problems


def divergence(a: ServerSnapshot, b: ServerSnapshot) -> str | None:
    """Why these two servers cannot simply start replicating from each other, or None.

    Diverged means each holds transactions the other lacks: replication would apply both
    sides' changes on top of different data. Databases present on both with no transaction
    history at all are data loaded outside the binary log, which dualbeat cannot verify.
    """
    only_a, only_b = a.executed - b.executed, b.executed - a.executed
    if only_a and only_b:
        return (
            f"the servers have diverged: {a.node} has {only_a.count()} transaction(s) "
            f"{b.node} lacks ({only_a}) and {b.node} has {only_b.count()} {a.node} lacks "
            f"({only_b})"
        )
    if not a.executed and not b.executed and a.user_schemas and b.user_schemas:
        return (
            f"both servers hold databases ({', '.join(a.user_schemas)} / "
            f"{', '.join(b.user_schemas)}) that no GTID accounts for: `dualbeat checksum` "
            "compares them (repl setup goes on when they are equal); if they differ, rebuild "
            "one server from a backup of the other"
        )
    return None


def _dynamic_settings(index: int, snap: ServerSnapshot, other: ServerSnapshot) -> dict[str, str]:
    """The SET GLOBAL values this server needs (only those that differ)."""
    want: dict[str, str] = {
        "binlog_format": "ROW",
        "auto_increment_increment": "2",
        "auto_increment_offset": str(index + 1),
    }
    if snap.number("server_id") in (None, 0, other.number("server_id")) and index == 1:
        want["server_id"] = str((other.number("server_id") or 0) + 1)
    timeout = snap.number("replica_net_timeout", "slave_net_timeout")
    if timeout is None or timeout > 20:
        name = "replica_net_timeout" if snap.var("replica_net_timeout") else "slave_net_timeout"
        want[name] = "10"
    if (
        snap.is_mariadb
        and index == 1
        and snap.number("gtid_domain_id") == other.number("gtid_domain_id")
    ):
        want["gtid_domain_id"] = str((other.number("gtid_domain_id") or 0) + 1)
    return {k: v for k, v in want.items() if (snap.var(k) or "").upper() != v.upper()}


def _fully_read_only(snap: ServerSnapshot) -> bool:
    """read_only, and super_read_only where the server has it (it stops SUPER users too)."""
    return bool(snap.flag("read_only")) and snap.flag("super_read_only") is not False


def _replicating_from(snap: ServerSnapshot, host: str, port: int) -> bool:
    r = snap.replica
    return (
        r is not None
        and (r.source_host, r.source_port) == (host, port)
        and r.auto_position
        and r.io_state is ThreadState.RUNNING
        and r.sql_state is ThreadState.RUNNING
    )


def _wait_running(server: Server, timeout: float) -> None:
    """Poll the replica threads until both run, or raise with the server's own error text.

    An I/O thread that keeps retrying (CONNECTING) is given the whole timeout, as the
    peer may still be starting, except when the error says our credentials are wrong.
    """
    d = server.dialect
    deadline = time.monotonic() + timeout
    while True:
        status = d.parse_replica_status(server.query(d.replica_status()))
        if status is not None and status.running:
            return
        if status is not None and status.last_io_errno == ACCESS_DENIED:
            raise MysqlMisconfigured(
                server.name,
                f"the replication user cannot log in to the peer: {status.last_io_error} "
                "(check [replication] user and password, and that the user exists on both)",
                status.last_io_errno,
            )
        stopped = status is not None and ThreadState.STOPPED in (status.io_state, status.sql_state)
        if status is None or (stopped and status.has_error) or time.monotonic() > deadline:
            what = (
                f"I/O {status.io_state.name} (error {status.last_io_errno} "
                f"{status.last_io_error!r}), SQL {status.sql_state.name} (error "
                f"{status.last_sql_errno} {status.last_sql_error!r})"
                if status
                else "no replication configured"
            )
            raise MysqlError(server.name, f"replication did not start: {what}")
        time.sleep(0.2)


def setup_pair(
    config: Config,
    *,
    active: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    create_agent_user: bool = False,
    progress: Progress = lambda _msg: None,
) -> SetupReport:
    """Make the configured pair replicate both ways with ``active`` writable; see module doc.
    With ``create_agent_user`` (needs ``[admin]``) also create the ``[mysql]`` account."""
    if create_agent_user and config.admin is None:
        raise UsageError(
            f"{config.source}: --create-agent-user needs an [admin] account allowed to create users"
        )
    active_name = active or config.nodes[0].name
    passive_name = config.peer_of(active_name).name
    pair = servers(config, admin=True)
    try:
        return _setup(
            config, pair, active_name, passive_name, force, dry_run, create_agent_user, progress
        )
    finally:
        for server in pair:
            server.close()


def _preflight(
    config: Config, snaps: dict[str, ServerSnapshot], force: bool, progress: Progress
) -> None:
    """Every refusal, raised before the first change: families, static settings, divergence."""
    a, b = (snaps[n.name] for n in config.nodes)
    if a.version.flavor is not b.version.flavor:
        raise RefusedError(
            f"{a.node} runs {a.version.raw} and {b.node} runs {b.version.raw}: a dual-master "
            "pair must use one server family (GTIDs differ between MySQL and MariaDB)"
        )
    problems = [f"{s.node}: {p}" for s in (a, b) for p in _static_problems(s)]
    if problems:
        raise RefusedError(
            "cannot set up replication until these are fixed:\n  " + "\n  ".join(problems)
        )
    already = all(
        _replicating_from(
            snaps[n.name], config.peer_of(n.name).mysql_address, config.peer_of(n.name).mysql_port
        )
        for n in config.nodes
    )
    if not already and (why := divergence(a, b)):
        if force:
            progress(f"WARNING: {why}; continuing because of --force")
        elif not untracked_only(a, b):
            raise RefusedError(
                f"refusing to set up replication: {why}. Use --force to replicate anyway."
            )
        elif _same_data(config, a, b, progress):
            progress("their checksums are equal: the servers hold the same data; continuing")
        else:
            raise RefusedError(
                f"refusing to set up replication: {why}. Their checksums differ. Use --force "
                "to replicate anyway."
            )


def untracked_only(a: ServerSnapshot, b: ServerSnapshot) -> bool:
    """Both hold databases but neither has a transaction history: data loaded outside the
    binary log (a restored backup, a clone), which only a checksum can compare."""
    return not a.executed and not b.executed and bool(a.user_schemas and b.user_schemas)


def _same_data(config: Config, a: ServerSnapshot, b: ServerSnapshot, progress: Progress) -> bool:
    """Compare the untracked databases with ``dualbeat checksum``'s engine, on connections
    of their own (its sessions are read-only, the setup's must not be)."""
    from dualbeat.checksum.compare import checksum_servers

    if set(a.user_schemas) != set(b.user_schemas):
        return False
    progress(f"comparing {', '.join(a.user_schemas)} on both servers (dualbeat checksum)")
    first, second = servers(config, admin=True)
    with first, second:
        report = checksum_servers(first, second, databases=a.user_schemas)
    progress(f"checksum: {len(report.tables)} table(s), {report.rows} row(s), equal={report.equal}")
    return report.equal


def _setup(
    config: Config,
    pair: tuple[Server, Server],
    active_name: str,
    passive_name: str,
    force: bool,
    dry_run: bool,
    create_agent_user: bool,
    progress: Progress,
) -> SetupReport:
    report = SetupReport(active=active_name, passive=passive_name)
    by_name = {s.name: s for s in pair}
    snaps = {}
    for server in pair:
        progress(f"{server.name}: connecting to {server.endpoint.describe()}")
        snaps[server.name] = snapshot.take(server)
        progress(f"{server.name}: {snaps[server.name].version.raw}")
    _preflight(config, snaps, force, progress)

    def do(server: Server, what: str, action: Callable[[], None]) -> None:
        report.changes.append(f"{server.name}: {what}")
        progress(f"{server.name}: {what}" + (" (dry run)" if dry_run else ""))
        if not dry_run:
            action()

    for index, node in enumerate(config.nodes):
        server, snap = by_name[node.name], snaps[node.name]
        changes = _dynamic_settings(index, snap, snaps[config.peer_of(node.name).name])
        for name, value in changes.items():
            do(
                server,
                f"SET GLOBAL {name}={value} (was {snap.var(name)})",
                # A number goes as a number: MariaDB refuses '2' for an integer variable.
                partial(server.set_globals, {name: int(value) if value.isdigit() else value}),
            )
        if changes:
            report.persist[node.name] = changes

    repl = config.replication
    if config.admin is not None:
        for server in pair:
            node, peer = config.node(server.name), config.peer_of(server.name)
            if _replicating_from(snaps[peer.name], node.mysql_address, node.mysql_port):
                continue  # the peer already logs in here as the replication user
            do(
                server,
                f"ensure replication user {repl.user!r} (not binlogged)",
                partial(
                    accounts.ensure_user,
                    server,
                    repl.user,
                    repl.secret(),
                    accounts.Grant.REPLICATION,
                ),
            )
    else:
        progress(f"no [admin] credentials: assuming replication user {repl.user!r} exists on both")
    if create_agent_user:
        agent = config.mysql
        for server in pair:
            do(
                server,
                f"ensure agent user {agent.user!r} (not binlogged)",
                partial(accounts.ensure_agent_user, server, agent.user, agent.secret()),
            )

    for node in config.nodes:
        server, peer = by_name[node.name], config.peer_of(node.name)
        if _replicating_from(snaps[node.name], peer.mysql_address, peer.mysql_port):
            progress(f"{node.name}: already replicating from {peer.name}; left alone")
            continue
        d = server.dialect
        change = d.change_source(
            peer.mysql_address,
            peer.mysql_port,
            repl.user,
            repl.secret(),
            connect_retry=repl.connect_retry,
            heartbeat_period=repl.heartbeat_period,
        )
        do(
            server,
            f"replicate from {peer.name} ({peer.mysql_address}:{peer.mysql_port}) with GTID",
            partial(server.execute, d.stop_replica(), change, d.start_replica()),
        )

    if not dry_run:
        for server in pair:
            progress(f"{server.name}: waiting for replication threads")
            _wait_running(server, REPLICATION_START_TIMEOUT)
            progress(f"{server.name}: I/O and SQL threads running")

    passive, active_server = by_name[passive_name], by_name[active_name]
    if not _fully_read_only(snaps[passive_name]):
        do(
            passive,
            "read-only (passive)",
            partial(passive.execute, *passive.dialect.set_read_only(True)),
        )
    if not snaps[active_name].writable:
        do(
            active_server,
            "writable (active)",
            partial(active_server.execute, *active_server.dialect.set_read_only(False)),
        )
    if not dry_run:
        # idempotent; in the active's own GTID domain; replicates to the passive
        control.ensure_schema(active_server, domain=config.internal_domain(active_name))
        progress(f"{active_name}: dualbeat schema present (heartbeat and epoch tables)")
    return report
