"""Every dual-master pitfall, judged from two snapshots: a pure function, one rule each.

The rules follow the seed design's warnings: concurrent writes on both masters diverge
(offsets, read-only passive, errant transactions), and a failover can lose what was not
replicated (durability settings, semi-sync, lag, thread state).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dualbeat.config import SafetyWarning
from dualbeat.mysql.dialect import ThreadState
from dualbeat.mysql.internal import client_view
from dualbeat.mysql.snapshot import ServerSnapshot


class Status(enum.IntEnum):
    OK = 0
    WARN = 1
    FAIL = 2


@dataclass(frozen=True)
class CheckResult:
    """What one rule of ``repl check`` says about one node (or the pair, or the config).
    Not to be confused with ``dualbeat.core.roles.Finding``, the agent's verdict on a cycle."""

    check: str
    node: str
    status: Status
    detail: str
    hint: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "check": self.check,
            "node": self.node,
            "status": self.status.name,
            "detail": self.detail,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class Pair:
    """The two snapshots plus what the config says about them."""

    active: ServerSnapshot
    passive: ServerSnapshot
    addresses: dict[str, tuple[str, int]]  # node name -> (mysql host, port) as configured
    max_lag: float
    # ``config.safety_warnings``; None: not judged (no config at hand)
    safety: tuple[SafetyWarning, ...] | None = None
    # MariaDB GTID domains of dualbeat's own writes (``Config.internal_domains``): left
    # out of every comparison, and no server may use one as its gtid_domain_id
    internal_domains: frozenset[int] = frozenset()

    def both(self) -> tuple[ServerSnapshot, ServerSnapshot]:
        return (self.active, self.passive)

    def peer(self, snap: ServerSnapshot) -> ServerSnapshot:
        return self.passive if snap is self.active else self.active


