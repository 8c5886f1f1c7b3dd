"""What `rejoin --reapply` re-applies, as statements, and what it skips and why; and the
GTID position a dump header names (`rejoin --discard`)."""

from __future__ import annotations

from typing import Any

from dualbeat.mysql.binlog.values import Column, TableDef
from dualbeat.rejoin.reapply import plan
from dualbeat.rejoin.rebuild import dump_position
from dualbeat.rejoin.report import Analysis, Classifier, Conflict, LostTransaction, RowChange

T = "app.t"
TABLE = TableDef(
    "app",
    "t",
    (
        Column("id", 1, "int", "int(11)"),
        Column("v", 2, "varchar", "varchar(20)", "utf8mb4"),
        Column("at", 3, "timestamp", "timestamp"),
        Column("b", 4, "varbinary", "varbinary(4)", "binary"),
    ),
    ("id",),
)


def change(kind: str, cls: Conflict = Conflict.SAFE, **images: Any) -> RowChange:
    return RowChange(T, kind, {"id": 1}, images.get("before"), images.get("after"), cls)


def txn(gtid: str, *rows: RowChange, complete: bool = True) -> LostTransaction:
    return LostTransaction(gtid, 1, 0.0, "b.1", 4, complete, ("annotation",), rows)


def analysis(*txns: LostTransaction) -> Analysis:
    return Analysis(
        "c", "db1", "db2", "mariadb", 0.0, "1", "", "", "", len(txns), transactions=txns
    )


ROW = {"id": 1, "v": "x", "at": "1700000000", "b": {"hex": "00ff"}}


def test_safe_rows_become_plain_statements_with_typed_placeholders() -> None:
    result = plan(
        analysis(
            txn("1-1-5", change("insert", after=ROW)),
            txn("1-1-6", change("update", before=ROW, after={**ROW, "v": "y"})),
            txn("1-1-7", change("delete", before=ROW)),
        ),
        {T: TABLE},
        include=False,
    )
    assert not result.skipped and [s.gtid for s in result.steps] == ["1-1-5", "1-1-6", "1-1-7"]
    insert, update, delete = (s.statements[0] for s in result.steps)
    assert insert.sql == (
        "INSERT INTO `app`.`t` (`id`, `v`, `at`, `b`) VALUES (%s, %s, FROM_UNIXTIME(%s), %s)"
    )
    assert insert.args == (1, "x", "1700000000", b"\x00\xff")
    assert update.sql.startswith("UPDATE `app`.`t` SET `id` = %s, `v` = %s")
    assert update.sql.endswith(" WHERE `id` = %s") and update.args[1] == "y"
    assert update.args[-1] == 1
    assert delete.sql == "DELETE FROM `app`.`t` WHERE `id` = %s" and delete.args == (1,)


def test_conflicts_are_skipped_unless_included_and_then_the_node_wins() -> None:
    lost = analysis(
        txn("1-1-5", change("insert", after=ROW), change("insert", Conflict.KEY_TAKEN, after=ROW)),
        txn("1-1-6", change("update", Conflict.MISSING, before=ROW, after=ROW)),
    )
    skipped = plan(lost, {T: TABLE}, include=False)
    assert not skipped.steps
    assert [s.gtid for s in skipped.skipped] == ["1-1-5", "1-1-6"]
    assert "conflict_key_taken" in skipped.skipped[0].why and "--include" in skipped.skipped[0].why
    included = plan(lost, {T: TABLE}, include=True)
    assert not included.skipped
    first, second = included.steps[0].statements
    assert first.sql.startswith("INSERT INTO") and second.sql.startswith("REPLACE INTO")
    assert included.steps[1].statements[0].sql.startswith("REPLACE INTO")


def test_what_cannot_be_written_back_is_skipped_with_the_reason() -> None:
    result = plan(
        analysis(
            txn("1-1-1"),  # DDL: no rows
            txn("1-1-2", change("insert", after=ROW), complete=False),
            txn("1-1-3", change("insert", Conflict.UNCLASSIFIED, after=ROW)),
            txn("1-1-4", change("insert", after={**ROW, "v": {"raw": "?"}})),
            txn("1-1-5", change("insert", after={**ROW, "gone": 1})),
            txn("1-1-6", RowChange("app.other", "insert", {"id": 1}, None, ROW, Conflict.SAFE)),
        ),
        {T: TABLE},
        include=True,
    )
    assert not result.steps
    why = {s.gtid: s.why for s in result.skipped}
    assert "DDL" in why["1-1-1"] and "part of it" in why["1-1-2"]
    assert "unclassified" in why["1-1-3"] and "cannot write" in why["1-1-4"]
    assert "no column 'gone'" in why["1-1-5"] and "app.other" in why["1-1-6"]


def test_the_position_a_dump_was_taken_at() -> None:
    mariadb = "-- Preferably use GTID ...\n\n-- SET GLOBAL gtid_slave_pos='1-1-152,2-2-80';\n"
    assert dump_position(mariadb, "mariadb") == "1-1-152,2-2-80"
    mysql = "SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'aaa:1-5,\nbbb:1-3';\n"
    assert dump_position(mysql, "mysql") == "aaa:1-5,bbb:1-3"
    assert dump_position("-- no position here", "mariadb") is None


def test_a_rerun_after_a_kill_mid_reapply_reapplies_the_rest_once() -> None:
    """The first run re-applied 1-1-5 (an insert) and was killed before 1-1-6 (an update of
    the same row). Run again, the insert's key is taken on the active (by that very
    insert), the update follows it and inherits the conflict: the update was discarded
    (lab, test_rejoin_large, killed at "re-applied"). The marker row each re-applied
    transaction commits with says which are done: those count as safe, are not applied
    twice, and what follows them is re-applied."""
    on_active = {1: ROW}
    classifier = Classifier(
        lambda _t, key: on_active.get(int(key["id"])), reapplied=frozenset({"1-1-5"})
    )
    first = classifier.classify("1-1-5", T, "insert", None, {"id": 1}, None)
    second = classifier.classify("1-1-6", T, "update", {"id": 1}, {"id": 1}, ROW)
    assert first.conflict is second.conflict is Conflict.SAFE
    lost = analysis(
        txn("1-1-5", change("insert", first.conflict, after=ROW)),
        txn("1-1-6", change("update", second.conflict, before=ROW, after={**ROW, "v": "y"})),
    )
    result = plan(lost, {T: TABLE}, include=False, done=frozenset({"1-1-5"}))
    assert [s.gtid for s in result.steps] == ["1-1-6"]
    assert result.done == ("1-1-5",) and not result.skipped
