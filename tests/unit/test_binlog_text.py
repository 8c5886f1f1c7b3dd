"""The binlog tool's text, parsed: recorded MariaDB 10.11 output and MySQL 8.0's layout."""

from __future__ import annotations

import calendar
from pathlib import Path

from dualbeat.mysql.binlog.text import Gtid, Transaction, iter_lines, parse

DATA = Path(__file__).parent / "data" / "binlog"
UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"


def mariadb(wanted: set[str] | None = None) -> list[Transaction]:
    text = (DATA / "mariadb-10.11-verbose.txt").read_bytes()
    keep = None if wanted is None else (lambda g: g.text in wanted)
    return parse(iter_lines(text), "mysql-bin.000001", keep)


def mysql() -> list[Transaction]:
    return parse(iter_lines((DATA / "mysql-8.0-vv.txt").read_bytes()), "")


def by_gtid(txns: list[Transaction]) -> dict[str, Transaction]:
    return {t.gtid.text: t for t in txns}


def test_mariadb_every_transaction_in_log_order_with_its_file_and_position() -> None:
    txns = mariadb()
    assert [t.gtid.text for t in txns] == [f"7-7-{n}" for n in range(1, 18)] + ["3-7-1"]
    assert all(t.complete for t in txns)
    t = by_gtid(txns)
    assert (t["7-7-7"].file, t["7-7-7"].position) == ("mysql-bin.000001", 1776)
    assert (t["7-7-17"].file, t["7-7-17"].position) == ("mysql-bin.000002", 385)
    assert t["3-7-1"].gtid == Gtid("mariadb", "3", 1, 7) and t["3-7-1"].server_id == 7


def test_mariadb_times_come_from_the_header_read_as_utc() -> None:
    t = by_gtid(mariadb())
    # "#261125 16:52:14" in the header; the DDL's SET TIMESTAMP agrees with it.
    assert t["7-7-7"].timestamp == calendar.timegm((2026, 11, 25, 16, 52, 14))
    assert t["7-7-1"].timestamp == 1795625534.0


def test_mariadb_statements_are_ddl_and_row_annotations() -> None:
    t = by_gtid(mariadb())
    assert t["7-7-3"].statements == ["CREATE DATABASE app"] and not t["7-7-3"].rows
    assert t["7-7-4"].statements[0].startswith("CREATE TABLE app.types (\n  id INT PRIMARY KEY,")
    assert t["7-7-14"].statements == [
        "INSERT INTO app.k2 VALUES ('z', 9, 1)",
        "UPDATE app.k2 SET v = 2 WHERE a = 'z'",
        "DELETE FROM app.k2 WHERE a='x'",
    ]


def test_mariadb_row_images() -> None:
    t = by_gtid(mariadb())
    insert, update, delete = t["7-7-14"].rows
    assert (insert.kind, insert.qualified, insert.before) == ("insert", "app.k2", None)
    assert insert.after == {1: "'z'", 2: "9", 3: "1"}
    assert update.before == {1: "'z'", 2: "9", 3: "1"} and update.after == {
        1: "'z'",
        2: "9",
        3: "2",
    }
    assert delete.kind == "delete" and delete.before == {1: "'x'", 2: "1", 3: "10"}
    assert delete.after is None
    two = t["7-7-11"].rows  # one event, two rows
    assert [r.after for r in two] == [{1: "'x'", 2: "1", 3: "10"}, {1: "'y'", 2: "2", 3: "20"}]
    assert t["7-7-11"].tables == ("app.k2",)


def test_mariadb_literals_are_kept_as_printed() -> None:
    row = by_gtid(mariadb())["7-7-9"].rows[0]
    assert row.before is not None and row.after is not None
    assert row.before[2] == "-5 (251)"  # signed tinyint, with its unsigned reading
    assert row.before[9] == "1.1"  # FLOAT is padded to 20 characters: stripped
    assert row.before[10] == "3.141592653589793116"
    assert row.before[24] == "'2024:02:29'"
    assert row.before[29] == "b'00000101'" and row.before[30] == "b'10101'"
    assert (row.before[14], row.after[14]) == (
        "'h\udce9llo 'quoted' \\ back\\x0anew\\x09tab'",
        "'changed'",
    )
    assert row.after[10] == "NULL"


