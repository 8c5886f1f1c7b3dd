"""The monitor's look at the local server, every interval, in as few round trips as possible.

Why a probe never raises: it runs every 200 ms in a worker thread and its result becomes an
observation for the pure core. A server problem is a *fact* to report (``ok=False`` with a
classified ``ProbeErrorKind`` and the server's own message), not an exception to unwind.

Why the kinds matter: only ``UNAVAILABLE`` (gone, hung, timed out) and ``QUERY`` (a statement
failed: read-only, disk full, lock wait) count against the server; ``BUSY`` means alive but
saturated, and ``MISCONFIGURED`` is *our* mistake (wrong password, missing privilege,
missing heartbeat table), which must raise an alarm and never a fail-over.

Why the write probe checks ``read_only`` itself: on MariaDB an account with ``ALL
PRIVILEGES`` holds ``READ ONLY ADMIN`` and writes straight through ``read_only`` (there is no
``super_read_only``). A write probe that trusted the server to refuse would report a
read-only server as healthy *and* leave an errant transaction on it.

Round trips per probe: one SELECT (alive, origin, read-only switches, executed GTIDs,
semi-sync's status and counters) and ``SHOW SLAVE|REPLICA STATUS``; when ``write`` is set,
the heartbeat upsert (see ``HEARTBEAT_WRITE``). A new session adds the handshake and,
before its first write, the session's binary log off; the very first probe adds the
version query.

Why the replica's status is not read at every probe: parsing its sixty-odd columns was
0.66 ms of CPU, two thirds of an idle probe (0.45 % of a core at five probes a second,
half of an idle agent). Its answer only moves when something does, so it is read again
at once whenever anything could have changed it: the channel not running both threads
(being started, stopped, broken), the executed set moved since it was read (data flows:
positions and lag matter), the last probe failed, or the caller asks (``watch_replica``:
the agent does while the peer is quiet, when a received event vetoes "peer dead").
Otherwise, on a steady idle pair, once per ``REPLICA_REFRESH``.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from dualbeat.errors import (
    MysqlBusy,
    MysqlError,
    MysqlMisconfigured,
    MysqlQueryError,
    MysqlUnavailable,
    UsageError,
)
from dualbeat.mysql.connection import Connect, Endpoint, Server, SqlServer
from dualbeat.mysql.dialect import Dialect, Statement, ThreadState
from dualbeat.mysql.replica_status import (
    GtidFamily,
    ReplicaStatus,
    normalise_gtids,
    to_flag,
    to_str,
)
from dualbeat.mysql.semisync import SemisyncSource, parse_source
from dualbeat.mysql.statement import identifier, placeholders

__all__ = [
    "HEARTBEAT_WRITE",
    "LocalProbe",
    "ProbeErrorKind",
    "ProbeResult",
    "classify_probe_error",
    "ping",
    "probe_state",
]

# The heartbeat row: one per node, so the table never grows. Written with the binary log
# off for the session: with semi-sync on, a binlogged write waits for the standby's
# acknowledgement, so a dead standby would make the *active* look failed (and a write on
# the active need not reach the peer: it proves only that this server takes writes).
NO_BINLOG = Statement("SET SESSION sql_log_bin = 0")
HEARTBEAT_WRITE = (
    "INSERT INTO dualbeat.heartbeat (node, epoch, ts) VALUES (%s, %s, NOW(6)) "
    "ON DUPLICATE KEY UPDATE epoch = VALUES(epoch), ts = VALUES(ts)"
)

PING = Statement("SELECT 1 AS ok")
#: How long a steady replica status (both threads running, executed set unchanged) is
#: reused before it is read again; see the module doc.
REPLICA_REFRESH = 1.0
ER_NO_SUCH_TABLE = 1146  # the probe only names dualbeat.heartbeat: ensure_schema never ran


class ProbeErrorKind(enum.Enum):
    """What a failed probe means for the decision core."""

    UNAVAILABLE = "unavailable"  # gone, refused, hung or timed out: a failure
    BUSY = "busy"  # too many connections: alive, leave it alone
    MISCONFIGURED = "misconfigured"  # access denied, missing privilege or schema: our mistake
    QUERY = "query"  # a statement failed (read-only, disk full, lock wait): a failure


@dataclass(frozen=True)
class ProbeResult:
    """One probe of the local server.

    Fields read before a failure are kept (a failed write probe still reports
    ``read_only``); the rest are ``None`` or ``""``. ``writable`` is the outcome of the
    heartbeat write: ``None`` when none was attempted. ``io_running``/``sql_running``/
    ``seconds_behind`` are ``None`` when no replica is configured; ``io_running`` is True
    only when the I/O thread is connected (not while it retries). ``received`` is MySQL's
    ``Retrieved_Gtid_Set`` or MariaDB's ``Gtid_IO_Pos``; ``executed`` is
    ``@@gtid_executed`` or ``@@gtid_current_pos``. ``semisync`` is the source side of
    semi-sync (``mysql.semisync``), ``None`` when the plugin is absent; its status (ON
    while commits wait for acknowledgements) is ``semisync_source``. ``binlog_base`` is
    ``@@log_bin_basename`` (``None``: binary logging off). ``latency`` is the whole probe,
    reconnect included, in seconds.
    """

    ok: bool
    error: ProbeErrorKind | None
    detail: str
    latency: float
    writable: bool | None = None
    read_only: bool | None = None
    io_running: bool | None = None
    sql_running: bool | None = None
    seconds_behind: int | None = None
    executed: str = ""
    received: str = ""
    semisync: SemisyncSource | None = None
    io_stopped: bool | None = None  # the I/O thread stopped (not connecting); None: no replica
    gtid_family: GtidFamily | None = None
    origin: str | None = None  # server_id (MariaDB) or server_uuid (MySQL): our own GTIDs
    binlog_base: str | None = None

    @property
    def semisync_source(self) -> bool | None:
        return None if self.semisync is None else self.semisync.on


def probe_state(d: Dialect) -> Statement:
    """The monitor's poll in one round trip: one row with ``alive`` (1), ``origin`` (what
    this server's own GTIDs carry: ``server_id`` on MariaDB, ``server_uuid`` on MySQL),
    ``read_only``, ``super_read_only`` (NULL where the server has none), ``executed`` (the
    executed GTID set), ``binlog_base`` (``@@log_bin_basename``: where the client gate
    finds the binary log without SQL, ``gate.window``; NULL with binary logging off), and
    the source side of semi-sync (``mysql.semisync``): ``semisync`` (the status counters
    ``Dialect.semisync_counters`` names, as ``name=value`` pairs; NULL when the plugin is
    not loaded), ``semisync_timeout`` (ms) and ``semisync_wait_no_replica``.

    Status counters cannot be read with ``@@``: a subquery on the status table
    (``information_schema`` in MariaDB, ``performance_schema`` in MySQL 5.7+, which
    removed the other) keeps them in the same statement. MariaDB's semi-sync settings are
    built in and read with ``@@``; MySQL's exist with the plugin loaded only, so they come
    from its variables table (NULL without it).
    """
    super_read_only = "@@GLOBAL.super_read_only" if d.has_super_read_only else "NULL"
    origin = "@@GLOBAL.server_id" if d.gtid_family == "mariadb" else "@@GLOBAL.server_uuid"
    counters = tuple(d.semisync_counters().values())
    args: tuple[str, ...] = counters
    if d.gtid_family == "mariadb":
        settings = (
            f"@@GLOBAL.{identifier(d.semisync_timeout_var)} AS semisync_timeout, "
            f"@@GLOBAL.{identifier(d.semisync_wait_no_replica_var)} AS semisync_wait_no_replica"
        )
    else:
        variable = "(SELECT VARIABLE_VALUE FROM performance_schema.global_variables "
        settings = (
            f"{variable}WHERE VARIABLE_NAME = %s) AS semisync_timeout, "
            f"{variable}WHERE VARIABLE_NAME = %s) AS semisync_wait_no_replica"
        )
        args += (d.semisync_timeout_var, d.semisync_wait_no_replica_var)
    return Statement(
        f"SELECT 1 AS alive, {origin} AS origin, @@GLOBAL.read_only AS read_only, "
        f"{super_read_only} AS super_read_only, "
        f"@@GLOBAL.{identifier(d.executed_gtids_var())} AS executed, "
        "@@GLOBAL.log_bin_basename AS binlog_base, "
        "(SELECT GROUP_CONCAT(CONCAT(VARIABLE_NAME, '=', VARIABLE_VALUE)) "
        f"FROM {d.global_status_table} WHERE VARIABLE_NAME IN "
        f"({placeholders(len(counters))})) AS semisync, {settings}",
        args,
    )


def classify_probe_error(exc: MysqlError) -> ProbeErrorKind:
    """The probe's reading of a translated server error (see ``dualbeat.errors``).

    One refinement over the error type: "no such table" is ``MISCONFIGURED`` here, because
    the only table a probe names is ``dualbeat.heartbeat``; a missing one means the schema
    was never created, which no fail-over can fix. Any other statement error (including
    the base ``MysqlError``) is ``QUERY``.
    """
    if isinstance(exc, MysqlUnavailable):
        return ProbeErrorKind.UNAVAILABLE
    if isinstance(exc, MysqlBusy):
        return ProbeErrorKind.BUSY
    if isinstance(exc, MysqlMisconfigured):
        return ProbeErrorKind.MISCONFIGURED
    if isinstance(exc, MysqlQueryError) and exc.code == ER_NO_SUCH_TABLE:
        return ProbeErrorKind.MISCONFIGURED
    return ProbeErrorKind.QUERY


def ping(server: SqlServer) -> None:
    """One round trip that proves the server answers SQL (the peer's second signal before
    "peer dead"); raises the translated ``MysqlError`` when it does not."""
    server.query(PING)


@dataclass(frozen=True)
class _Reading:
    """One ``SHOW SLAVE STATUS`` (``None``: no replica configured), and the executed set
    and time it was read at: what decides whether it may be reused."""

    replica: ReplicaStatus | None
    executed: str
    read_at: float

    @property
    def steady(self) -> bool:
        r = self.replica
        return r is not None and _running(r.io_state) and _running(r.sql_state)


@dataclass
class _Seen:
    """What a probe has read so far; kept when a later step fails. Its fields are a subset
    of ``ProbeResult``'s, copied over by name (``LocalProbe._result``)."""

    writable: bool | None = None
    read_only: bool | None = None
    io_running: bool | None = None
    sql_running: bool | None = None
    seconds_behind: int | None = None
    executed: str = ""
    received: str = ""
    semisync: SemisyncSource | None = None
    origin: str | None = None
    io_stopped: bool | None = None
    binlog_base: str | None = None


