"""An in-memory MariaDB for unit tests: the server the agent talks to, without a server.

Why a fake beside the seam (the ``FakeLinks`` of ``dualbeat.mysql``): the actor and the
observers are wired to ``SqlServer`` sessions; handing them ``FakeServer.connect`` in place
of ``Server`` runs their real code, and the real ``control``/``probe`` statements, against
state a test sets directly (``read_only``, the replica's threads, GTID sets, client
sessions) and failures it injects (refused, timeout, access denied, busy), with no mocks.

What it models, and only that: the statements dualbeat's agent sends to MariaDB 10.6+
(``dialect.MariaDBDialect``): the probe, the heartbeat and epoch upserts, read-only
switches, the session list and KILL, replica start/stop/status and GTID waits, semi-sync
variables. A binlogged write gets the next GTID of the session's ``gtid_domain_id``
(the global one unless the session set its own); ``sql_log_bin = 0`` writes none. An
unknown statement fails loudly (``MysqlQueryError`` 1064) so a test never passes because
the fake ignored something. Errors are the real PyMySQL ones run through the seam's
``classify``, so they reach callers exactly as a live server's would. No time passes
inside the fake: a GTID wait answers at once.
"""

from __future__ import annotations

import enum
import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pymysql

from dualbeat.core.gtid import MariadbGtidSet
from dualbeat.errors import MysqlError
from dualbeat.mysql.connection import Endpoint, Row, SqlServer, classify
from dualbeat.mysql.dialect import Dialect, Flavor, ServerVersion, Statement, ThreadState

__all__ = ["Failure", "FakeClient", "FakeReplica", "FakeServer", "FakeSession"]

ER_OPTION_PREVENTS_STATEMENT = 1290  # --read-only
ER_NO_SUCH_TABLE = 1146
ER_NO_SUCH_THREAD = 1094
ER_BAD_SLAVE = 1200
ER_PARSE_ERROR = 1064


class Failure(enum.Enum):
    """How the whole server fails, as a client sees it (error number, message)."""

    REFUSED = (2003, "Can't connect to MySQL server on '{where}' ([Errno 111] Connection refused)")
    TIMEOUT = (2013, "Lost connection to MySQL server during query (timed out)")
    ACCESS_DENIED = (1045, "Access denied for user '{user}'@'localhost' (using password: YES)")
    BUSY = (1040, "Too many connections")


@dataclass
class FakeReplica:
    """The replica side, as ``SHOW SLAVE STATUS`` reports it. ``received`` is
    ``Gtid_IO_Pos``; ``applying=False`` models a stuck SQL thread (running, not applying)."""

    source_host: str = "db2"
    source_port: int = 3306
    source_user: str = "repl"
    source_server_id: int = 2
    io: ThreadState = ThreadState.RUNNING
    sql: ThreadState = ThreadState.RUNNING
    received: MariadbGtidSet = field(default_factory=MariadbGtidSet)
    seconds_behind: int = 0
    applying: bool = True

    @property
    def running(self) -> bool:
        return self.io is ThreadState.RUNNING and self.sql is ThreadState.RUNNING


@dataclass
class FakeClient:
    """A session in the process list that is not one of the fake's own."""

    id: int
    user: str = "app"
    command: str = "Sleep"
    host: str = "10.0.0.9:50000"


def _gtid(text: str) -> MariadbGtidSet:
    return MariadbGtidSet.parse(text)


