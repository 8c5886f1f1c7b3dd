"""The SQL of ``dualbeat checksum``: which tables, which key, and how a row is digested.

Everything here is pure (statements are built, not run), so the formula, the key choice
and the chunk predicates are unit-tested without a server. ``compare`` runs them.

The row digest, the same text on both servers (built once from the reference's schema)::

    h(row)  = LEFT(MD5(CONCAT_WS('#', f(c1), ..., f(cn), CONCAT(ISNULL(n1), ...))), 16)
    chunk   = COUNT(*), SUM(CAST(CONV(h(row), 16, 10) AS UNSIGNED))

``f(c)`` per column type:

- strings, binary, BLOB/TEXT, JSON, ENUM/SET, BIT, spatial and any type not listed below:
  ``LENGTH(c), CAST(c AS BINARY)``. The bytes as stored: no charset conversion and no
  "illegal mix of collations" between columns; 'a' and 'A' differ even under a
  case-insensitive collation (they *are* different data). The byte length in front makes
  the encoding injective: without it ``('a#', 'b')`` and ``('a', '#b')`` would collide.
- ``FLOAT``: ``c + 0E0``. The server prints a FLOAT with 6 significant digits, which would
  hide differences in the last bits; widened to DOUBLE (exact), it prints the shortest
  text that reads back to the same double, i.e. every bit counts.
- integers, ``DECIMAL``, ``DOUBLE``, dates and times: their text, which cannot contain
  ``#``. ``TIMESTAMP`` is printed in the session time zone, which ``session_setup`` pins
  to UTC on both servers, so two servers in different zones still agree.
- ``NULL``: ``CONCAT_WS`` skips it, so the trailing ``ISNULL`` bitmap (nullable columns
  only) tells ``NULL`` from ``''`` and from a shifted neighbour.

Why MD5 and SUM rather than pt-table-checksum's ``BIT_XOR(CRC32(...))``: CRC32 is affine
over XOR, so two rows that swap a value (``1#a, 2#b`` against ``1#b, 2#a``) give the same
XOR of CRC32s, an undetected difference in the commonest kind of bug; XOR also cancels
duplicate rows, which tables without a key can hold. MD5 has no such structure, and an
exact (DECIMAL) SUM of 64-bit row digests is order-independent without cancelling.
Measured on MariaDB 10.11: 20-30 % slower than CRC32 per row.

Known limits: two *different* chunks collide with probability about 2^-64; values are
compared through their text, which is the same on both servers of a pair of the same
version, but may differ across major versions (e.g. FLOAT/DOUBLE formatting changed in
MySQL 8.0): compare servers of one version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dualbeat.mysql.dialect import Statement

# Schemas that are the servers' own, or dualbeat's (its heartbeat table differs by design).
SYSTEM_SCHEMAS = ("mysql", "sys", "information_schema", "performance_schema", "dualbeat")
SEPARATOR = "#"
# Types whose text cannot contain the separator: no length prefix needed.
_PLAIN_TYPES = frozenset(
    {
        "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
        "double", "real", "date", "datetime", "timestamp", "time", "year",
    }
)  # fmt: skip
_WIDENED_TYPES = frozenset({"float"})

Key = tuple[object, ...]


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # information_schema DATA_TYPE, lower case: int, varchar, float...
    column_type: str  # the full declaration: int(10) unsigned, varchar(64)...
    nullable: bool


@dataclass(frozen=True)
class TableSpec:
    """One table to compare: its columns (reference order) and the key that chunks it.

    ``key`` is empty for a table without a primary key or unique NOT NULL key: it is then
    compared whole, in one chunk.
    """

    schema: str
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    estimated_rows: int = 0

    @property
    def full_name(self) -> str:
        return f"{self.schema}.{self.name}"


def quote(name: str) -> str:
    """A backquoted identifier, for a statement that will be sent *with* arguments: PyMySQL
    then interpolates with ``%``, so a ``%`` in a name is doubled (``_statement`` undoes it
    for statements sent without arguments)."""
    return "`" + name.replace("`", "``").replace("%", "%%") + "`"


def _statement(sql: str, args: Sequence[object] = ()) -> Statement:
    # Without arguments PyMySQL sends the text as is: every %% came from ``quote``.
    return Statement(sql, tuple(args)) if args else Statement(sql.replace("%%", "%"))


def _table(spec: TableSpec) -> str:
    return f"{quote(spec.schema)}.{quote(spec.name)}"


# --- discovery ---------------------------------------------------------------------------


def list_tables() -> Statement:
    """Base tables outside the system schemas, with the server's row estimate (``est``)."""
    marks = ", ".join(["%s"] * len(SYSTEM_SCHEMAS))
    return _statement(
        "SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name, TABLE_ROWS AS est "
        "FROM information_schema.TABLES "
        "WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') "
        f"AND TABLE_SCHEMA NOT IN ({marks}) ORDER BY TABLE_SCHEMA, TABLE_NAME",
        SYSTEM_SCHEMAS,
    )