def _running(state: ThreadState) -> bool:
    return state is ThreadState.RUNNING


class LocalProbe:
    """Probes one server over one reused connection; a failed probe drops the connection.

    The endpoint's timeouts bound every step: a frozen server (TCP accepted, no answer)
    costs at most ``connect_timeout`` + ``read_timeout`` before the probe returns
    ``UNAVAILABLE``. Not thread-safe: one probe at a time (the agent's monitor thread).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        connect: Connect = Server,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self._server = connect(endpoint)
        self._family: GtidFamily | None = None
        self._clock = clock
        self._reading: _Reading | None = None  # the last steady reading, while reusable
        # The poll and the counters' names for the server's dialect, built once per dialect:
        # the same text every 200 ms, no need to format it again.
        self._poll: tuple[Dialect, Statement, dict[str, str]] | None = None
        # The session's binary log is off (NO_BINLOG ran on it). Sound because the session
        # changes only through a failure, and every failure goes through _failed.
        self._binlog_off = False

    def close(self) -> None:
        self._server.close()
        self._binlog_off = False

    def probe(
        self, *, write: bool, node: str, epoch: int, watch_replica: bool = False
    ) -> ProbeResult:
        """Probe once; see the module doc. ``node``/``epoch`` go into the heartbeat row;
        ``watch_replica`` reads the replica's status whatever the last reading said."""
        started = self._clock()
        seen = _Seen()
        try:
            self._read(seen, watch_replica)
            if write:
                self._write(seen, node, epoch)
        except MysqlError as exc:
            return self._failed(started, seen, classify_probe_error(exc), exc.detail)
        except UsageError as exc:  # a server version dualbeat does not support
            return self._failed(started, seen, ProbeErrorKind.MISCONFIGURED, str(exc))
        except ValueError as exc:  # an answer we cannot read: never trust that session
            return self._failed(started, seen, ProbeErrorKind.QUERY, f"unreadable answer: {exc}")
        return self._result(started, seen, None, "")

    def _failed(
        self, started: float, seen: _Seen, error: ProbeErrorKind, detail: str
    ) -> ProbeResult:
        """Drop the session and the reused replica reading (the server may come back
        restarted, its channel in any state)."""
        self._server.close()
        self._reading = None
        self._binlog_off = False
        return self._result(started, seen, error, detail)

    def _read(self, seen: _Seen, watch_replica: bool) -> None:
        server = self._server
        d = server.dialect
        self._family = d.gtid_family
        if self._poll is None or self._poll[0] is not d:
            self._poll = (d, probe_state(d), d.semisync_counters())
        _, poll, counters = self._poll
        rows = server.query(poll)
        if not rows:
            raise ValueError("the probe SELECT returned no row")
        row = rows[0]
        read_only, super_read_only = (
            to_flag(row.get("read_only")),
            to_flag(row.get("super_read_only")),
        )
        seen.read_only = bool(read_only or super_read_only)
        seen.origin = to_str(row.get("origin")) or None
        seen.executed = normalise_gtids(row.get("executed"))
        seen.semisync = parse_source(
            row.get("semisync"),
            row.get("semisync_timeout"),
            row.get("semisync_wait_no_replica"),
            counters,
        )
        seen.binlog_base = to_str(row.get("binlog_base")) or None
        now, kept = self._clock(), self._reading
        if (
            watch_replica
            or kept is None
            or kept.executed != seen.executed
            or now - kept.read_at >= REPLICA_REFRESH
        ):
            kept = _Reading(
                d.parse_replica_status(server.query(d.replica_status())), seen.executed, now
            )
            self._reading = kept if kept.steady else None
        replica = kept.replica
        if replica is not None:
            seen.io_running = _running(replica.io_state)
            seen.io_stopped = replica.io_state is ThreadState.STOPPED
            seen.sql_running = _running(replica.sql_state)
            seen.seconds_behind = replica.seconds_behind
            seen.received = replica.retrieved_gtids

    def _write(self, seen: _Seen, node: str, epoch: int) -> None:
        seen.writable = False
        if seen.read_only:
            # Refuse rather than write: a privileged account would write through
            # read_only and leave an errant transaction on a read-only server.
            raise MysqlQueryError(
                self.endpoint.describe(), "read_only is ON: the write probe was not sent", 1290
            )
        if not self._binlog_off:
            self._server.execute(NO_BINLOG)
            self._binlog_off = True
        self._server.execute(Statement(HEARTBEAT_WRITE, (node, epoch)))
        seen.writable = True

    def _result(
        self,
        started: float,
        seen: _Seen,
        error: ProbeErrorKind | None,
        detail: str,
    ) -> ProbeResult:
        return ProbeResult(
            ok=error is None,
            error=error,
            detail=detail,
            latency=self._clock() - started,
            gtid_family=self._family,
            **vars(seen),  # every field of _Seen is a field of ProbeResult
        )
