"""The pure parts of ``dualbeat checksum``: statements, key choice, chunk boundaries, diffs.

Chunk boundaries are checked by walking real tables in SQLite (standard library, and it
accepts MySQL's backquotes and ``LIMIT .. OFFSET``) with the very statements the walk
sends to MySQL: every row must land in exactly one chunk, ties in a composite key too.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import random
import sqlite3
import zlib
from collections.abc import Sequence
from decimal import Decimal

import pytest

from dualbeat.checksum import sql
from dualbeat.checksum.report import (
    ChecksumReport,
    ChunkDiff,
    ChunkRange,
    Digest,
    RowDiff,
    RowDiffKind,
    TableResult,
    TableStatus,
    both_reads,
    classify_rows,
    classify_unkeyed,
    estimate_chunks,
    select_tables,
)
from dualbeat.errors import UsageError
from dualbeat.mysql.dialect import Statement

INT = sql.Column("id", "int", "int(11)", False)


def spec(key: Sequence[str], columns: Sequence[sql.Column] = (INT,)) -> sql.TableSpec:
    return sql.TableSpec("app", "t", tuple(columns), tuple(key))


def run(db: sqlite3.Connection, stmt: Statement) -> list[dict[str, object]]:
    cur = db.execute(stmt.sql.replace("%s", "?"), stmt.args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def walk(db: sqlite3.Connection, key: Sequence[str], chunk_size: int) -> list[int]:
    """The walk of ``checksum._Walk`` over SQLite: rows counted per chunk."""
    table = spec(key)
    counts = []
    lower: sql.Key | None = None
    while True:
        found = run(db, sql.next_upper(table, lower, chunk_size))
        upper = sql.key_of(found[0], len(key)) if found else None
        where, args = sql.chunk_predicate(key, lower, upper)
        counts.append(
            run(db, Statement(f"SELECT COUNT(*) AS n FROM app.t{where}", tuple(args)))[0]["n"]
        )
        if upper is None:
            return [int(str(n)) for n in counts]
        lower = upper


@pytest.fixture
def lite() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("ATTACH ':memory:' AS app")
    return db


# --- chunk boundaries -------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "chunk_size"), [(0, 10), (1, 10), (10, 10), (11, 10), (95, 7)])
def test_single_key_walk_covers_every_row_once(
    lite: sqlite3.Connection, rows: int, chunk_size: int
) -> None:
    lite.execute("CREATE TABLE app.t (id INTEGER PRIMARY KEY)")
    lite.executemany("INSERT INTO app.t VALUES (?)", [(i * 3,) for i in range(rows)])
    counts = walk(lite, ["id"], chunk_size)
    assert sum(counts) == rows
    assert all(n == chunk_size for n in counts[:-1])  # full chunks, then the open-ended rest
    assert counts[-1] < chunk_size  # the last chunk starts where fewer rows than that remain


def test_composite_key_walk_with_ties_in_the_leading_column(lite: sqlite3.Connection) -> None:
    lite.execute("CREATE TABLE app.t (a INTEGER, b TEXT, c INTEGER, PRIMARY KEY (a, b, c))")
    rng = random.Random(7)
    rows = {(rng.randrange(5), rng.choice("xyz"), rng.randrange(40)) for _ in range(400)}
    lite.executemany("INSERT INTO app.t VALUES (?, ?, ?)", sorted(rows))
    for chunk_size in (1, 3, 50, 1000):
        counts = walk(lite, ["a", "b", "c"], chunk_size)
        assert sum(counts) == len(rows)
        assert max(counts) <= chunk_size


def test_chunk_predicate_text_and_argument_order() -> None:
    where, args = sql.chunk_predicate(["a", "b"], (1, "x"), (2, "y"))
    assert where == (
        " WHERE ((`a` > %s) OR (`a` = %s AND `b` > %s))"
        " AND ((`a` < %s) OR (`a` = %s AND `b` <= %s))"
    )
    assert args == [1, 1, "x", 2, 2, "y"]
    assert sql.chunk_predicate(["id"], None, (5,)) == (" WHERE `id` <= %s", [5])
    assert sql.chunk_predicate(["id"], None, None) == ("", [])
    with pytest.raises(ValueError, match="2 columns"):
        sql.chunk_predicate(["a", "b"], (1,), None)


def test_estimate_chunks() -> None:
    assert estimate_chunks(0, 1000, keyed=True) == 1
    assert estimate_chunks(5000, 1000, keyed=True) == 6
    assert estimate_chunks(10**6, 1000, keyed=False) == 1


# --- key choice and the digest -----------------------------------------------------------


def idx(name: str, *cols: str | None, sub_part: int | None = None) -> list[dict[str, object]]:
    return [
        {"index_name": name, "seq": i + 1, "col": c, "sub_part": sub_part}
        for i, c in enumerate(cols)
    ]


def test_choose_key_prefers_primary_then_smallest_not_null_unique() -> None:
    cols = [sql.Column(n, "int", "int", n == "maybe") for n in ("a", "b", "c", "maybe")]
    assert sql.choose_key(cols, idx("u_bc", "b", "c") + idx("PRIMARY", "a", "b")) == ("a", "b")
    assert sql.choose_key(cols, idx("u_bc", "b", "c") + idx("u_a", "a")) == ("a",)
    assert sql.choose_key(cols, idx("u_maybe", "maybe")) == ()  # nullable: NULLs repeat
    assert sql.choose_key(cols, idx("u_prefix", "b", sub_part=10)) == ()  # orders by a prefix
    assert sql.choose_key(cols, idx("u_expr", None)) == ()  # functional key part
    assert sql.choose_key(cols, []) == ()
    # Parts arrive in any order: SEQ_IN_INDEX decides.
    rows = list(reversed(idx("PRIMARY", "c", "a")))
    assert sql.choose_key(cols, rows) == ("c", "a")


def test_row_digest_handles_types_and_nulls() -> None:
    cols = [
        INT,
        sql.Column("f", "float", "float", True),
        sql.Column("d", "double", "double", False),
        sql.Column("s", "varchar", "varchar(10)", True),
        sql.Column("b", "blob", "blob", False),
        sql.Column("ts", "timestamp", "timestamp", False),
    ]
    assert sql.row_digest(cols) == (
        "LEFT(MD5(CONCAT_WS('#', `id`, `f` + 0E0, `d`, LENGTH(`s`), CAST(`s` AS BINARY), "
        "LENGTH(`b`), CAST(`b` AS BINARY), `ts`, CONCAT(ISNULL(`f`), ISNULL(`s`)))), 16)"
    )
    assert "ISNULL" not in sql.row_digest([INT])


def test_identifiers_are_quoted_and_percent_safe() -> None:
    assert sql.quote("we`ird%name") == "`we``ird%%name`"
    odd = sql.TableSpec("app", "50%", (sql.Column("a`b", "int", "int", False),), ())
    whole = sql.chunk_digest(odd, None, None)  # no arguments: sent as is, one %
    assert "`app`.`50%`" in whole.sql and not whole.args
    ranged = sql.next_upper(sql.TableSpec("app", "50%", odd.columns, ("a`b",)), (1,), 10)
    assert "`app`.`50%%`" in ranged.sql and "`a``b` > %s" in ranged.sql
    assert ranged.sql % tuple("1" for _ in ranged.args)  # PyMySQL-style interpolation works


def test_every_statement_only_reads() -> None:
    table = spec(["id"])
    statements = [
        sql.list_tables(),
        sql.table_columns("app", "t"),
        sql.unique_keys("app", "t"),
        sql.next_upper(table, (1,), 10),
        sql.chunk_digest(table, (1,), (9,)),
        sql.chunk_rows(table, None, (9,), 100),
    ]
    assert all(s.sql.startswith("SELECT ") for s in statements)
    assert [s.sql for s in sql.session_setup()] == [
        "SET SESSION TRANSACTION READ ONLY",
        "SET SESSION time_zone = '+00:00'",
    ]


def test_crc32_xor_misses_swapped_values_which_md5_sum_catches() -> None:
    """Why the digest is not BIT_XOR(CRC32(...)): CRC32 is affine over XOR."""
    before, after = [b"1#a", b"2#b"], [b"1#b", b"2#a"]
    xor = [zlib.crc32(x) ^ zlib.crc32(y) for x, y in (before, after)]
    assert xor[0] == xor[1]

    def md5_sum(rows: list[bytes]) -> int:
        return sum(int(hashlib.md5(r).hexdigest()[:16], 16) for r in rows)

    assert md5_sum(before) != md5_sum(after)


# --- comparing and classifying ------------------------------------------------------------


def test_classify_rows() -> None:
    ours = [((1,), "aa"), ((2,), "bb"), ((3,), "cc")]
    theirs = [((1,), "aa"), ((3,), "cX"), ((4,), "dd")]
    assert classify_rows(ours, theirs) == (
        RowDiff((2,), RowDiffKind.ONLY_ON_REFERENCE),
        RowDiff((3,), RowDiffKind.DIFFERENT),
        RowDiff((4,), RowDiffKind.ONLY_ON_PEER),
    )
    assert classify_rows(ours, ours) == ()


def test_both_reads_keeps_rows_that_differ_from_both_reference_reads() -> None:
    """The peer read sits between two reference reads: a row written on the reference in
    between matches one of them and is not a difference; a real one differs from both."""
    peer = [((1,), "new"), ((2,), "bad"), ((4,), "ins")]
    before = classify_rows([((1,), "old"), ((2,), "ok"), ((3,), "del")], peer)
    after = classify_rows([((1,), "new"), ((2,), "ok"), ((4,), "ins")], peer)
    assert both_reads(before, after) == (RowDiff((2,), RowDiffKind.DIFFERENT),)
    assert both_reads(before, ()) == ()


def test_classify_unkeyed_counts_duplicates() -> None:
    assert classify_unkeyed(["x", "x", "y"], ["x", "y", "z"]) == (
        RowDiff(("x",), RowDiffKind.ONLY_ON_REFERENCE),
        RowDiff(("z",), RowDiffKind.ONLY_ON_PEER),
    )
    assert classify_unkeyed(["a", "b"], ["b", "a"]) == ()


def test_select_tables_filters() -> None:
    have = [("app", "a"), ("app", "b"), ("crm", "c")]
    assert select_tables(have) == sorted(have)
    assert select_tables(have, databases=["crm"]) == [("crm", "c")]
    assert select_tables(have, databases=["crm"], tables=["app.b"]) == [("app", "b"), ("crm", "c")]
    with pytest.raises(UsageError, match=r"app\.nope, nodb"):
        select_tables(have, databases=["nodb"], tables=["app.nope"])
    with pytest.raises(UsageError, match=r"DATABASE\.TABLE"):
        select_tables(have, tables=["justname"])
    with pytest.raises(UsageError, match="system schema"):
        select_tables(have, databases=["mysql"])


def test_report_equality_and_json() -> None:
    chunk = ChunkRange(3, (Decimal("1.5"), b"\x00\xff"), None)
    diff = ChunkDiff(
        chunk,
        Digest(2, 0xABC),
        Digest(1, 0xDEF),
        checks=4,
        rows=(RowDiff((Decimal("2.5"), b"k"), RowDiffKind.ONLY_ON_REFERENCE),),
        rows_listed=True,
    )
    when = ChunkRange(0, None, (datetime.datetime(2024, 1, 2, 3, 4, 5),))
    tables = (
        TableResult("app", "ok", TableStatus.EQUAL, key=("id",), rows=10, peer_rows=10, chunks=1),
        TableResult("app", "bad", TableStatus.DIFFERENT, ("d", "b"), 2, 1, 4, diffs=(diff,)),
        TableResult("app", "gone", TableStatus.MISSING, note="only on db1"),
    )
    report = ChecksumReport("db1", "db2", 1000, tables, 1.25)
    assert not report.equal
    assert ChecksumReport("db1", "db2", 1000, tables[:1], 1.0).equal
    assert not ChecksumReport("db1", "db2", 1000, tables[::2], 1.0).equal  # missing
    data = json.loads(json.dumps(report.as_json()))
    bad = data["tables"][1]
    assert bad["differing_chunks"] == 1 and bad["differing_rows"] == 1
    (d,) = bad["diffs"]
    assert d["lower"] == ["1.5", "0x00ff"] and d["upper"] is None
    assert d["range"] == "> (1.5, 0x00ff) .. last row"
    assert d["db1"] == {"rows": 2, "digest": "abc"}
    assert d["rows"] == [
        {"key": ["2.5", "0x6b"], "kind": "only_on_reference", "where": "only on db1"}
    ]
    assert ChunkRange(0, None, None).describe() == "whole table"
    assert ChunkRange(0, None, ("x",)).describe() == "first row .. <= 'x'"
    assert when.describe() == "first row .. <= 2024-01-02 03:04:05"