def table_columns(schema: str, name: str) -> Statement:
    return _statement(
        "SELECT COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, "
        "IS_NULLABLE AS nullable FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (schema, name),
    )


def unique_keys(schema: str, name: str) -> Statement:
    """The columns of every unique index (``col`` is NULL for a functional key part)."""
    return _statement(
        "SELECT INDEX_NAME AS index_name, SEQ_IN_INDEX AS seq, COLUMN_NAME AS col, "
        "SUB_PART AS sub_part FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND NON_UNIQUE = 0 "
        "ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        (schema, name),
    )


def parse_columns(rows: Sequence[Mapping[str, object]]) -> tuple[Column, ...]:
    return tuple(
        Column(
            name=str(r["name"]),
            data_type=str(r["data_type"]).lower(),
            column_type=str(r["column_type"]).lower(),
            nullable=str(r["nullable"]).upper() == "YES",
        )
        for r in rows
    )


def choose_key(
    columns: Sequence[Column], index_rows: Sequence[Mapping[str, object]]
) -> tuple[str, ...]:
    """The key to walk: the primary key, else the unique key with the fewest columns (then
    by name) whose columns are all NOT NULL; empty when there is none.

    A key with a prefix part (``SUB_PART``) or an expression part orders by something
    other than the column values, so it cannot delimit chunks; a nullable unique key may
    hold many NULLs, which no range predicate reaches.
    """
    nullable = {c.name for c in columns if c.nullable}
    indexes: dict[str, list[tuple[int, object, object]]] = {}
    for r in index_rows:
        seq = r["seq"]
        indexes.setdefault(str(r["index_name"]), []).append(
            (int(seq) if isinstance(seq, int | str) else 0, r["col"], r["sub_part"])
        )
    usable: list[tuple[bool, int, str, tuple[str, ...]]] = []
    for index, parts in indexes.items():
        parts.sort(key=lambda part: part[0])
        names = tuple(str(col) for _, col, _ in parts if col is not None)
        if len(names) != len(parts) or any(sub is not None for _, _, sub in parts):
            continue
        if any(col in nullable for col in names):
            continue
        usable.append((index != "PRIMARY", len(names), index, names))
    return min(usable)[3] if usable else ()


# --- the digest ----------------------------------------------------------------------------


def _field(column: Column) -> list[str]:
    name = quote(column.name)
    if column.data_type in _PLAIN_TYPES:
        return [name]
    if column.data_type in _WIDENED_TYPES:
        return [f"{name} + 0E0"]
    return [f"LENGTH({name})", f"CAST({name} AS BINARY)"]


def row_digest(columns: Sequence[Column]) -> str:
    """The SQL expression of ``h(row)``: 16 hex digits (see the module docstring)."""
    fields = [text for column in columns for text in _field(column)]
    nulls = [f"ISNULL({quote(c.name)})" for c in columns if c.nullable]
    if nulls:
        fields.append(f"CONCAT({', '.join(nulls)})")
    return f"LEFT(MD5(CONCAT_WS('{SEPARATOR}', {', '.join(fields)})), 16)"