class FakeServer(SqlServer):
    """One MariaDB server in memory, plus a default session on it (``query`` etc.).

    Set state directly (``read_only``, ``replica``, ``executed``, ``clients``…); inject a
    whole-server failure with ``fail``, or one for statements starting with a prefix with
    ``fail_on``. ``log`` lists every statement any session sent, in order. Thread-safe:
    the actor's thread and a test's may use it at once.
    """

    def __init__(
        self,
        endpoint: Endpoint | None = None,
        *,
        server_id: int = 1,
        gtid_domain_id: int = 1,
        version: str = "10.11.6-MariaDB-0+deb12u1-log",
        executed: str = "",
        read_only: bool = True,
    ) -> None:
        parsed = ServerVersion.parse(version)
        if parsed.flavor is not Flavor.MARIADB:
            raise ValueError(f"FakeServer speaks MariaDB only, not {parsed}")
        self.endpoint = endpoint or Endpoint("db1", "127.0.0.1", 3306, "dualbeat", "secret")
        self.version = parsed
        self._dialect = Dialect.for_version(parsed)
        self.server_id = server_id
        self.gtid_domain_id = gtid_domain_id
        self.read_only = read_only
        self.writes_through_read_only = False  # an account with READ ONLY ADMIN
        self.binlog_base: str | None = "/var/lib/mysql/mysql-bin"  # @@log_bin_basename
        self.executed = _gtid(executed)  # gtid_current_pos
        self.slave_pos = _gtid("")  # what replication applied
        self.replica: FakeReplica | None = None
        self.clients: list[FakeClient] = []
        self.settings: dict[str, str] = {
            "rpl_semi_sync_master_enabled": "OFF",
            "rpl_semi_sync_slave_enabled": "OFF",
            "rpl_semi_sync_master_timeout": "10000",
            "rpl_semi_sync_master_wait_point": "AFTER_COMMIT",
            "rpl_semi_sync_master_wait_no_slave": "ON",
        }
        self.semisync_unacked = 0  # Rpl_semi_sync_master_no_tx
        self.semisync_waiting = 0  # Rpl_semi_sync_master_wait_sessions
        self.tables: dict[str, dict[object, tuple[object, ...]]] = {
            "dualbeat.heartbeat": {},
            "dualbeat.epoch": {},
        }
        self.log: list[Statement] = []
        self.connects = 0
        self._failure: Failure | None = None
        self._fail_on: dict[str, tuple[int, str]] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(100)
        self._default = FakeSession(self, self.endpoint)

    # --- what a test controls ---------------------------------------------------------

    def fail(self, failure: Failure | None) -> None:
        """Every statement of every session fails so from now on (``None``: recover)."""
        with self._lock:
            self._failure = failure

    def fail_on(self, prefix: str, code: int, message: str) -> None:
        """Statements whose text starts with ``prefix`` fail with this server error."""
        with self._lock:
            self._fail_on[prefix] = (code, message)

    def replicate(self, gtids: str) -> None:
        """The source committed ``gtids``: received if the I/O thread runs, applied at once
        if the SQL thread runs and applies."""
        with self._lock:
            if self.replica is None:
                raise ValueError("FakeServer.replicate: no replica configured")
            if self.replica.io is ThreadState.RUNNING:
                self.replica.received = self.replica.received.union(_gtid(gtids))
            self._apply()

    def connect(self, endpoint: Endpoint, *, idle_check: float | None = None) -> FakeSession:
        """A new session on this server (a ``Connect`` for the agent's components)."""
        return FakeSession(self, endpoint)

    @property
    def statements(self) -> list[str]:
        """The text of every statement sent so far, in order."""
        with self._lock:
            return [s.sql for s in self.log]

    # --- SqlServer, through the default session -----------------------------------------

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    def query(self, stmt: Statement) -> list[Row]:
        return self._default.query(stmt)

    def close(self) -> None:
        self._default.close()

    # --- the engine ---------------------------------------------------------------------

    def _apply(self) -> None:
        r = self.replica
        if r is not None and r.sql is ThreadState.RUNNING and r.applying:
            self.executed = self.executed.union(r.received)
            self.slave_pos = self.slave_pos.union(r.received)

    def _error(self, session: FakeSession, code: int, message: str) -> MysqlError:
        exc = pymysql.err.OperationalError(code, message)
        return classify(session.endpoint.describe(), exc)

    def _run(self, session: FakeSession, stmt: Statement) -> list[Row]:
        with self._lock:
            self.log.append(stmt)
            if self._failure is not None:
                code, text = self._failure.value
                ep = session.endpoint
                message = text.format(where=f"{ep.host}:{ep.port}", user=ep.user)
                raise self._error(session, code, message)
            sql = " ".join(stmt.sql.split())
            for prefix, (code, message) in self._fail_on.items():
                if sql.startswith(prefix):
                    raise self._error(session, code, message)
            if session.id is None:
                session.id = next(self._ids)
                self.connects += 1
            for pattern, handler in _HANDLERS:
                match = pattern.fullmatch(sql)
                if match is not None:
                    return handler(self, session, match, stmt.args)
            raise self._error(session, ER_PARSE_ERROR, f"FakeServer does not know {sql!r}")

    def _write(self, session: FakeSession) -> None:
        """A binlogged (or not) write: refused on a read-only server, else a GTID."""
        if self.read_only and not self.writes_through_read_only:
            raise self._error(
                session,
                ER_OPTION_PREVENTS_STATEMENT,
                "The MariaDB server is running with the --read-only option so it cannot "
                "execute this statement",
            )
        if session.session_vars.get("sql_log_bin", "1") in {"0", "OFF"}:
            return
        domain = int(session.session_vars.get("gtid_domain_id", self.gtid_domain_id))
        seq = self.executed.last_seq(domain) + 1
        gtid = f"{domain}-{self.server_id}-{seq}"
        self.executed = self.executed.union(_gtid(f"{domain}-{self.server_id}-{seq}..{seq}"))
        session.last_gtid = gtid

    def _globals(self) -> dict[str, str]:
        return {
            **self.settings,
            "read_only": "ON" if self.read_only else "OFF",
            "server_id": str(self.server_id),
            "gtid_domain_id": str(self.gtid_domain_id),
            "gtid_current_pos": self.executed.format(),
            "gtid_binlog_pos": self.executed.format(),
            "gtid_slave_pos": self.slave_pos.format(),
            "version": self.version.raw,
        }

    def _status(self) -> dict[str, str]:
        master = self.settings["rpl_semi_sync_master_enabled"]
        slave = self.settings["rpl_semi_sync_slave_enabled"]
        return {
            "Rpl_semi_sync_master_status": master,
            "Rpl_semi_sync_slave_status": slave,
            "Rpl_semi_sync_master_no_tx": str(self.semisync_unacked),
            "Rpl_semi_sync_master_wait_sessions": str(self.semisync_waiting),
        }

    def _processlist(self, session: FakeSession) -> list[Row]:
        rows = [
            {"ID": c.id, "USER": c.user, "HOST": c.host, "DB": None, "COMMAND": c.command}
            for c in self.clients
        ]
        r = self.replica
        if r is not None and r.io is not ThreadState.STOPPED:
            rows.append({"ID": 1, "USER": "system user", "HOST": "", "COMMAND": "Slave_IO"})
        if r is not None and r.sql is ThreadState.RUNNING:
            rows.append({"ID": 2, "USER": "system user", "HOST": "", "COMMAND": "Slave_SQL"})
        return [{"TIME": 0, "STATE": "", "DB": None, **row} for row in rows]


