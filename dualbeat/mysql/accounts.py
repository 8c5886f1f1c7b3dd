"""MySQL accounts dualbeat creates: the replication user, the agent's, and the lab's users.

Accounts are created with the binary log off for the session (``sql_log_bin=0``) unless the
caller wants them replicated: in a dual-master pair a ``CREATE USER`` run on both servers
and logged on both comes back through replication as "user already exists" and stops the
SQL thread. Idempotent: running twice changes nothing but the password, if it differs.
"""

from __future__ import annotations

import enum
import re

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Flavor, ServerVersion, Statement

_IDENT = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class Grant(enum.Enum):
    """Privilege profiles; the SQL fragments stay in this module."""

    REPLICATION = ("REPLICATION SLAVE", "*.*", False)
    ADMIN = ("ALL PRIVILEGES", "*.*", True)
    DATABASE = ("ALL PRIVILEGES", "{db}.*", False)


def _check_ident(kind: str, value: str) -> str:
    if not _IDENT.match(value):
        raise ValueError(f"{kind} {value!r} must be 1-64 letters, digits or underscores")
    return value


def ensure_user(
    server: Server,
    user: str,
    password: str,
    grant: Grant,
    *,
    host: str = "%",
    database: str = "",
    binlog: bool = False,
) -> None:
    """Create ``user@host`` if missing, set its password, and grant the profile."""
    _check_ident("user name", user)
    privileges, target, grant_option = grant.value
    if grant is Grant.DATABASE:
        target = target.format(db=f"`{_check_ident('database', database)}`")
    account = "%s@%s"
    stmts = [
        Statement(f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY %s", (user, host, password)),
        Statement(f"ALTER USER {account} IDENTIFIED BY %s", (user, host, password)),
        Statement(
            f"GRANT {privileges} ON {target} TO {account}"
            + (" WITH GRANT OPTION" if grant_option else ""),
            (user, host),
        ),
    ]
    if not binlog:
        stmts = [
            Statement("SET SESSION sql_log_bin = 0"),
            *stmts,
            Statement("SET SESSION sql_log_bin = 1"),
        ]
    server.execute(*stmts)


#: The agent's own schema (heartbeat table, epoch): it creates and writes it.
AGENT_SCHEMA = "dualbeat"


def agent_privileges(version: ServerVersion) -> str:
    """The global privileges of the agent's account on this server family and version.

    Why each: SELECT (``repl check`` and ``checksum`` read every table), PROCESS (the
    sessions to kill), REPLICATION CLIENT (binary log and replica status), the replica
    admin privilege (stop/start/change the channel, ``gtid_slave_pos``), the connection
    admin privilege (kill other users' sessions), and the right to set ``read_only`` and
    the semi-sync variables: READ_ONLY ADMIN plus SUPER on MariaDB, SYSTEM_VARIABLES_ADMIN
    on MySQL 8, SUPER on MySQL 5.7 (which has none of the split privileges).
    """
    if version.flavor is Flavor.MARIADB:
        return (
            "SELECT, PROCESS, SUPER, REPLICATION CLIENT, REPLICATION SLAVE ADMIN, "
            "CONNECTION ADMIN, READ_ONLY ADMIN"
        )
    if version.at_least(8, 0):
        return (
            "SELECT, PROCESS, REPLICATION CLIENT, REPLICATION_SLAVE_ADMIN, "
            "SYSTEM_VARIABLES_ADMIN, CONNECTION_ADMIN"
        )
    return "SELECT, PROCESS, SUPER, REPLICATION CLIENT"


def ensure_agent_user(server: Server, user: str, password: str, *, host: str = "%") -> None:
    """Create the agent's account with exactly :func:`agent_privileges` on ``*.*`` and all
    privileges on its own schema, not binlogged (each server gets its own, as for the
    replication user). Idempotent; a second run also resets the password."""
    _check_ident("user name", user)
    account = "%s@%s"
    server.execute(
        Statement("SET SESSION sql_log_bin = 0"),
        Statement(f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY %s", (user, host, password)),
        Statement(f"ALTER USER {account} IDENTIFIED BY %s", (user, host, password)),
        Statement(
            f"GRANT {agent_privileges(server.dialect.version)} ON *.* TO {account}", (user, host)
        ),
        Statement(f"GRANT ALL PRIVILEGES ON `{AGENT_SCHEMA}`.* TO {account}", (user, host)),
        Statement("SET SESSION sql_log_bin = 1"),
    )


def ensure_database(server: Server, database: str) -> None:
    """Create a database if missing (logged: it replicates to the peer)."""
    server.execute(
        Statement(f"CREATE DATABASE IF NOT EXISTS `{_check_ident('database', database)}`")
    )