def test_only_wanted_transactions_are_kept() -> None:
    txns = mariadb({"7-7-12", "7-7-13", "3-7-1"})
    assert [t.gtid.text for t in txns] == ["7-7-12", "7-7-13", "3-7-1"]
    assert txns[1].rows[0].after == {1: "1", 2: "'a'"}


def test_a_transaction_cut_off_before_its_commit_is_incomplete() -> None:
    lines = list(iter_lines((DATA / "mariadb-10.11-verbose.txt").read_bytes()))
    cut = next(i for i, line in enumerate(lines) if "Xid = 9" in line)
    txns = parse(lines[:cut], "mysql-bin.000001")
    assert txns[-1].gtid.text == "7-7-7" and not txns[-1].complete
    assert txns[-1].rows and txns[-1].rows[0].after is not None


def test_mysql_gtid_next_commit_timestamps_and_anonymous_transactions() -> None:
    txns = mysql()
    assert [t.gtid.text for t in txns] == [f"{UUID}:{n}" for n in (41, 42, 43)]
    assert [t.file for t in txns] == ["binlog.000007"] * 3  # from the leading Rotate
    assert [t.position for t in txns] == [197, 502, 1331]  # the GTID event's
    assert [t.timestamp for t in txns] == [1762160761.204512, 1762160762.310077, 1762160764.5]
    assert all(t.complete and t.server_id == 1 for t in txns)


def test_mysql_rows_query_column_names_and_vv_comments() -> None:
    ddl, insert, update = mysql()
    assert ddl.statements[0].startswith("CREATE TABLE shop.orders (") and not ddl.rows
    assert insert.statements == [
        "INSERT INTO shop.orders VALUES (1, 'first', 3, 9.90, NOW()), "
        "(2, NULL, 4294967295, -1.50, NULL)"
    ]
    assert insert.columns == {"shop.orders": ("id", "note", "qty", "price", "placed")}
    assert [r.after for r in insert.rows] == [
        {1: "1", 2: "'first'", 3: "3", 4: "9.90", 5: "1762160762"},
        {1: "2", 2: "NULL", 3: "-1 (4294967295)", 4: "-1.50", 5: "NULL"},
    ]
    assert update.rows[0].before == insert.rows[0].after
    assert update.rows[0].after == {1: "1", 2: "'second'", 3: "4", 4: "9.90", 5: "1762160762"}


def test_mysql_84_tagged_gtid_and_minimal_metadata() -> None:
    text = f"""# at 157
#250101 10:00:00 server id 3  end_log_pos 236 CRC32 0x00000000 \tGTID\tlast_committed=0\tsequence_number=1\trbr_only=yes
SET @@SESSION.GTID_NEXT= '{UUID.upper()}:Billing:5'/*!*/;
# at 236
#250101 10:00:00 server id 3  end_log_pos 300 CRC32 0x00000000 \tQuery\tthread_id=1\texec_time=0\terror_code=0
BEGIN
/*!*/;
# at 300
#250101 10:00:00 server id 3  end_log_pos 350 CRC32 0x00000000 \tTable_map: `d`.`t` mapped to number 9
# Columns(INT NOT NULL,
#         INT)
# at 350
#250101 10:00:00 server id 3  end_log_pos 400 CRC32 0x00000000 \tWrite_rows: table id 9 flags: STMT_END_F
### INSERT INTO `d`.`t`
### SET
###   @1=7
###   @2=NULL
"""  # noqa: E501
    (txn,) = parse(text.splitlines(), "binlog.000001")
    assert txn.gtid == Gtid("mysql", f"{UUID}:billing", 5)
    assert txn.timestamp == calendar.timegm((2025, 1, 1, 10, 0, 0))
    assert txn.columns == {}  # MINIMAL metadata has no names
    assert not txn.complete and txn.rows[0].after == {1: "7", 2: "NULL"}


def test_gtid_text_round_trip() -> None:
    assert Gtid.from_text("0-1-5") == Gtid("mariadb", "0", 5, 1)
    assert Gtid.from_text(f"{UUID}:7") == Gtid("mysql", UUID, 7)
    assert Gtid.from_text("ANONYMOUS") is None and Gtid.from_text("AUTOMATIC") is None
    for text in ("0-1-5", f"{UUID}:7", f"{UUID}:tag:9"):
        gtid = Gtid.from_text(text)
        assert gtid is not None and gtid.text == text