class FakeSession(SqlServer):
    """One client session on a ``FakeServer``: its own session variables and thread id."""

    def __init__(self, server: FakeServer, endpoint: Endpoint) -> None:
        self.server = server
        self.endpoint = endpoint
        self.session_vars: dict[str, str] = {}
        self.id: int | None = None  # None: not connected
        self.last_gtid = ""

    @property
    def dialect(self) -> Dialect:
        return self.server.dialect

    def query(self, stmt: Statement) -> list[Row]:
        try:
            return self.server._run(self, stmt)
        except MysqlError:
            self.close()  # as ``Server``: a failed statement ends the session
            raise

    def close(self) -> None:
        self.id = None
        self.session_vars = {}


# --- statements ---------------------------------------------------------------------------

Handler = Callable[[FakeServer, FakeSession, re.Match[str], tuple[object, ...]], list[Row]]
_HANDLERS: list[tuple[re.Pattern[str], Handler]] = []


def _on(pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _HANDLERS.append((re.compile(pattern, re.IGNORECASE), handler))
        return handler

    return register


@_on(r"SELECT 1 AS ok")
def _ping(s: FakeServer, _: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    return [{"ok": 1}]


@_on(r"SELECT @@GLOBAL\.version AS v, @@GLOBAL\.version_comment AS c")
def _version(s: FakeServer, _: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    return [{"v": s.version.raw, "c": "Debian 12"}]


@_on(r"SELECT 1 AS alive, .*")
def _probe(s: FakeServer, _: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    status = s._status()
    names = [str(name) for name in a if str(name) in status]  # a MariaDB fake's counters
    counters = ",".join(f"{name.upper()}={status[name]}" for name in names) or None
    return [
        {
            "alive": 1,
            "origin": s.server_id,
            "read_only": int(s.read_only),
            "super_read_only": None,
            "executed": s.executed.format(),
            "binlog_base": s.binlog_base,
            "semisync": counters,
            "semisync_timeout": s.settings["rpl_semi_sync_master_timeout"],
            "semisync_wait_no_replica": s.settings["rpl_semi_sync_master_wait_no_slave"],
        }
    ]


@_on(r"SELECT @@SESSION\.last_gtid AS gtid")
def _last(s: FakeServer, se: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    return [{"gtid": se.last_gtid}]


@_on(r"SET SESSION (\w+) = (%s|\w+)")
def _session(s: FakeServer, se: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    se.session_vars[m[1].lower()] = str(a[0]) if m[2] == "%s" else m[2]
    return []


@_on(r"SET GLOBAL (\w+) = %s")
def _global(s: FakeServer, _: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    name, value = m[1].lower(), str(a[0])
    if name == "read_only":
        s.read_only = value.upper() in {"ON", "1"}
    elif name == "gtid_slave_pos":
        s.slave_pos = _gtid(value)
    elif name == "gtid_binlog_state":
        s.executed = _gtid(value)
    elif name == "gtid_domain_id":
        s.gtid_domain_id = int(value)
    else:
        s.settings[name] = value
    return []


@_on(r"SHOW GLOBAL (VARIABLES|STATUS) WHERE Variable_name IN \(.*\)")
def _show(s: FakeServer, _: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    values = s._globals() if m[1].upper() == "VARIABLES" else s._status()
    lower = {k.lower(): (k, v) for k, v in values.items()}
    found = (lower[str(n).lower()] for n in a if str(n).lower() in lower)
    return [{"Variable_name": k, "Value": v} for k, v in found]


@_on(r"CREATE (DATABASE|TABLE) IF NOT EXISTS (\S+).*")
def _create(s: FakeServer, se: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    s._write(se)  # binlogged even when the object exists, as MariaDB does
    if m[1].upper() == "TABLE":
        s.tables.setdefault(m[2], {})
    return []


@_on(r"INSERT INTO (dualbeat\.\w+) \(\w+, (.*)\) VALUES .*")
def _upsert(s: FakeServer, se: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    table = s.tables.get(m[1])
    if table is None:
        raise s._error(se, ER_NO_SUCH_TABLE, f"Table '{m[1]}' doesn't exist")
    s._write(se)
    key, *rest = a if m[1] != "dualbeat.epoch" else (1, *a)
    table[key] = tuple(rest)
    return []


@_on(r"SELECT MAX\(epoch\) AS epoch FROM dualbeat\.epoch")
def _epoch(s: FakeServer, se: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    rows = s.tables.get("dualbeat.epoch")
    if rows is None:
        raise s._error(se, ER_NO_SUCH_TABLE, "Table 'dualbeat.epoch' doesn't exist")
    return [{"epoch": max((r[0] for r in rows.values()), default=None, key=_int_or_zero)}]


def _int_or_zero(value: object) -> int:
    return value if isinstance(value, int) else 0


@_on(r"SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE FROM information_schema\.PROCESSLIST .*")
def _list(s: FakeServer, se: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    return s._processlist(se)


@_on(r"SELECT ID FROM information_schema\.PROCESSLIST WHERE COMMAND IN .*")
def _appliers(s: FakeServer, se: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    return [{"ID": r["ID"]} for r in s._processlist(se) if r["COMMAND"] == "Slave_SQL"]


@_on(r"KILL (CONNECTION|QUERY) %s")
def _kill(s: FakeServer, se: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    victim = a[0]
    if not any(r["ID"] == victim for r in s._processlist(se)):
        raise s._error(se, ER_NO_SUCH_THREAD, f"Unknown thread id: {victim}")
    if m[1].upper() == "CONNECTION":
        s.clients = [c for c in s.clients if c.id != victim]
    return []


@_on(r"SHOW SLAVE STATUS")
def _status(s: FakeServer, _: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    r = s.replica
    if r is None:
        return []
    return [
        {
            "Connection_name": "",
            "Master_Host": r.source_host,
            "Master_Port": r.source_port,
            "Master_User": r.source_user,
            "Slave_IO_Running": r.io.value,
            "Slave_SQL_Running": r.sql.value,
            "Seconds_Behind_Master": r.seconds_behind if r.sql is ThreadState.RUNNING else None,
            "Last_IO_Errno": 0,
            "Last_IO_Error": "",
            "Last_SQL_Errno": 0,
            "Last_SQL_Error": "",
            "Gtid_IO_Pos": r.received.format(),
            "Using_Gtid": "Slave_Pos",
            "Master_Server_Id": r.source_server_id,
        }
    ]


@_on(r"(START|STOP) SLAVE(?: (IO_THREAD|SQL_THREAD))?")
def _threads(s: FakeServer, se: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    r = s.replica
    if r is None:
        if m[1].upper() == "START":
            raise s._error(se, ER_BAD_SLAVE, "Misconfigured slave: MASTER_HOST was not set")
        return []  # a warning only
    state = ThreadState.RUNNING if m[1].upper() == "START" else ThreadState.STOPPED
    if m[2] in (None, "IO_THREAD"):
        r.io = state
    if m[2] in (None, "SQL_THREAD"):
        r.sql = state
    s._apply()
    return []


@_on(r"SELECT MASTER_GTID_WAIT\(%s, %s\) AS result")
def _wait(s: FakeServer, _: FakeSession, m: re.Match[str], a: tuple[object, ...]) -> list[Row]:
    return [{"result": 0 if _gtid(str(a[0])).issubset(s.slave_pos) else -1}]
