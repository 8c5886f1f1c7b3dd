"""One reusable connection to one MySQL/MariaDB server, with errors translated at the seam.

Why a wrapper around PyMySQL: the rest of dualbeat must be able to tell *our* mistake
(access denied: loud alarm, never a failover) from a *failing* server (gone or hung: fail
over) from a *busy* one (too many connections: alive, leave it alone). PyMySQL reports all
three as ``OperationalError``; ``classify`` sorts them by error number once, here.

``SqlServer`` is the interface every caller programs against: ``Server`` implements it
over PyMySQL, ``dualbeat.mysql.fake.FakeServer`` in memory for unit tests.
"""

from __future__ import annotations

import abc
import contextlib
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

import pymysql
import pymysql.cursors
from pymysql.constants import CR, ER

from dualbeat.errors import (
    MysqlBusy,
    MysqlError,
    MysqlMisconfigured,
    MysqlQueryError,
    MysqlRefused,
    MysqlUnavailable,
)
from dualbeat.mysql.dialect import Dialect, ServerVersion, Statement

Row = dict[str, Any]

# Server errors that mean our configuration is wrong, not that the server failed.
_MISCONFIGURED = frozenset(
    {
        ER.ACCESS_DENIED_ERROR,
        ER.DBACCESS_DENIED_ERROR,
        ER.BAD_DB_ERROR,
        ER.SPECIFIC_ACCESS_DENIED_ERROR,
        ER.TABLEACCESS_DENIED_ERROR,
        ER.COLUMNACCESS_DENIED_ERROR,
        ER.PROCACCESS_DENIED_ERROR,
        1227,  # ER_SPECIFIC_ACCESS_DENIED (needs SUPER / REPLICATION ...)
        1251,  # client does not support the server's authentication protocol
        CR.CR_AUTH_PLUGIN_CANNOT_LOAD,
    }
)
# The server is alive but refuses work because of load.
_BUSY = frozenset({ER.CON_COUNT_ERROR, ER.USER_LIMIT_REACHED, 1226})  # 1226: max_*_per_hour
# The server is gone, unreachable, or did not answer in time.
_UNAVAILABLE = frozenset(
    {
        CR.CR_CONNECTION_ERROR,
        CR.CR_CONN_HOST_ERROR,
        CR.CR_SERVER_GONE_ERROR,
        CR.CR_SERVER_LOST,
        CR.CR_SERVER_LOST_EXTENDED,
        CR.CR_SERVER_HANDSHAKE_ERR,
        CR.CR_IPSOCK_ERROR,
        1053,  # ER_SERVER_SHUTDOWN
        1077,  # ER_NORMAL_SHUTDOWN
        1927,  # ER_CONNECTION_KILLED (MariaDB)
    }
)


