"""A point-in-time picture of one server: everything the replication checks judge.

Taking the snapshot is the only I/O; judging it (``dualbeat.repl.check``) is pure, so every
pitfall rule is unit-tested against hand-made snapshots without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dualbeat.core.gtid import GtidSet, parse_gtid_set
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Flavor, ReplicaStatus, ServerVersion, Statement
from dualbeat.mysql.replica_status import to_flag

# Variables worth judging. Several have two names across versions (slave → replica); the
# server answers with whichever it knows and ``ServerSnapshot.var`` looks up both.
VARIABLES = (
    "server_id",
    "server_uuid",
    "log_bin",
    "log_slave_updates",
    "log_replica_updates",
    "binlog_format",
    "auto_increment_increment",
    "auto_increment_offset",
    "sync_binlog",
    "innodb_flush_log_at_trx_commit",
    "relay_log_recovery",
    "slave_net_timeout",
    "replica_net_timeout",
    "read_only",
    "super_read_only",
    "gtid_mode",
    "enforce_gtid_consistency",
    "gtid_domain_id",
    "gtid_strict_mode",
    "gtid_binlog_pos",
    "gtid_slave_pos",
    "gtid_current_pos",
    "gtid_executed",
    "gtid_purged",
    "report_host",
    "skip_slave_start",
    "skip_replica_start",
)

_SYSTEM_SCHEMAS = frozenset(
    {"mysql", "information_schema", "performance_schema", "sys", "dualbeat"}
)


@dataclass(frozen=True)
class ServerSnapshot:
    node: str
    version: ServerVersion
    variables: Mapping[str, str]
    replica: ReplicaStatus | None
    executed: GtidSet
    semisync: Mapping[str, str] = field(default_factory=dict)
    user_schemas: tuple[str, ...] = ()

    def var(self, *names: str) -> str | None:
        """The first of ``names`` the server has (values as the server prints them)."""
        for name in names:
            if name in self.variables:
                return self.variables[name]
        return None

    def flag(self, *names: str) -> bool | None:
        return to_flag(self.var(*names))

    def number(self, *names: str) -> int | None:
        value = self.var(*names)
        try:
            return None if value is None else int(value)
        except ValueError:
            return None

    @property
    def is_mariadb(self) -> bool:
        return self.version.flavor is Flavor.MARIADB

    @property
    def origin(self) -> str | None:
        """What this server's own GTIDs carry: server_id (MariaDB) or server_uuid (MySQL)."""
        return self.var("server_id") if self.is_mariadb else self.var("server_uuid")

    @property
    def writable(self) -> bool:
        return not (self.flag("read_only") or self.flag("super_read_only"))


def take(server: Server) -> ServerSnapshot:
    """Read one server's replication-relevant state (a handful of short statements)."""
    d = server.dialect
    variables = server.variables([*VARIABLES, *d.gtid_variables()])
    replica = d.parse_replica_status(server.query(d.replica_status()))
    semi = server.variables(
        [d.semisync_source_enabled_var, d.semisync_replica_enabled_var]
        + ([d.semisync_wait_point_var] if d.semisync_wait_point_var else [])
    )
    semi |= server.status([d.semisync_source_status_var])
    executed = parse_gtid_set(variables.get(d.executed_gtids_var(), ""), d.gtid_family)
    schemas = server.query(Statement("SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA"))
    user = tuple(sorted(str(r["s"]) for r in schemas if str(r["s"]) not in _SYSTEM_SCHEMAS))
    return ServerSnapshot(
        node=server.name,
        version=d.version,
        variables=variables,
        replica=replica,
        executed=executed,
        semisync=semi,
        user_schemas=user,
    )
