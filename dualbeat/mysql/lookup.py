"""Read-only queries of the rejoin analysis: table definitions, one row by its key, the
active's epoch record.

Every statement here is a plain ``SELECT``: the analysis runs against a fenced node and
against the live active, and must change neither (a write on the fenced node would be one
more errant transaction; one on the active would be replicated).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from dualbeat.errors import MysqlQueryError
from dualbeat.mysql.binlog.values import (
    Column,
    TableDef,
    Value,
    from_server,
    key_arg,
    key_predicate,
    quote_ident,
    select_expr,
)
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat.mysql.probe import probe_state
from dualbeat.mysql.replica_status import to_flag, to_optional_int, to_str

__all__ = ["EpochRecord", "ServerState", "describe", "epoch_record", "fetch_row", "server_state"]

_COLUMNS = (
    "SELECT COLUMN_NAME AS name, ORDINAL_POSITION AS position, DATA_TYPE AS data_type, "
    "COLUMN_TYPE AS column_type, CHARACTER_SET_NAME AS charset, NUMERIC_SCALE AS num_scale, "
    "DATETIME_PRECISION AS time_scale, CHARACTER_OCTET_LENGTH AS octets "
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
    "ORDER BY ORDINAL_POSITION"
)
_PRIMARY_KEY = (
    "SELECT COLUMN_NAME AS name FROM information_schema.KEY_COLUMN_USAGE "
    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' "
    "ORDER BY ORDINAL_POSITION"
)
_EPOCH = "SELECT epoch, node, takeover FROM dualbeat.epoch WHERE id = 1"
ER_NO_SUCH_TABLE = 1146
ER_BAD_DB = 1049


def describe(server: Server, schema: str, table: str) -> TableDef | None:
    """The table's columns (ordinal order) and primary key; None when it does not exist.

    Needs no privilege on the table's data, but ``information_schema`` only lists what
    the account may see: grant ``SELECT`` on the application schemas."""
    rows = server.query(Statement(_COLUMNS, (schema, table)))
    if not rows:
        return None
    columns = tuple(column_from_row(r) for r in rows)
    key = server.query(Statement(_PRIMARY_KEY, (schema, table)))
    return TableDef(schema, table, columns, tuple(to_str(r["name"]) for r in key))


def fetch_row(server: Server, table: TableDef, key: Mapping[str, Value]) -> dict[str, Value] | None:
    """The row whose primary key is ``key`` (canonical values), in canonical form, or None.

    A read-only point lookup by the primary key; the key's columns are compared in their
    own collation, as a unique-key check on INSERT would compare them."""
    exprs = ", ".join(f"{select_expr(c)} AS {quote_ident(f'c{c.position}')}" for c in table.columns)
    where = " AND ".join(key_predicate(table.column(name)) for name in table.primary_key)
    sql = (
        f"SELECT {exprs} FROM {quote_ident(table.schema)}.{quote_ident(table.name)} "
        f"WHERE {where} LIMIT 1"
    )
    args = tuple(key_arg(key[name]) for name in table.primary_key)
    rows = server.query(Statement(sql, args))
    if not rows:
        return None
    row = rows[0]
    return {c.name: from_server(row[f"c{c.position}"], c) for c in table.columns}


def column_from_row(row: Mapping[str, object]) -> Column:
    """A ``Column`` from one row of the ``information_schema.COLUMNS`` query above."""
    scale = row["num_scale"] if row["num_scale"] is not None else row["time_scale"]
    return Column(
        name=to_str(row["name"]),
        position=int(to_str(row["position"])),
        data_type=to_str(row["data_type"]).lower(),
        column_type=to_str(row["column_type"]),
        charset=to_str(row["charset"]) or None,
        scale=to_optional_int(scale),
        octet_length=to_optional_int(row["octets"]),
    )


@dataclass(frozen=True)
class EpochRecord:
    """The active's ``dualbeat.epoch`` row: its epoch and the last takeover (as JSON)."""

    epoch: int
    node: str
    takeover: dict[str, object] | None


def epoch_record(server: Server) -> EpochRecord | None:
    """The epoch row the last promoted active wrote, or None when there is none yet."""
    try:
        rows = server.query(Statement(_EPOCH))
    except MysqlQueryError as exc:
        if exc.code in (ER_NO_SUCH_TABLE, ER_BAD_DB):
            return None
        raise
    if not rows:
        return None
    raw = rows[0]["takeover"]
    try:
        takeover = json.loads(to_str(raw)) if raw is not None else None
    except ValueError:
        takeover = None
    return EpochRecord(
        epoch=int(to_str(rows[0]["epoch"])),
        node=to_str(rows[0]["node"]),
        takeover=takeover if isinstance(takeover, dict) else None,
    )


@dataclass(frozen=True)
class ServerState:
    """``origin``: what this server's own GTIDs carry (``server_id`` on MariaDB,
    ``server_uuid`` on MySQL); ``executed``: its executed GTID set (text)."""

    origin: str
    executed: str
    read_only: bool


def server_state(server: Server) -> ServerState:
    """Origin, executed set and read-only state in one round trip (the monitor's query)."""
    row = server.query(probe_state(server.dialect))[0]
    read_only = bool(to_flag(row["read_only"])) or bool(to_flag(row["super_read_only"]))
    return ServerState(to_str(row["origin"]), to_str(row["executed"]), read_only)