def classify(node: str, exc: BaseException) -> MysqlError:
    """Translate a PyMySQL or socket exception into the dualbeat error that says what it means."""
    if isinstance(exc, MysqlError):
        return exc
    if isinstance(exc, pymysql.err.InterfaceError):  # e.g. (0, ''): the connection is gone
        return MysqlUnavailable(
            node, str(exc.args[1] if len(exc.args) > 1 else exc) or "connection closed"
        )
    if isinstance(exc, ConnectionRefusedError) or isinstance(
        getattr(exc, "original_exception", None), ConnectionRefusedError
    ):
        return MysqlRefused(node, str(exc) or "connection refused")
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        code: int = exc.args[0]
        message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code in _MISCONFIGURED:
            return MysqlMisconfigured(node, message, code)
        if code in _BUSY:
            return MysqlBusy(node, message, code)
        if code in _UNAVAILABLE:
            return MysqlUnavailable(node, message, code)
        return MysqlQueryError(node, message, code)
    if isinstance(exc, (OSError, socket.timeout)):
        return MysqlUnavailable(node, str(exc) or type(exc).__name__)
    return MysqlQueryError(node, f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one server. ``name`` is the config node name used in messages."""

    name: str
    host: str
    port: int
    user: str
    password: str
    unix_socket: str | None = None
    connect_timeout: float = 2.0
    read_timeout: float = 10.0
    tls: bool = False

    def describe(self) -> str:
        where = self.unix_socket or f"{self.host}:{self.port}"
        return f"{self.name} ({self.user}@{where})"


class SqlServer(abc.ABC):
    """One session on one server, as dualbeat talks to it: statements in, rows or a
    translated ``MysqlError`` out. Implementations differ only in ``query``, ``dialect``
    and ``close``; the helpers below are shared so a fake cannot drift from the real one.
    """

    endpoint: Endpoint

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    @abc.abstractmethod
    def dialect(self) -> Dialect:
        """The server's dialect."""

    @abc.abstractmethod
    def query(self, stmt: Statement) -> list[Row]:
        """Run one statement and return its rows (empty for statements without a result)."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the session; the next statement opens a new one."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def execute(self, *stmts: Statement) -> None:
        """Run statements in order on the same session; stops at the first failure."""
        for stmt in stmts:
            self.query(stmt)

    def variables(self, names: Sequence[str]) -> dict[str, str]:
        """Global variables by name (lower-case keys); a name the server lacks is absent."""
        rows = self.query(self.dialect.global_variables(names))
        return {str(r["Variable_name"]).lower(): str(r["Value"]) for r in rows}

    def status(self, names: Sequence[str]) -> dict[str, str]:
        """Global status counters by name (lower-case keys)."""
        rows = self.query(self.dialect.global_status(names))
        return {str(r["Variable_name"]).lower(): str(r["Value"]) for r in rows}

    def set_globals(self, values: Mapping[str, object]) -> None:
        self.execute(*(self.dialect.set_global(k, v) for k, v in values.items()))


class Connect(Protocol):
    """How a component opens its sessions: ``Server`` itself, or ``FakeServer.connect``
    in tests. Components that own connections take one of these instead of building
    ``Server`` objects, so a unit test can hand them an in-memory server."""

    def __call__(self, endpoint: Endpoint, /, *, idle_check: float | None = None) -> SqlServer: ...


class Server(SqlServer):
    """A lazily opened, reused connection to one server plus its dialect.

    A failed statement closes the connection so the next call reconnects: a half-broken
    session must never be reused after a timeout.

    ``idle_check``: a connection left idle longer than this many seconds is pinged before
    it is used again, and reopened if the server dropped it meanwhile (a restarted mysqld,
    ``wait_timeout``). For a rarely used connection whose first statement must not fail
    just because it is stale: the agent's actions, where a failed promotion step aborts
    the promotion.
    """

    def __init__(self, endpoint: Endpoint, *, idle_check: float | None = None) -> None:
        self.endpoint = endpoint
        self.idle_check = idle_check
        self._conn: pymysql.connections.Connection[Any] | None = None
        self._dialect: Dialect | None = None
        self._used_at = 0.0

    def _connection(self) -> pymysql.connections.Connection[Any]:
        now = time.monotonic()
        if (
            self._conn is not None
            and self.idle_check is not None
            and now - self._used_at > self.idle_check
        ):
            try:
                self._conn.ping(reconnect=False)
            except Exception:  # stale: reopened below; a real outage fails there
                self.close()
        self._used_at = now
        if self._conn is None:
            ep = self.endpoint
            try:
                self._conn = pymysql.connect(
                    host=ep.host,
                    port=ep.port,
                    user=ep.user,
                    password=ep.password,
                    unix_socket=ep.unix_socket,
                    connect_timeout=ep.connect_timeout,
                    read_timeout=ep.read_timeout,
                    write_timeout=ep.read_timeout,
                    autocommit=True,
                    cursorclass=pymysql.cursors.DictCursor,
                    # PyMySQL builds a TLS context per connection unless told not to:
                    # 25-45 ms on every reconnect of a 200 ms probe loop.
                    ssl_disabled=not ep.tls,
                )
            except Exception as exc:
                raise classify(ep.describe(), exc) from exc
        return self._conn

    @property
    def dialect(self) -> Dialect:
        """The server's dialect, detected once from ``@@version`` on first use."""
        if self._dialect is None:
            rows = self.query(
                Statement("SELECT @@GLOBAL.version AS v, @@GLOBAL.version_comment AS c")
            )
            version = ServerVersion.parse(str(rows[0]["v"]), str(rows[0]["c"] or ""))
            self._dialect = Dialect.for_version(version)
        return self._dialect

    def query(self, stmt: Statement) -> list[Row]:
        """Run one statement and return its rows (empty for statements without a result)."""
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                cur.execute(stmt.sql, stmt.args or None)
                return list(cur.fetchall())
        except Exception as exc:
            self.close()
            raise classify(self.endpoint.describe(), exc) from exc

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            # A socket that already broke has nothing left to release.
            with contextlib.suppress(pymysql.err.Error):
                conn.close()