Rule = Callable[[Pair], Iterator[CheckResult]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def check_pair(pair: Pair) -> list[CheckResult]:
    """All findings, in rule order."""
    return [finding for fn in RULES for finding in fn(pair)]


def worst(findings: list[CheckResult]) -> Status:
    return max((f.status for f in findings), default=Status.OK)


def _setting(
    check: str, snap: ServerSnapshot, ok: bool, detail: str, bad: Status, hint: str
) -> CheckResult:
    return CheckResult(check, snap.node, Status.OK if ok else bad, detail, "" if ok else hint)


@rule
def server_ids(pair: Pair) -> Iterator[CheckResult]:
    a, p = pair.active.number("server_id"), pair.passive.number("server_id")
    ok = a is not None and p is not None and a != p and 0 not in (a, p)
    yield CheckResult(
        "server_id",
        "pair",
        Status.OK if ok else Status.FAIL,
        f"{pair.active.node}={a}, {pair.passive.node}={p}",
        "" if ok else "each server needs its own non-zero server_id (my.cnf: server_id=N)",
    )


@rule
def binary_log(pair: Pair) -> Iterator[CheckResult]:
    for s in pair.both():
        on = bool(s.flag("log_bin"))
        yield _setting(
            "log_bin",
            s,
            on,
            f"log_bin={s.var('log_bin')}",
            Status.FAIL,
            "add log_bin=mysql-bin to my.cnf and restart: a master needs a binary log",
        )
        upd = bool(s.flag("log_replica_updates", "log_slave_updates"))
        yield _setting(
            "log_slave_updates",
            s,
            upd,
            f"log_slave_updates={s.var('log_replica_updates', 'log_slave_updates')}",
            Status.FAIL,
            "add log_slave_updates=ON to my.cnf and restart: without it the binary "
            "log misses the peer's transactions and GTID positions diverge",
        )
        fmt = (s.var("binlog_format") or "").upper()
        yield _setting(
            "binlog_format",
            s,
            fmt == "ROW",
            f"binlog_format={fmt}",
            Status.FAIL,
            "SET GLOBAL binlog_format=ROW and in my.cnf: lost-writes analysis and "
            "safe re-apply need row images",
        )


@rule
def auto_increment(pair: Pair) -> Iterator[CheckResult]:
    a, p = pair.active, pair.passive
    inc_a, inc_p = a.number("auto_increment_increment"), p.number("auto_increment_increment")
    off_a, off_p = a.number("auto_increment_offset"), p.number("auto_increment_offset")
    detail = (
        f"{a.node}: increment={inc_a} offset={off_a}; {p.node}: increment={inc_p} offset={off_p}"
    )
    ok = (
        inc_a is not None
        and inc_a == inc_p
        and inc_a >= 2
        and off_a is not None
        and off_p is not None
        and off_a % inc_a != off_p % inc_a
    )
    yield CheckResult(
        "auto_increment",
        "pair",
        Status.OK if ok else Status.FAIL,
        detail,
        ""
        if ok
        else "both servers: auto_increment_increment=2; offsets 1 and 2, so "
        "the two masters can never generate the same AUTO_INCREMENT key",
    )


@rule
def durability(pair: Pair) -> Iterator[CheckResult]:
    for s in pair.both():
        yield _setting(
            "sync_binlog",
            s,
            s.number("sync_binlog") == 1,
            f"sync_binlog={s.var('sync_binlog')}",
            Status.WARN,
            "sync_binlog=1: otherwise a crash can lose binlogged commits",
        )
        yield _setting(
            "innodb_flush_log_at_trx_commit",
            s,
            s.number("innodb_flush_log_at_trx_commit") == 1,
            f"innodb_flush_log_at_trx_commit={s.var('innodb_flush_log_at_trx_commit')}",
            Status.WARN,
            "innodb_flush_log_at_trx_commit=1: otherwise a crash can lose acknowledged commits",
        )
        yield _setting(
            "relay_log_recovery",
            s,
            bool(s.flag("relay_log_recovery")),
            f"relay_log_recovery={s.var('relay_log_recovery')}",
            Status.WARN,
            "relay_log_recovery=ON in my.cnf: a crashed replica refetches its relay "
            "log instead of applying a torn one",
        )


@rule
def gtid_mode(pair: Pair) -> Iterator[CheckResult]:
    a, p = pair.both()
    if a.is_mariadb:
        da, dp = a.number("gtid_domain_id"), p.number("gtid_domain_id")
        ok = da is not None and da != dp
        yield CheckResult(
            "gtid_domain_id",
            "pair",
            Status.OK if ok else Status.WARN,
            f"{a.node}={da}, {p.node}={dp}",
            ""
            if ok
            else "give each server its own gtid_domain_id so a write on the "
            "passive shows up as its own domain and never collides in strict mode",
        )
        for s in pair.both():
            own = s.number("gtid_domain_id")
            if own is not None and own in pair.internal_domains:
                yield CheckResult(
                    "gtid_domain_id",
                    s.node,
                    Status.FAIL,
                    f"gtid_domain_id={own} is one of dualbeat's own domains "
                    f"{sorted(pair.internal_domains)}",
                    "client writes there would be taken for dualbeat's own and never "
                    "fence a node: change the server's gtid_domain_id or "
                    "[replication].internal_domain_id",
                )
    else:
        for s in pair.both():
            ok = (s.var("gtid_mode") or "").upper() == "ON" and bool(
                s.flag("enforce_gtid_consistency")
            )
            yield _setting(
                "gtid_mode",
                s,
                ok,
                f"gtid_mode={s.var('gtid_mode')} "
                f"enforce_gtid_consistency={s.var('enforce_gtid_consistency')}",
                Status.FAIL,
                "gtid_mode=ON and enforce_gtid_consistency=ON are "
                "needed for auto-positioning and lost-writes analysis",
            )


@rule
def net_timeout(pair: Pair) -> Iterator[CheckResult]:
    for s in pair.both():
        value = s.number("replica_net_timeout", "slave_net_timeout")
        ok = value is not None and value <= 20
        yield _setting(
            "slave_net_timeout",
            s,
            ok,
            f"slave_net_timeout={value}",
            Status.WARN,
            "SET GLOBAL slave_net_timeout=10 (and my.cnf): with the default 60 s a "
            "replica notices a silent source only after a minute",
        )


_AUTOSTART_HINT = (
    "add skip_slave_start to my.cnf ([mariadbd]; skip_replica_start on MySQL 8.0.26+) and "
    "restart: without it a restarted server starts replicating by itself, even from a "
    "fenced peer whose transactions nobody reviewed; dualbeat starts replication itself"
)


@rule
def replica_autostart(pair: Pair) -> Iterator[CheckResult]:
    """Replication must start only when the agent decides (issue 12 item 6). MySQL shows
    the setting as a variable; MariaDB 10.x accepts it only as an option and shows it
    nowhere over SQL, so there the check can only remind."""
    for s in pair.both():
        on = s.flag("skip_replica_start", "skip_slave_start")
        if on is None:
            yield CheckResult(
                "skip_slave_start",
                s.node,
                Status.WARN,
                "not readable over SQL on this server (MariaDB shows no such variable)",
                "make sure my.cnf sets skip_slave_start: " + _AUTOSTART_HINT.split(": ", 1)[1],
            )
        else:
            yield _setting(
                "skip_slave_start",
                s,
                on,
                f"skip_slave_start={s.var('skip_replica_start', 'skip_slave_start')}",
                Status.FAIL,
                _AUTOSTART_HINT,
            )


@rule
def replication_threads(pair: Pair) -> Iterator[CheckResult]:
    for s in pair.both():
        peer = pair.peer(s)
        r = s.replica
        if r is None:
            yield CheckResult(
                "replication",
                s.node,
                Status.FAIL,
                "no replication configured",
                f"run `dualbeat repl setup` to replicate from {peer.node}",
            )
            continue
        want = pair.addresses.get(peer.node)
        if want is not None and (r.source_host, r.source_port) != want:
            yield CheckResult(
                "replication_source",
                s.node,
                Status.FAIL,
                f"replicates from {r.source_host}:{r.source_port}, "
                f"expected {peer.node} at {want[0]}:{want[1]}",
                "run `dualbeat repl setup` to point it at the peer",
            )
        else:
            yield CheckResult(
                "replication_source", s.node, Status.OK, f"from {r.source_host}:{r.source_port}"
            )
        if not r.auto_position:
            yield CheckResult(
                "gtid_auto_position",
                s.node,
                Status.FAIL,
                "not using GTID positions",
                "CHANGE MASTER with MASTER_USE_GTID=slave_pos (MariaDB) or "
                "MASTER_AUTO_POSITION=1 (MySQL); `dualbeat repl setup` does it",
            )
        io_ok = r.io_state is ThreadState.RUNNING
        yield CheckResult(
            "io_thread",
            s.node,
            Status.OK if io_ok else Status.FAIL,
            f"I/O thread {r.io_state.name.lower()}"
            + (f": error {r.last_io_errno}: {r.last_io_error}" if r.last_io_errno else ""),
            ""
            if io_ok
            else "fix the error above, then START SLAVE IO_THREAD "
            "(connectivity, replication user and password, binlogs purged on the source)",
        )
        sql_ok = r.sql_state is ThreadState.RUNNING
        yield CheckResult(
            "sql_thread",
            s.node,
            Status.OK if sql_ok else Status.FAIL,
            f"SQL thread {r.sql_state.name.lower()}"
            + (f": error {r.last_sql_errno}: {r.last_sql_error}" if r.last_sql_errno else ""),
            ""
            if sql_ok
            else "find why it stopped (error above), repair the data, "
            "then START SLAVE SQL_THREAD; never skip events blindly",
        )
        if io_ok and sql_ok:
            lag = r.seconds_behind
            lag_ok = lag is not None and lag <= pair.max_lag
            yield CheckResult(
                "lag",
                s.node,
                Status.OK if lag_ok else Status.WARN,
                f"{lag if lag is not None else 'unknown'} s behind {peer.node}",
                ""
                if lag_ok
                else "a lagging standby makes failover slow or lossy: "
                "look for long transactions or a slow disk",
            )


@rule
def errant_transactions(pair: Pair) -> Iterator[CheckResult]:
    """Transactions the passive *wrote* that the active lacks. Only the passive's own
    origin counts: on a busy pair the passive may already have applied the active's
    newest writes, which the active's (earlier) snapshot does not show yet. dualbeat's own
    writes (its internal domains) never count: they are not a client's."""
    internal = pair.internal_domains
    errant = client_view(pair.passive.executed, internal) - client_view(
        pair.active.executed, internal
    )
    if pair.passive.origin is not None:
        errant = errant.originated_by(pair.passive.origin)
    if not errant:
        yield CheckResult(
            "errant_transactions",
            pair.passive.node,
            Status.OK,
            f"no transactions missing on {pair.active.node}",
        )
        return
    yield CheckResult(
        "errant_transactions",
        pair.passive.node,
        Status.FAIL,
        f"{errant.count()} transaction(s) on the passive that {pair.active.node} lacks: {errant}",
        "something wrote to the passive: find the writer; then replicate them to the active "
        "(START SLAVE there) or discard them by rebuilding the passive",
    )


@rule
def read_only(pair: Pair) -> Iterator[CheckResult]:
    a, p = pair.both()
    if a.writable and p.writable:
        yield CheckResult(
            "writers",
            "pair",
            Status.FAIL,
            "both servers are writable",
            f"SET GLOBAL read_only=ON on {p.node} now: two writers diverge",
        )
    elif not a.writable and not p.writable:
        yield CheckResult(
            "writers",
            "pair",
            Status.WARN,
            "no server is writable",
            "start the dualbeat agent, or `dualbeat repl setup` to pick the active",
        )
    else:
        yield CheckResult("writers", "pair", Status.OK, f"only {a.node} is writable")
    yield _setting(
        "passive_read_only",
        p,
        not p.writable,
        f"read_only={p.var('read_only')}"
        + (f" super_read_only={p.var('super_read_only')}" if p.var("super_read_only") else ""),
        Status.FAIL,
        f"SET GLOBAL read_only=ON on {p.node}",
    )
    if p.var("super_read_only") is not None and not p.flag("super_read_only"):
        yield CheckResult(
            "passive_super_read_only",
            p.node,
            Status.WARN,
            "super_read_only=OFF",
            "SET GLOBAL super_read_only=ON: read_only alone lets SUPER users write",
        )


@rule
def semisync(pair: Pair) -> Iterator[CheckResult]:
    for s in pair.both():
        source_on = any(
            k.endswith(("master_enabled", "source_enabled")) and v.upper() == "ON"
            for k, v in s.semisync.items()
        )
        replica_on = any(
            k.endswith(("slave_enabled", "replica_enabled")) and v.upper() == "ON"
            for k, v in s.semisync.items()
        )
        status = next((v for k, v in s.semisync.items() if k.endswith("_status")), "OFF")
        detail = (
            f"source {'on' if source_on else 'off'} (status {status}), "
            f"replica {'on' if replica_on else 'off'}"
        )
        # The active must wait for acknowledgements; the passive must send them. (The
        # agent keeps the passive's source side off: nobody would acknowledge it.)
        if s is pair.active:
            ok = source_on and status.upper() == "ON"
            hint = (
                "without semi-sync a crash of the active can lose acknowledged writes; "
                "the dualbeat agent turns it on while the standby is healthy"
            )
        else:
            ok = replica_on
            hint = (
                "the passive must acknowledge as a semi-sync replica "
                "(rpl_semi_sync_slave_enabled=ON, then restart its I/O thread)"
            )
        yield CheckResult(
            "semi_sync", s.node, Status.OK if ok else Status.WARN, detail, "" if ok else hint
        )


@rule
def two_writers(pair: Pair) -> Iterator[CheckResult]:
    """Faults the configuration leaves open to two writers (classic mode: no arbiter)."""
    if pair.safety is None:
        return
    for warning in pair.safety:
        yield CheckResult("two_writers", "config", Status.WARN, warning.risk, warning.fix)
    if not pair.safety:
        yield CheckResult(
            "two_writers", "config", Status.OK, "an [arbiter] breaks ties between the nodes"
        )
