"""The SQL text of the rejoin workflow: the rebuild's look at the active's schemas, the
load's unlogged prologue, and the statements that re-apply a lost row on the active.

Kept apart from the workflow so that every statement rejoin sends is in one place (the
package rule: SQL lives in ``dualbeat.mysql`` or in a ``sql`` module beside its feature).
Identifiers arrive already quoted (``values.quote_ident``); values always travel as
arguments, never in the text.
"""

from __future__ import annotations

from collections.abc import Sequence

from dualbeat.mysql.dialect import Statement

__all__ = [
    "ANSWERS",
    "BEGIN",
    "COMMIT",
    "DATADIR",
    "LOAD_PROLOGUE",
    "LOCK_HOLDER",
    "REAPPLIED_TABLE",
    "REJOIN_LOCK",
    "SYSTEM_SCHEMAS",
    "TAKE_LOCK",
    "binlog_gtid_pos",
    "data_size",
    "delete_row",
    "mark_reapplied",
    "reapplied",
    "update_row",
    "user_schemas",
    "where",
    "write_row",
]

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
# Sent to the loader before the dump: the copy must never reach the binary log of the
# node being rebuilt (it would come back to the active as errant transactions).
LOAD_PROLOGUE = b"SET SESSION sql_log_bin = 0;\n"
BEGIN = Statement("START TRANSACTION")
#: One rejoin of a node at a time: a named lock on the node's own server, taken without
#: waiting (column ``got``: 1 taken, 0 held by another session) and released by the server
#: when the session that took it ends, however the workflow ends. Not binlogged.
REJOIN_LOCK = "dualbeat_rejoin"
TAKE_LOCK = Statement("SELECT GET_LOCK(%s, 0) AS got", (REJOIN_LOCK,))
#: The connection id of the session holding the lock (column ``holder``; NULL: free).
LOCK_HOLDER = Statement("SELECT IS_USED_LOCK(%s) AS holder", (REJOIN_LOCK,))
COMMIT = Statement("COMMIT")
#: The backup method: the node's datadir and binary-log name (columns ``d``, ``b``), and
#: whether a server answers at all.
DATADIR = Statement("SELECT @@datadir AS d, @@log_bin_basename AS b")
ANSWERS = Statement("SELECT 1 AS one")


#: One row per lost transaction re-applied on the active, committed in the same
#: transaction as its changes: whether it was applied is then never in doubt, even when
#: the rejoin is killed a moment after the commit. ``rejoin`` is the rejoin's time stamp
#: (one per rejoin, kept by its journal across reruns), ``gtid`` the lost transaction's.
REAPPLIED_TABLE = Statement(
    "CREATE TABLE IF NOT EXISTS dualbeat.reapplied (rejoin VARCHAR(32) NOT NULL, "
    "gtid VARCHAR(100) NOT NULL, ts DATETIME(6) NOT NULL, PRIMARY KEY (rejoin, gtid)) "
    "ENGINE=InnoDB"
)


def mark_reapplied(rejoin: str, gtid: str) -> Statement:
    return Statement(
        "INSERT INTO dualbeat.reapplied (rejoin, gtid, ts) VALUES (%s, %s, NOW(6))",
        (rejoin, gtid),
    )


def reapplied(rejoin: str) -> Statement:
    """The lost transactions rejoin ``rejoin`` re-applied (column ``gtid``)."""
    return Statement("SELECT gtid FROM dualbeat.reapplied WHERE rejoin = %s", (rejoin,))


def binlog_gtid_pos(file: str, offset: int) -> Statement:
    """The GTID position at ``offset`` of binary log ``file`` (column ``p``; MariaDB)."""
    return Statement("SELECT BINLOG_GTID_POS(%s, %s) AS p", (file, offset))


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def user_schemas() -> Statement:
    """Every non-system schema (column ``name``), sorted."""
    return Statement(
        "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA "
        f"WHERE SCHEMA_NAME NOT IN ({_marks(len(SYSTEM_SCHEMAS))}) ORDER BY 1",
        SYSTEM_SCHEMAS,
    )


def data_size(schemas: Sequence[str]) -> Statement:
    """The data size in bytes of ``schemas`` (column ``n``)."""
    return Statement(
        "SELECT COALESCE(SUM(DATA_LENGTH), 0) AS n FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA IN ({_marks(len(schemas))})",
        tuple(schemas),
    )


def where(terms: Sequence[str], args: Sequence[object]) -> Statement:
    """`` WHERE t1 AND t2 ...`` (to append); each term is ``quoted_column = placeholder``."""
    return Statement(f" WHERE {' AND '.join(terms)}", tuple(args))


def delete_row(table: str, condition: Statement) -> Statement:
    return Statement(f"DELETE FROM {table}{condition.sql}", condition.args)


def update_row(
    table: str, assign: Sequence[tuple[str, str]], args: Sequence[object], condition: Statement
) -> Statement:
    """``assign``: (quoted column, placeholder) pairs; ``args`` their values."""
    sets = ", ".join(f"{column} = {mark}" for column, mark in assign)
    return Statement(f"UPDATE {table} SET {sets}{condition.sql}", (*args, *condition.args))


def write_row(
    table: str, assign: Sequence[tuple[str, str]], args: Sequence[object], *, replace: bool
) -> Statement:
    """``INSERT`` (fails loudly if the key is taken) or ``REPLACE`` (writes the row whole)."""
    verb = "REPLACE" if replace else "INSERT"
    columns = ", ".join(column for column, _ in assign)
    marks = ", ".join(mark for _, mark in assign)
    return Statement(f"{verb} INTO {table} ({columns}) VALUES ({marks})", tuple(args))