def _compare(key: Sequence[str], values: Key, strict: str, last: str) -> tuple[str, list[object]]:
    """``key <op> values`` in lexicographic order, written out as ORs of ANDs:
    ``(a > x) OR (a = x AND b > y)``. MariaDB does not use an index for the row
    constructor form ``(a, b) > (x, y)`` (a full index scan per chunk); this form is a
    range scan on both flavours."""
    if len(values) != len(key):
        raise ValueError(f"key {tuple(key)} has {len(key)} columns, got {len(values)} values")
    terms: list[str] = []
    args: list[object] = []
    for i, column in enumerate(key):
        op = last if i == len(key) - 1 else strict
        equal = [f"{quote(c)} = %s" for c in key[:i]]
        terms.append(" AND ".join([*equal, f"{quote(column)} {op} %s"]))
        args.extend([*values[:i], values[i]])
    if len(terms) == 1:
        return terms[0], args
    return "(" + " OR ".join(f"({t})" for t in terms) + ")", args


def chunk_predicate(
    key: Sequence[str], lower: Key | None, upper: Key | None
) -> tuple[str, list[object]]:
    """``WHERE`` text and arguments for ``lower < key <= upper`` (either end open when
    None); empty text for the whole table."""
    parts: list[str] = []
    args: list[object] = []
    for bound, strict, last in ((lower, ">", ">"), (upper, "<", "<=")):
        if bound is not None:
            text, values = _compare(key, bound, strict, last)
            parts.append(text)
            args.extend(values)
    return (" WHERE " + " AND ".join(parts) if parts else ""), args


def _order(key: Sequence[str]) -> str:
    return ", ".join(quote(c) for c in key)


def _key_columns(key: Sequence[str]) -> str:
    return ", ".join(f"{quote(c)} AS k{i}" for i, c in enumerate(key))


def next_upper(spec: TableSpec, lower: Key | None, chunk_size: int) -> Statement:
    """The key of the ``chunk_size``-th row after ``lower`` (columns ``k0``, ``k1``...):
    the inclusive upper end of the next chunk. No row means the next chunk is the last."""
    if not spec.key or chunk_size < 1:
        raise ValueError("next_upper needs a keyed table and a positive chunk size")
    where, args = chunk_predicate(spec.key, lower, None)
    return _statement(
        f"SELECT {_key_columns(spec.key)} FROM {_table(spec)}{where} "
        f"ORDER BY {_order(spec.key)} LIMIT 1 OFFSET {int(chunk_size) - 1}",
        args,
    )


def chunk_digest(spec: TableSpec, lower: Key | None, upper: Key | None) -> Statement:
    """One row: ``n`` (rows in the range) and ``digest`` (the exact SUM of row digests)."""
    where, args = chunk_predicate(spec.key, lower, upper)
    return _statement(
        "SELECT COUNT(*) AS n, "
        f"COALESCE(SUM(CAST(CONV({row_digest(spec.columns)}, 16, 10) AS UNSIGNED)), 0) "
        f"AS digest FROM {_table(spec)}{where}",
        args,
    )


def chunk_rows(spec: TableSpec, lower: Key | None, upper: Key | None, limit: int) -> Statement:
    """Each row of the range as its key (``k0``...) and digest (``h``), in key order, at
    most ``limit`` rows. A table without a key gives digests only."""
    where, args = chunk_predicate(spec.key, lower, upper)
    keys = f"{_key_columns(spec.key)}, " if spec.key else ""
    order = f" ORDER BY {_order(spec.key)}" if spec.key else ""
    return _statement(
        f"SELECT {keys}{row_digest(spec.columns)} AS h FROM {_table(spec)}{where}{order} "
        f"LIMIT {int(limit)}",
        args,
    )


def key_of(row: Mapping[str, object], width: int) -> Key:
    """The key values of a row selected with ``k0``, ``k1``... columns."""
    return tuple(row[f"k{i}"] for i in range(width))


def session_setup() -> list[Statement]:
    """Per-session settings on both servers before any digest.

    ``READ ONLY`` makes every later statement of the session unable to write, so not even
    a bug can leave an errant transaction on the passive. UTC makes TIMESTAMP text equal
    on servers configured with different time zones. Neither is a write: nothing is
    logged or replicated.
    """
    return [
        Statement("SET SESSION TRANSACTION READ ONLY"),
        Statement("SET SESSION time_zone = '+00:00'"),
    ]
