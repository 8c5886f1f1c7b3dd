"""One interface over MariaDB 10.6+ and MySQL 5.7 / 8.0 / 8.4+.

Every flavour difference dualbeat cares about is decided here, from the parsed server
version, once: statement keywords (``SLAVE`` until MySQL 8.0.21, ``REPLICA`` after; ``CHANGE
MASTER`` until 8.0.22, ``CHANGE REPLICATION SOURCE`` after; ``SHOW BINARY LOG STATUS`` from
8.2), GTID model (MySQL UUID sets vs MariaDB domain-server-seqno positions), read-only
switches (``super_read_only`` exists only in MySQL 5.7.8+), semi-sync variable names
(``*_master``/``*_slave`` before MySQL 8.0.26 and in MariaDB, ``*_source``/``*_replica``
after, the only ones left in 8.4).

Statements come back as ``Statement(sql, args)`` for PyMySQL's ``cursor.execute(sql, args)``:
values (host names, passwords, GTID sets) always travel in ``args`` and are escaped by the
driver; only identifiers we validated or constants of this module are part of ``sql``. Since
PyMySQL interpolates with ``%`` whenever ``args`` is given (even empty), no ``sql`` here
contains a bare ``%``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from dualbeat.mysql.replica_status import (
    BinlogStatus,
    GtidFamily,
    ReplicaStatus,
    Row,
    ThreadState,
    parse_binlog_rows,
    parse_replica_rows,
    parse_variable_rows,
    to_int,
)
from dualbeat.mysql.statement import (
    Statement,
    check_endpoint,
    identifier,
    placeholders,
    seconds,
)
from dualbeat.mysql.version import Flavor, ServerVersion

_HEARTBEAT_MAX = 4294967  # seconds; both flavours reject larger MASTER_HEARTBEAT_PERIOD

__all__ = [
    "BinlogStatus",
    "Dialect",
    "Flavor",
    "MariaDBDialect",
    "MySQLDialect",
    "ReplicaStatus",
    "ServerVersion",
    "Statement",
    "ThreadState",
]


class Dialect:
    """What to say to one server, and how to read its answers.

    Obtain one with ``Dialect.for_version``; the subclasses only fill in the per-flavour
    data below, every method is shared, so callers never need to know which one they hold.
    """

    gtid_family: GtidFamily
    has_super_read_only: bool
    semisync_source_enabled_var: str
    semisync_replica_enabled_var: str
    semisync_wait_point_var: str | None
    semisync_timeout_var: str
    semisync_source_status_var: str
    semisync_replica_status_var: str
    semisync_unacked_var: str  # status: commits that returned without an acknowledgement
    semisync_waiting_var: str  # status: sessions waiting for one
    semisync_wait_no_replica_var: str
    # Per-flavour data, set by the subclass constructors.
    _replica_word: str  # SLAVE or REPLICA, in START/STOP/RESET/SHOW ... STATUS
    _binlog_status_sql: str
    _change_source_sql: str  # placeholders: host, port, user, password, retry, heartbeat
    _wait_function: str
    _executed_gtids_var: str
    _gtid_variables: tuple[str, ...]
    _semisync_plugins: tuple[tuple[str, str], tuple[str, str]] | None  # (source, replica)
    global_status_table: str  # status counters as a table, usable in a subquery (the probe)
    _applier_threads_sql: str

    def __init__(self, version: ServerVersion) -> None:
        self.version = version

    @staticmethod
    def for_version(v: ServerVersion) -> Dialect:
        if v.flavor is Flavor.MARIADB:
            return MariaDBDialect(v)
        return MySQLDialect(v)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.version})"

    # --- status -----------------------------------------------------------------------

    def replica_status(self) -> Statement:
        return Statement(f"SHOW {self._replica_word} STATUS")

    def parse_replica_status(self, rows: Sequence[Row], channel: str = "") -> ReplicaStatus | None:
        """The normalised status of ``channel``, or ``None`` when no replica is configured."""
        return parse_replica_rows(rows, self.gtid_family, channel)

    def binlog_status(self) -> Statement:
        return Statement(self._binlog_status_sql)

    def parse_binlog_status(self, rows: Sequence[Row]) -> BinlogStatus | None:
        return parse_binlog_rows(rows)

    # --- replication control ------------------------------------------------------------

    def change_source(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        *,
        connect_retry: int,
        heartbeat_period: float,
    ) -> Statement:
        """Point replication at ``host:port`` with GTID positioning; threads must be stopped.

        MariaDB uses ``MASTER_USE_GTID=slave_pos``: resume from ``@@gtid_slave_pos``, what
        this node applied *from replication*. ``current_pos`` would also count transactions
        written locally, so a stray local write would silently move the starting point (or
        break the connection in strict mode); dualbeat finds such transactions explicitly,
        in its rejoin analysis, before replication starts again.

        MySQL uses ``AUTO_POSITION=1`` (needs ``gtid_mode=ON``): the replica sends its
        ``gtid_executed`` and the source streams what is missing, so no binlog file and
        position is ever carried across a fail-over. From 8.0 the account usually
        authenticates with ``caching_sha2_password``, which without TLS needs the source's
        RSA key: hence ``GET_SOURCE_PUBLIC_KEY=1`` (else error 2061, "Authentication
        requires secure connection").

        ``heartbeat_period`` (seconds) should be well below ``slave_net_timeout`` so that a
        silent source is noticed quickly. The password travels only in ``args``.
        """
        check_endpoint(host, port, user, connect_retry)
        heartbeat = seconds(heartbeat_period, "heartbeat_period", _HEARTBEAT_MAX)
        return Statement(
            self._change_source_sql, (host, port, user, password, connect_retry, heartbeat)
        )

    def start_replica(self) -> Statement:
        return Statement(f"START {self._replica_word}")

    def stop_replica(self) -> Statement:
        return Statement(f"STOP {self._replica_word}")

    def reset_replica_all(self) -> Statement:
        """Forget the source entirely (the status statement then returns no row)."""
        return Statement(f"RESET {self._replica_word} ALL")

    def start_sql_thread(self) -> Statement:
        return Statement(f"START {self._replica_word} SQL_THREAD")

    def stop_sql_thread(self) -> Statement:
        return Statement(f"STOP {self._replica_word} SQL_THREAD")

    def stop_io_thread(self) -> Statement:
        return Statement(f"STOP {self._replica_word} IO_THREAD")

    def start_io_thread(self) -> Statement:
        return Statement(f"START {self._replica_word} IO_THREAD")

    def wait_for_gtids(self, gtids: str, timeout: float) -> Statement:
        """Block until ``gtids`` are applied here or ``timeout`` seconds pass.

        MariaDB's ``MASTER_GTID_WAIT`` watches ``@@gtid_slave_pos`` (what replication
        applied); MySQL's ``WAIT_FOR_EXECUTED_GTID_SET`` watches ``@@gtid_executed``,
        replica threads running or not. One row, column ``result``: see ``wait_succeeded``.
        """
        if not isinstance(gtids, str):
            raise ValueError(f"gtids must be a string, got {gtids!r}")
        return Statement(
            f"SELECT {self._wait_function}(%s, %s) AS result",
            (gtids, seconds(timeout, "timeout")),
        )

    @staticmethod
    def wait_succeeded(rows: Sequence[Row]) -> bool:
        """True when the wait reached its GTIDs: both functions return 0 for that (and
        MySQL 1, MariaDB -1 on timeout)."""
        if not rows:
            return False
        value = next(iter(rows[0].values()), None)
        return value is not None and to_int(value, default=-1) == 0

    # --- read-only --------------------------------------------------------------------

    def set_read_only(self, on: bool) -> list[Statement]:
        """Statements that make the server read-only (``on``) or writable.

        Where it exists (MySQL 5.7.8+), ``super_read_only`` is used: plain ``read_only``
        still lets SUPER/CONNECTION_ADMIN accounts write, which is how stray admin sessions
        and cron jobs cause split brain on a standby. Turning it on also sets ``read_only``;
        making the server writable clears both, ``super_read_only`` first.
        """
        value = "ON" if on else "OFF"
        if not self.has_super_read_only:
            return [self.set_global("read_only", value)]
        if on:
            return [self.set_global("super_read_only", value)]
        return [self.set_global("super_read_only", value), self.set_global("read_only", value)]

    def read_only_variables(self) -> tuple[str, ...]:
        if self.has_super_read_only:
            return ("read_only", "super_read_only")
        return ("read_only",)

    def semisync_counters(self) -> dict[str, str]:
        """The source's semi-sync status counters the probe reads, by what they say
        (``mysql.semisync.parse_source``)."""
        return {
            "status": self.semisync_source_status_var,
            "unacked": self.semisync_unacked_var,
            "waiting": self.semisync_waiting_var,
        }

    # --- semi-synchronous replication ---------------------------------------------------

    def semisync_plugins(self, source: bool, replica: bool) -> tuple[tuple[str, str], ...]:
        """``(plugin, library)`` pairs to install for these sides; none where built in."""
        if self._semisync_plugins is None:
            return ()
        source_plugin, replica_plugin = self._semisync_plugins
        return tuple(p for want, p in ((source, source_plugin), (replica, replica_plugin)) if want)

    def installed_plugins(self, names: Sequence[str]) -> Statement:
        """Which of ``names`` are loaded and active (one row each, column ``PLUGIN_NAME``)."""
        if not names:
            raise ValueError("installed_plugins needs at least one plugin name")
        return Statement(
            "SELECT PLUGIN_NAME FROM information_schema.PLUGINS "
            f"WHERE PLUGIN_STATUS = 'ACTIVE' AND PLUGIN_NAME IN ({placeholders(len(names))})",
            tuple(names),
        )

    def enable_semisync(
        self,
        source: bool,
        replica: bool,
        *,
        installed: Collection[str] = (),
        timeout_ms: int | None = None,
    ) -> list[Statement]:
        """Turn semi-sync on for the source side, the replica side, or both.

        On MySQL the plugins are installed first unless named in ``installed`` (read with
        ``installed_plugins``: INSTALL PLUGIN fails for a plugin already loaded). MariaDB
        has semi-sync built in since 10.3.3, so there is nothing to install.

        The source waits at ``AFTER_SYNC`` ("lossless" semi-sync): a transaction is
        acknowledged by the replica *before* it commits in the storage engine, so no client
        can read a row the standby does not have. With ``AFTER_COMMIT`` (MariaDB's default)
        a crash between commit and acknowledgement loses writes other sessions have already
        seen. ``timeout_ms`` bounds how long a commit waits for the replica before the
        source falls back to asynchronous replication. The replica side takes effect at
        the next I/O thread start: restart it.
        """
        statements = [
            Statement(f"INSTALL PLUGIN {identifier(name)} SONAME '{library}'")
            for name, library in self.semisync_plugins(source, replica)
            if name not in installed
        ]
        if source:
            if self.semisync_wait_point_var is not None:
                statements.append(self.set_global(self.semisync_wait_point_var, "AFTER_SYNC"))
            if timeout_ms is not None:
                if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int):
                    raise ValueError(f"timeout_ms must be an integer, got {timeout_ms!r}")
                statements.append(self.set_global(self.semisync_timeout_var, timeout_ms))
            statements.append(self.set_global(self.semisync_source_enabled_var, "ON"))
        if replica:
            statements.append(self.set_global(self.semisync_replica_enabled_var, "ON"))
        return statements

    def disable_semisync(self, source: bool, replica: bool) -> list[Statement]:
        names = [self.semisync_source_enabled_var] * source
        names += [self.semisync_replica_enabled_var] * replica
        return [self.set_global(name, "OFF") for name in names]

    # --- variables --------------------------------------------------------------------

    def executed_gtids_var(self) -> str:
        return self._executed_gtids_var

    def gtid_variables(self) -> tuple[str, ...]:
        """GTID-related variables worth showing an operator, in a sensible order."""
        return self._gtid_variables

    def last_gtid(self) -> Statement:
        """The GTID of this session's last commit, as column ``gtid``. MySQL keeps none
        in a variable (only through session state tracking), so there it is NULL."""
        return Statement(
            "SELECT @@SESSION.last_gtid AS gtid"
            if self.gtid_family == "mariadb"
            else "SELECT NULL AS gtid"
        )

    def restart_history(self, position: str) -> list[Statement]:
        """Forget this server's binary logs and GTID history, and start again at
        ``position`` (the source's position that a copy of its data was taken at): what
        a rebuilt replica needs so that its own old GTIDs never resurface and its source
        is asked for exactly what came after the copy. Replication must be stopped."""
        if self.gtid_family == "mariadb":
            return [
                Statement("RESET MASTER"),
                self.set_global("gtid_binlog_state", position),
                self.set_global("gtid_slave_pos", position),
            ]
        reset = "RESET BINARY LOGS AND GTIDS" if self.version.at_least(8, 4) else "RESET MASTER"
        return [Statement(reset), self.set_global("gtid_purged", position)]

    def internal_writes(self, domain: int) -> list[Statement]:
        """Statements that send this session's binlogged writes to GTID ``domain``: the
        agent's own writes (schema, epoch row) stay apart from client transactions, so
        the comparison between the nodes can ignore them. MariaDB only (a session
        ``gtid_domain_id``, which needs SUPER); on MySQL nothing yet (8.4 could tag them)."""
        if self.gtid_family != "mariadb":
            return []
        if isinstance(domain, bool) or not isinstance(domain, int) or not 0 <= domain < 2**32:
            raise ValueError(f"not a GTID domain id: {domain!r}")
        return [Statement("SET SESSION gtid_domain_id = %s", (domain,))]

    def global_variables(self, names: Sequence[str]) -> Statement:
        return _show_where_in("SHOW GLOBAL VARIABLES", names)

    def global_status(self, names: Sequence[str]) -> Statement:
        return _show_where_in("SHOW GLOBAL STATUS", names)

    @staticmethod
    def parse_variables(rows: Sequence[Row]) -> dict[str, str]:
        """Rows of ``global_variables``/``global_status`` as ``{name: value}``."""
        return parse_variable_rows(rows)

    def set_global(self, name: str, value: object) -> Statement:
        """``SET GLOBAL name = value``: the name is validated, the value is an argument."""
        return Statement(f"SET GLOBAL {identifier(name)} = %s", (value,))

    # --- sessions ---------------------------------------------------------------------

    def list_client_sessions(self) -> Statement:
        """Every session but our own. Replication and daemon threads are included (their
        ``COMMAND`` and ``USER`` tell them apart): the caller decides what to kill."""
        return Statement(
            "SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE "
            "FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"
        )

    def kill(self, thread_id: int) -> Statement:
        if isinstance(thread_id, bool) or not isinstance(thread_id, int) or thread_id < 1:
            raise ValueError(f"invalid thread id {thread_id!r}")
        return Statement("KILL CONNECTION %s", (thread_id,))

    def kill_query(self, thread_id: int) -> Statement:
        """Interrupt the thread's current statement; the session itself survives."""
        self.kill(thread_id)  # same validation
        return Statement("KILL QUERY %s", (thread_id,))

    def applier_threads(self) -> Statement:
        """Session ids (column ``ID``) of the replica's applier threads: the SQL thread and
        its parallel workers, while they run. ``STOP SLAVE|REPLICA`` waits for an applier
        stuck in a lock wait; interrupting it first keeps a stop bounded. MariaDB lists
        them in the process list; MySQL only in ``performance_schema.threads`` (needs
        ``performance_schema=ON``), under names that changed in 8.0.26."""
        return Statement(self._applier_threads_sql)


def _show_where_in(show: str, names: Sequence[str]) -> Statement:
    if isinstance(names, str) or not names:
        raise ValueError(f"{show} needs a non-empty list of names, got {names!r}")
    return Statement(f"{show} WHERE Variable_name IN ({placeholders(len(names))})", tuple(names))


class MariaDBDialect(Dialect):
    """MariaDB 10.6+: domain-server-seqno GTIDs, ``read_only`` only, semi-sync built in."""

    def __init__(self, version: ServerVersion) -> None:
        super().__init__(version)
        self.gtid_family = "mariadb"
        self.has_super_read_only = False
        self.semisync_source_enabled_var = "rpl_semi_sync_master_enabled"
        self.semisync_replica_enabled_var = "rpl_semi_sync_slave_enabled"
        self.semisync_wait_point_var = "rpl_semi_sync_master_wait_point"
        self.semisync_timeout_var = "rpl_semi_sync_master_timeout"
        self.semisync_source_status_var = "Rpl_semi_sync_master_status"
        self.semisync_replica_status_var = "Rpl_semi_sync_slave_status"
        self.semisync_unacked_var = "Rpl_semi_sync_master_no_tx"
        self.semisync_waiting_var = "Rpl_semi_sync_master_wait_sessions"
        self.semisync_wait_no_replica_var = "rpl_semi_sync_master_wait_no_slave"
        self._replica_word = "SLAVE"
        self._binlog_status_sql = "SHOW MASTER STATUS"
        self._change_source_sql = (
            "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, "
            "MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos, "
            "MASTER_CONNECT_RETRY = %s, MASTER_HEARTBEAT_PERIOD = %s"
        )
        self._wait_function = "MASTER_GTID_WAIT"
        self._executed_gtids_var = "gtid_current_pos"
        self._gtid_variables = (
            "server_id",
            "gtid_domain_id",
            "gtid_strict_mode",
            "gtid_ignore_duplicates",
            "gtid_binlog_pos",
            "gtid_current_pos",
            "gtid_slave_pos",
            "log_slave_updates",
        )
        self._semisync_plugins = None
        self.global_status_table = "information_schema.GLOBAL_STATUS"
        self._applier_threads_sql = (
            "SELECT ID FROM information_schema.PROCESSLIST "
            "WHERE COMMAND IN ('Slave_SQL', 'Slave_worker')"
        )


class MySQLDialect(Dialect):
    """MySQL 5.7, 8.0, 8.4+: UUID GTID sets, ``super_read_only``, semi-sync as plugins."""

    def __init__(self, version: ServerVersion) -> None:
        super().__init__(version)
        v = version
        self.gtid_family = "mysql"
        self.has_super_read_only = v.at_least(5, 7, 8)
        # 8.0.26 renamed variables (log_replica_updates) and shipped new semi-sync plugins
        # with *_source/*_replica names; 8.4 dropped the old ones, so from 8.0.26 on dualbeat
        # installs and uses only the new ones.
        renamed = v.at_least(8, 0, 26)
        src, rep = ("source", "replica") if renamed else ("master", "slave")
        self.semisync_source_enabled_var = f"rpl_semi_sync_{src}_enabled"
        self.semisync_replica_enabled_var = f"rpl_semi_sync_{rep}_enabled"
        self.semisync_wait_point_var = f"rpl_semi_sync_{src}_wait_point"
        self.semisync_timeout_var = f"rpl_semi_sync_{src}_timeout"
        self.semisync_source_status_var = f"Rpl_semi_sync_{src}_status"
        self.semisync_replica_status_var = f"Rpl_semi_sync_{rep}_status"
        self.semisync_unacked_var = f"Rpl_semi_sync_{src}_no_tx"
        self.semisync_waiting_var = f"Rpl_semi_sync_{src}_wait_sessions"
        self.semisync_wait_no_replica_var = f"rpl_semi_sync_{src}_wait_no_{rep}"
        self._semisync_plugins = (
            (f"rpl_semi_sync_{src}", f"semisync_{src}.so"),
            (f"rpl_semi_sync_{rep}", f"semisync_{rep}.so"),
        )
        # 8.0.22 renamed SLAVE to REPLICA in statements and in SHOW output; 8.2 added
        # SHOW BINARY LOG STATUS and 8.4 removed SHOW MASTER STATUS.
        self._replica_word = "REPLICA" if v.at_least(8, 0, 22) else "SLAVE"
        self._binlog_status_sql = (
            "SHOW BINARY LOG STATUS" if v.at_least(8, 2) else "SHOW MASTER STATUS"
        )
        # 8.0.23 renamed CHANGE MASTER; GET_*_PUBLIC_KEY is for 8.0's caching_sha2_password.
        if v.at_least(8, 0, 23):
            head, word, key = "CHANGE REPLICATION SOURCE TO", "SOURCE", "GET_SOURCE_PUBLIC_KEY"
        else:
            head, word, key = "CHANGE MASTER TO", "MASTER", "GET_MASTER_PUBLIC_KEY"
        public_key = f", {key} = 1" if v.at_least(8) else ""
        self._change_source_sql = (
            f"{head} {word}_HOST = %s, {word}_PORT = %s, {word}_USER = %s, "
            f"{word}_PASSWORD = %s, {word}_AUTO_POSITION = 1, "
            f"{word}_CONNECT_RETRY = %s, {word}_HEARTBEAT_PERIOD = %s{public_key}"
        )
        self._wait_function = "WAIT_FOR_EXECUTED_GTID_SET"
        self.global_status_table = "performance_schema.global_status"
        self._applier_threads_sql = (
            "SELECT PROCESSLIST_ID AS ID FROM performance_schema.threads "
            "WHERE PROCESSLIST_ID IS NOT NULL AND NAME IN ('thread/sql/slave_sql', "
            "'thread/sql/slave_worker', 'thread/sql/replica_sql', 'thread/sql/replica_worker')"
        )
        self._executed_gtids_var = "gtid_executed"
        self._gtid_variables = (
            "server_id",
            "server_uuid",
            "gtid_mode",
            "enforce_gtid_consistency",
            "gtid_executed",
            "gtid_purged",
            "log_replica_updates" if renamed else "log_slave_updates",
        )
