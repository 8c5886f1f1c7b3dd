"""The agent's actions on one server: read-only, sessions, takeover, replication, semi-sync.

Each action is a function of a ``SqlServer`` that either completes or raises a
``dualbeat.errors.MysqlError``: the agent runs it in its action thread, bounded by the
connection's timeouts and its own, and reports ``ActionDone``/``ActionFailed`` to the core.
Actions are idempotent (running one twice is harmless) so a retry after a timeout is safe.

Statements that differ between flavours come from ``Dialect``; the few that are the same
everywhere (our own schema, ``KILL``-list filtering, the epoch row) are written here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from dualbeat.core.gtid import parse_gtid_set
from dualbeat.errors import MysqlMisconfigured, MysqlQueryError
from dualbeat.mysql.connection import SqlServer
from dualbeat.mysql.dialect import Flavor, ReplicaStatus, Statement, ThreadState
from dualbeat.mysql.replica_status import to_flag, to_int, to_str

__all__ = [
    "TakeoverPoint",
    "configure_semisync",
    "ensure_schema",
    "executed_gtids",
    "kill_client_sessions",
    "prepare_takeover",
    "read_only_state",
    "record_epoch",
    "set_read_only",
    "start_replication",
    "stop_replication",
]

SCHEMA = (
    Statement("CREATE DATABASE IF NOT EXISTS dualbeat"),
    Statement(
        "CREATE TABLE IF NOT EXISTS dualbeat.heartbeat ("
        "node VARCHAR(64) NOT NULL PRIMARY KEY, epoch BIGINT NOT NULL, "
        "ts DATETIME(6) NOT NULL) ENGINE=InnoDB"
    ),
    Statement(
        "CREATE TABLE IF NOT EXISTS dualbeat.epoch ("
        "id TINYINT NOT NULL PRIMARY KEY, epoch BIGINT NOT NULL, node VARCHAR(64) NOT NULL, "
        "takeover JSON NULL, ts DATETIME(6) NOT NULL) ENGINE=InnoDB"
    ),
)
_RECORD_EPOCH = (
    "INSERT INTO dualbeat.epoch (id, epoch, node, takeover, ts) VALUES (1, %s, %s, %s, NOW(6)) "
    "ON DUPLICATE KEY UPDATE epoch = VALUES(epoch), node = VALUES(node), "
    "takeover = VALUES(takeover), ts = VALUES(ts)"
)
_LOCK_WAIT = "SET SESSION lock_wait_timeout = %s"

_READ_EPOCH = "SELECT MAX(epoch) AS epoch FROM dualbeat.epoch"
ER_NO_SUCH_TABLE = 1146
ER_BAD_DB = 1049
ER_NO_SUCH_THREAD = 1094  # KILL of a session that ended meanwhile
ER_LOCK_WAIT_TIMEOUT = 1205  # the global read lock for read_only was not granted in time
READ_ONLY_WAIT = 0.25  # seconds; read-only gives up after this (see set_read_only)
LOCK_RETRY = 0.02  # seconds between two attempts at the global read lock
# Sessions that are not clients: replication in both directions, server daemons.
_SYSTEM_USERS = frozenset({"system user", "event_scheduler"})
_SYSTEM_COMMANDS = frozenset({"daemon", "binlog dump", "binlog dump gtid"})
_SYSTEM_COMMAND_PREFIXES = ("slave_", "replica_")  # MariaDB Slave_IO/Slave_SQL/Slave_worker
WAIT_SLICE = 0.5  # seconds; a takeover wait re-checks the SQL thread this often
MIN_WAIT = 0.01  # seconds; shortest server-side wait ever sent


def _internal(server: SqlServer, domain: int | None) -> list[Statement]:
    return [] if domain is None else server.dialect.internal_writes(domain)


def ensure_schema(server: SqlServer, *, domain: int | None = None) -> None:
    """Create dualbeat's database and tables if missing.

    Binlogged on purpose, so the schema reaches the peer by replication: run it on the
    writable node only (on the read-only one it would be refused, or, for an account that
    may write through ``read_only``, become an errant transaction). ``domain``: the GTID
    domain of dualbeat's own writes (``Dialect.internal_writes``), so that this write is
    never taken for a client's.
    """
    server.execute(*_internal(server, domain), *SCHEMA)


# --- read-only ----------------------------------------------------------------------------


def set_read_only(server: SqlServer, on: bool, *, wait: float = READ_ONLY_WAIT) -> None:
    """Make the server read-only (``on``) or writable, with every switch it has.

    ``SET GLOBAL read_only`` waits for the global read lock behind running commits and
    ``LOCK TABLES``. The server's own bound, the session's ``lock_wait_timeout``, counts
    whole seconds (and at least one on MySQL): too coarse for a demotion that must end
    within the arbiter lease's margin. So each attempt waits as little as the server
    allows (no wait at all on MariaDB), and the attempts are repeated for ``wait``
    seconds; then the lock-wait error is raised (the demotion goes on to kill sessions
    and release the VIP; the core retries read-only).
    """
    seconds = 0 if server.dialect.version.flavor is Flavor.MARIADB else 1
    deadline = time.monotonic() + wait
    while True:
        try:
            server.execute(Statement(_LOCK_WAIT, (seconds,)), *server.dialect.set_read_only(on))
            return
        except MysqlQueryError as exc:
            if exc.code != ER_LOCK_WAIT_TIMEOUT or time.monotonic() + LOCK_RETRY > deadline:
                raise
        time.sleep(LOCK_RETRY)


def read_only_state(server: SqlServer) -> bool:
    """True when *every* read-only switch the server has is ON (``super_read_only`` too on
    MySQL), i.e. the state ``set_read_only(server, True)`` leaves; a half read-only server
    is reported as not read-only, so the caller sets it again."""
    d = server.dialect
    values = server.variables(d.read_only_variables())
    return all(values.get(name, "OFF").upper() in {"ON", "1"} for name in d.read_only_variables())


# --- sessions -----------------------------------------------------------------------------


def _is_client(row: Mapping[str, object], spare: Collection[str]) -> bool:
    user = to_str(row.get("USER"))
    command = to_str(row.get("COMMAND")).strip().lower()
    return not (
        user in _SYSTEM_USERS
        or user in spare
        or command in _SYSTEM_COMMANDS
        or command.startswith(_SYSTEM_COMMAND_PREFIXES)
    )


def kill_client_sessions(server: SqlServer, *, spare_users: Collection[str]) -> list[int]:
    """KILL every client session, so application pools reconnect through the VIP at once.

    Spared: replication threads in both directions (``Binlog Dump``, the replica's own
    threads), server daemons, our own session and every session of ``spare_users`` (the
    agent's account). A session that ended before its KILL is not a failure. Other KILL
    errors do not stop the sweep: the remaining sessions are killed first, then the first
    error is raised. Returns the ids killed.
    """
    d = server.dialect
    spare = frozenset(spare_users)
    victims = [
        to_int(row.get("ID"))
        for row in server.query(d.list_client_sessions())
        if _is_client(row, spare)
    ]
    killed: list[int] = []
    failure: MysqlQueryError | None = None
    for thread_id in victims:
        try:
            server.query(d.kill(thread_id))
        except MysqlQueryError as exc:
            if exc.code != ER_NO_SUCH_THREAD and failure is None:
                failure = exc
            continue
        killed.append(thread_id)
    if failure is not None:
        raise failure
    return killed


# --- replication --------------------------------------------------------------------------


def _replica(server: SqlServer) -> ReplicaStatus | None:
    d = server.dialect
    return d.parse_replica_status(server.query(d.replica_status()))


def stop_replication(server: SqlServer) -> None:
    """Stop both replica threads (a no-op warning when they are stopped already)."""
    server.execute(server.dialect.stop_replica())


def start_replication(server: SqlServer) -> None:
    """Start both replica threads (a no-op warning when they run already)."""
    server.execute(server.dialect.start_replica())


@dataclass(frozen=True)
class TakeoverPoint:
    """Where a standby stood when it stopped replicating to take over.

    ``received``: what it had received from the old active; ``executed``: what it has
    applied (its whole executed set); ``unapplied`` = received − executed, the transactions
    the old active is known to have committed that the new active will lack;
    ``applied_all`` is ``unapplied`` being empty; ``waited``: seconds spent waiting.
    """

    executed: str
    received: str
    unapplied: str
    applied_all: bool
    waited: float


def executed_gtids(server: SqlServer) -> str:
    """The server's executed GTID set, as it prints it."""
    d = server.dialect
    return server.variables([d.executed_gtids_var()]).get(d.executed_gtids_var(), "")


def _apply_received(server: SqlServer, received: str, timeout: float) -> bool:
    """Wait until ``received`` is applied (True), or ``timeout`` passes or the SQL thread
    stops (False).

    The wait runs in slices, and between slices the executed set is compared with GTID
    algebra, for two reasons: a stopped applier would otherwise cost the whole timeout,
    and MariaDB's ``MASTER_GTID_WAIT`` watches ``gtid_slave_pos``, which may lack a domain
    that ``Gtid_IO_Pos`` lists (this node's own), so the server-side wait alone could
    time out on a position that is in fact applied. Slices never go below ``MIN_WAIT``:
    MySQL reads a zero timeout as "wait forever".
    """
    d = server.dialect
    target = parse_gtid_set(received, d.gtid_family)
    deadline = time.monotonic() + timeout
    slice_ = max(MIN_WAIT, min(WAIT_SLICE, server.endpoint.read_timeout / 2))
    while not target <= parse_gtid_set(executed_gtids(server), d.gtid_family):
        status = _replica(server)
        if status is None or status.sql_state is not ThreadState.RUNNING:
            return False
        remaining = deadline - time.monotonic()
        if remaining < MIN_WAIT:
            return False
        server.query(d.wait_for_gtids(received, min(remaining, slice_)))
    return True


def _interrupt_appliers(server: SqlServer) -> None:
    """KILL QUERY the applier threads: ``STOP`` would otherwise wait for one stuck in a
    row-lock wait (up to ``innodb_lock_wait_timeout``, times the replica's retries). The
    interrupted transaction is rolled back and shows in ``unapplied``."""
    d = server.dialect
    for row in server.query(d.applier_threads()):
        try:
            server.query(d.kill_query(to_int(row.get("ID"))))
        except MysqlQueryError as exc:
            if exc.code != ER_NO_SUCH_THREAD:
                raise


def prepare_takeover(server: SqlServer, timeout: float, *, target: str = "") -> TakeoverPoint:
    """Apply what this standby received from the peer (within ``timeout``), then stop
    applying from it, so a returning old active cannot push unreviewed writes here.

    The result is read *after* the stop, so a transaction that arrived during the wait and
    was not applied shows in ``unapplied`` too. ``unapplied`` is computed with GTID set
    algebra, not text: MariaDB's ``Gtid_IO_Pos`` also lists this node's own domain (its
    events come back around the ring) and orders domains its own way. A stopped SQL thread
    is not waited for; one still busy when ``timeout`` runs out is interrupted, so the stop
    that follows cannot hang on it. With no replica configured nothing was received, so
    nothing is missing.

    ``target`` (a planned switchover) is the old active's final executed set, read after
    it went read-only: then that set is what must be applied, received or not, and
    ``unapplied`` is what of it is missing.
    """
    d = server.dialect
    started = time.monotonic()
    status = _replica(server)
    if status is not None:
        applied = _apply_received(server, target or status.retrieved_gtids, timeout)
        waited = time.monotonic() - started
        if not applied:
            _interrupt_appliers(server)
        # The SQL thread only: with semi-sync on, a full STOP blocks for seconds while the
        # I/O thread tries to reach the (dead) old active to end its dump thread. Nothing
        # is applied from the old active after this point; the caller stops the I/O
        # thread once the VIP has moved.
        server.execute(d.stop_sql_thread())
        status = _replica(server)
    else:
        waited = 0.0
    executed = parse_gtid_set(executed_gtids(server), d.gtid_family)
    received = parse_gtid_set(status.retrieved_gtids if status else "", d.gtid_family)
    unapplied = (parse_gtid_set(target, d.gtid_family) if target else received) - executed
    return TakeoverPoint(
        executed=executed.format(),
        received=received.format(),
        unapplied=unapplied.format(),
        applied_all=unapplied.is_empty(),
        waited=waited,
    )


# --- semi-synchronous replication ---------------------------------------------------------


def configure_semisync(
    server: SqlServer,
    *,
    source: bool,
    timeout_ms: int,
    before_change: Callable[[], None] = lambda: None,
) -> bool:
    """Semi-sync for this node's role: the replica side always on (a standby acknowledges),
    the source side on only while a healthy standby is there to acknowledge, with the
    lossless ``AFTER_SYNC`` wait point and ``timeout_ms``. Returns whether anything changed;
    a second call changes nothing and restarts nothing.

    Why the source side follows the standby: a source with semi-sync on and no replica
    stalls its first commit for the whole timeout before falling back, so a new active
    whose peer just died would stall its first writes, and its epoch record.

    The replica side takes effect when the I/O thread (re)connects: it is restarted only
    when that side was off *and* the thread is running or connecting. A stopped thread is
    left stopped: after a takeover it was stopped on purpose, and starting it would
    replicate from the old active again.

    ``before_change`` is called right before the source side changes (``gate.acks``:
    switching it off releases the commits waiting for an acknowledgement).
    """
    d = server.dialect
    plugins = d.semisync_plugins(True, True)
    installed: set[str] = set()
    if plugins:
        rows = server.query(d.installed_plugins([name for name, _ in plugins]))
        installed = {to_str(row.get("PLUGIN_NAME")).lower() for row in rows}
    names = [d.semisync_source_enabled_var, d.semisync_replica_enabled_var, d.semisync_timeout_var]
    if d.semisync_wait_point_var is not None:
        names.append(d.semisync_wait_point_var)
    current = server.variables(names)

    def value(name: str | None) -> str | None:
        return None if name is None else current.get(name.lower())

    source_on = bool(to_flag(value(d.semisync_source_enabled_var)))
    wait_point = value(d.semisync_wait_point_var)
    enable_source = source and (
        not source_on
        or value(d.semisync_timeout_var) != str(timeout_ms)
        or (d.semisync_wait_point_var is not None and (wait_point or "").upper() != "AFTER_SYNC")
    )
    disable_source = not source and source_on
    replica = not bool(to_flag(value(d.semisync_replica_enabled_var)))
    if not (enable_source or disable_source or replica):
        return False
    if enable_source or disable_source:
        before_change()
    statements = []
    if enable_source or replica:
        statements += d.enable_semisync(
            enable_source,
            replica,
            installed=installed,
            timeout_ms=timeout_ms if enable_source else None,
        )
    if disable_source:
        statements += d.disable_semisync(True, False)
    server.execute(*statements)
    if replica:
        status = _replica(server)
        if status is not None and status.io_state is not ThreadState.STOPPED:
            server.execute(d.stop_io_thread(), d.start_io_thread())
    return True


# --- epoch --------------------------------------------------------------------------------


def record_epoch(
    server: SqlServer, epoch: int, node: str, takeover_json: str, *, domain: int | None = None
) -> None:
    """Upsert the one ``dualbeat.epoch`` row: the epoch, who holds it, and the takeover
    point as JSON. Binlogged, so the peer learns the epoch durably too. ``takeover_json``
    must be valid JSON (a ValueError otherwise: a programming error, not a server one).
    ``domain``: as for ``ensure_schema``."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
    json.loads(takeover_json)
    server.execute(
        *_internal(server, domain), Statement(_RECORD_EPOCH, (epoch, node, takeover_json))
    )


def read_epoch(server: SqlServer) -> int | None:
    """The epoch ``dualbeat.epoch`` holds (None when no promotion ever wrote one, or the
    schema does not exist yet): what the pair reached, for a node that lost its state."""
    try:
        rows = server.query(Statement(_READ_EPOCH))
    except (MysqlQueryError, MysqlMisconfigured) as exc:
        if exc.code in (ER_NO_SUCH_TABLE, ER_BAD_DB):  # the schema was never created
            return None
        raise
    return to_int(rows[0]["epoch"]) if rows and rows[0].get("epoch") is not None else None
