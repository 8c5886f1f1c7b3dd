"""``dualbeat checksum`` against the real sandbox pair (db1 active, db2 read-only).

Tests run in file order and share one lab: tables are created on db1 and replicate; then
differences are planted on db2 with the binary log off for the session (the dualbeat
account writes through ``read_only`` on MariaDB, and nothing replicates back or becomes
an errant transaction); the CLI sees them; they are repaired the same way; and finally a
busy active must not produce false differences.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from dualbeat.checksum.compare import ChecksumProgress, checksum_pair
from dualbeat.checksum.report import ChecksumReport, RowDiffKind, TableStatus
from dualbeat.config import Config
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat.mysql.endpoints import endpoint
from dualbeat_lab.sandbox import lab
from tests.integration.labtools import inside, wait_for

pytestmark = pytest.mark.integration

BIG = 5000
NETNS_CLIENT = ("ip", "netns", "exec", "client")
TABLES = ("app.big", "app.pair", "app.misc", "app.nokey")
# The differences planted on db2, and the statements that undo them.
PLANT = (
    "UPDATE app.big SET v = 'changed' WHERE id = 2500",
    "DELETE FROM app.big WHERE id = 4001",
    "INSERT INTO app.big (id, v, n) VALUES (99999, 'extra', 0)",
    # A swap of values between two rows: invisible to BIT_XOR(CRC32(...)).
    "UPDATE app.pair SET qty = IF(b = 'x', 20, 10) WHERE a = 1 AND b IN ('x', 'y')",
    "UPDATE app.misc SET note = '' WHERE id = 8",  # NULL -> empty string
    "UPDATE app.misc SET f = f + 0.0000003 WHERE id = 3",  # next float: same 6-digit text
    "UPDATE app.misc SET d = d + 1e-12 WHERE id = 4",
    "INSERT INTO app.nokey (x, y) VALUES (1, 'a')",  # a third copy of a duplicate
    "CREATE TABLE app.stray (id INT PRIMARY KEY)",
)
REPAIR = (
    "UPDATE app.big SET v = 'row-2500' WHERE id = 2500",
    "INSERT INTO app.big (id, v, n) VALUES (4001, 'row-4001', 28007)",
    "DELETE FROM app.big WHERE id = 99999",
    "UPDATE app.pair SET qty = IF(b = 'x', 10, 20) WHERE a = 1 AND b IN ('x', 'y')",
    "UPDATE app.misc SET note = NULL WHERE id = 8",
    "UPDATE app.misc SET f = 3.1 WHERE id = 3",
    "UPDATE app.misc SET d = 4 / 3E0 WHERE id = 4",
    "DELETE FROM app.nokey WHERE x = 1 AND y = 'a' LIMIT 1",
    "DROP TABLE app.stray",
)


def admin(config: Config, node: str) -> Server:
    return Server(endpoint(config, node, admin=True))


def unlogged(config: Config, node: str, statements: tuple[str, ...]) -> None:
    """Run ``statements`` on ``node`` with the binary log off: a local change only."""
    with inside("client"), admin(config, node) as server:
        server.execute(
            Statement("SET SESSION sql_log_bin = 0"),
            *(Statement(s) for s in statements),
            Statement("SET SESSION sql_log_bin = 1"),
        )


def run_checksum(config: Config, **options: Any) -> ChecksumReport:
    if "tables" not in options:
        options["databases"] = ["app"]
    with inside("client"):
        return checksum_pair(config, **options)


def cli(config: Config) -> subprocess.CompletedProcess[str]:
    argv = ["checksum", "--json", "--database", "app", "-c", str(config.source)]
    return subprocess.run(
        [*NETNS_CLIENT, sys.executable, "-m", "dualbeat", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module", autouse=True)
def tables(sandbox: lab.LabInfo, config: Config) -> Iterator[None]:
    """The four kinds of table, written on db1 and replicated to db2."""
    misc = [
        (
            i,
            None if i % 5 == 0 else i / 3,
            None if i % 5 == 1 else i + 0.1,
            None if i % 6 == 0 else bytes([i, 0, 35, 255]),  # 35 is '#'
            None if i % 4 == 0 else f"n#{i}",
            None if i % 7 == 0 else f"2024-03-{1 + i % 28:02d} 12:00:00",
        )
        for i in range(1, 51)
    ]
    with inside("client"), admin(config, "db1") as db1:
        db1.execute(
            *(Statement(f"DROP TABLE IF EXISTS {t}") for t in (*TABLES, "app.stray")),
            Statement("CREATE TABLE app.big (id INT PRIMARY KEY, v VARCHAR(32), n INT)"),
            Statement(
                "CREATE TABLE app.pair (a INT, b VARCHAR(8), qty INT NOT NULL, PRIMARY KEY (a, b))"
            ),
            Statement(
                "CREATE TABLE app.misc (id INT PRIMARY KEY, d DOUBLE NULL, f FLOAT NULL, "
                "data BLOB NULL, note VARCHAR(20) NULL, ts TIMESTAMP NULL)"
            ),
            Statement("CREATE TABLE app.nokey (x INT, y VARCHAR(10))"),
            values("app.big", [(i, f"row-{i}", i * 7) for i in range(1, BIG + 1)]),
            values(
                "app.pair",
                [(a, b, 10 if b == "x" else 20) for a in range(1, 31) for b in ("x", "y", "z")],
            ),
            values("app.misc", misc),
            values("app.nokey", [(1, "a"), (1, "a"), (2, "b"), (3, None)]),
        )
    with inside("client"), admin(config, "db2") as db2:
        wait_for(lambda: count(db2, "app.nokey") == 4, 20, "the tables to reach db2")
    yield


def values(table: str, rows: Sequence[tuple[object, ...]]) -> Statement:
    marks = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    return Statement(
        f"INSERT INTO {table} VALUES " + ", ".join([marks] * len(rows)),
        tuple(v for row in rows for v in row),
    )


def count(server: Server, table: str) -> int:
    return int(server.query(Statement(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"])


def test_replicated_tables_are_equal(config: Config) -> None:
    seen: list[ChecksumProgress] = []
    report = run_checksum(config, progress=seen.append)
    assert report.equal, report.as_json()
    assert (report.reference, report.peer) == ("db1", "db2")
    by_name = {t.full_name: t for t in report.tables}
    assert set(TABLES) <= set(by_name)
    big = by_name["app.big"]
    assert (big.key, big.rows, big.peer_rows, big.chunks) == (("id",), BIG, BIG, 6)
    assert by_name["app.pair"].key == ("a", "b")
    assert by_name["app.nokey"].key == () and by_name["app.nokey"].chunks == 1
    assert by_name["app.nokey"].note == "no key: compared whole"
    finished = [p for p in seen if p.finished]
    assert {p.table for p in finished} == set(by_name)
    assert [p.chunks_done for p in seen if p.table == "app.big"] == [1, 2, 3, 4, 5, 6, 6]


def test_planted_differences_are_found_by_key(config: Config) -> None:
    unlogged(config, "db2", PLANT)
    report = run_checksum(config)
    assert not report.equal
    by_name = {t.full_name: t for t in report.tables}

    def found(table: str) -> dict[tuple[object, ...], tuple[RowDiffKind, int]]:
        result = by_name[table]
        assert result.status is TableStatus.DIFFERENT
        return {r.key: (r.kind, d.chunk.index) for d in result.diffs for r in d.rows}

    assert found("app.big") == {
        (2500,): (RowDiffKind.DIFFERENT, 2),  # chunk 2: 2000 < id <= 3000
        (4001,): (RowDiffKind.ONLY_ON_REFERENCE, 4),
        (99999,): (RowDiffKind.ONLY_ON_PEER, 5),  # beyond db1's last key: the open chunk
    }
    big = by_name["app.big"]
    assert (big.rows, big.peer_rows, big.differing_rows) == (BIG, BIG, 3)
    assert [d.checks for d in big.diffs] == [4, 4, 4]
    assert found("app.pair") == {
        (1, "x"): (RowDiffKind.DIFFERENT, 0),
        (1, "y"): (RowDiffKind.DIFFERENT, 0),
    }
    assert found("app.misc") == {
        (3,): (RowDiffKind.DIFFERENT, 0),
        (4,): (RowDiffKind.DIFFERENT, 0),
        (8,): (RowDiffKind.DIFFERENT, 0),
    }
    (dup,) = [r for d in by_name["app.nokey"].diffs for r in d.rows]
    assert dup.kind is RowDiffKind.ONLY_ON_PEER and len(str(dup.key[0])) == 16
    stray = by_name["app.stray"]
    assert (stray.status, stray.note) == (TableStatus.MISSING, "only on db2")
    assert all(t.caught_up for t in report.tables)


def test_float_difference_is_invisible_in_float_text(config: Config) -> None:
    """Why FLOAT is widened: the server prints both values as the same text."""
    text = Statement("SELECT CAST(f AS CHAR) AS t FROM app.misc WHERE id = 3")
    with inside("client"), admin(config, "db1") as db1, admin(config, "db2") as db2:
        assert db1.query(text) == db2.query(text)


def test_cli_json_reports_differences_with_exit_1(config: Config) -> None:
    result = cli(config)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["equal"] is False
    big = next(t for t in data["tables"] if t["table"] == "app.big")
    rows = {r["key"][0]: r["where"] for d in big["diffs"] for r in d["rows"]}
    assert rows == {2500: "differs", 4001: "only on db1", 99999: "only on db2"}


def test_repaired_pair_is_equal_again(config: Config) -> None:
    unlogged(config, "db2", REPAIR)
    report = run_checksum(config)
    assert report.equal, report.as_json()


def test_cli_json_exit_0_when_equal(config: Config) -> None:
    result = cli(config)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["equal"] is True


def test_stopped_applier_is_reported_as_possible_lag(config: Config) -> None:
    with inside("client"), admin(config, "db1") as db1, admin(config, "db2") as db2:
        db2.execute(db2.dialect.stop_sql_thread())
        try:
            db1.execute(Statement("UPDATE app.big SET v = 'lagging' WHERE id = 20"))
            report = run_checksum(config, tables=["app.big"])
        finally:
            db2.execute(db2.dialect.start_sql_thread())
        (big,) = report.tables
        assert not report.equal and not big.caught_up
        assert "db2 had not caught up: differences may be replication lag" in big.note
        assert [r.key for d in big.diffs for r in d.rows] == [(20,)]
        wait_for(lambda: run_checksum(config, tables=["app.big"]).equal, 10, "db2 to catch up")


def test_blocked_applier_is_waited_for(config: Config) -> None:
    """db2's applier waits on a row lock held by a session there; the checksum waits for
    it to apply (MASTER_GTID_WAIT in a READ ONLY session) and finds the pair equal."""
    with inside("client"), admin(config, "db1") as db1, admin(config, "db2") as db2:
        db2.execute(
            Statement("START TRANSACTION"),
            Statement("SELECT id FROM app.big WHERE id = 30 FOR UPDATE"),
        )
        release = threading.Timer(1.5, lambda: db2.execute(Statement("ROLLBACK")))
        try:
            db1.execute(Statement("UPDATE app.big SET v = 'blocked' WHERE id = 30"))
            release.start()
            started = time.monotonic()
            report = run_checksum(config, tables=["app.big"])
            waited = time.monotonic() - started
        finally:
            release.join()
    assert report.equal, report.as_json()
    assert report.tables[0].caught_up
    assert waited >= 1.0


def test_busy_active_gives_no_false_differences(config: Config) -> None:
    """Writes on db1 race the two reads of every chunk; re-checks must absorb them."""
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        rng = random.Random(1)
        with inside("client"), admin(config, "db1") as db1:
            while not stop.is_set():
                db1.query(
                    Statement("UPDATE app.big SET n = n + 1 WHERE id = %s", (rng.randint(1, BIG),))
                )
                written[0] += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    reports: list[ChecksumReport] = []
    try:  # until the race was seen (and absorbed) at least once; it usually is at once
        while len(reports) < 30 and not (len(reports) >= 5 and rechecked(reports)):
            reports.append(run_checksum(config, tables=["app.big"], chunk_size=100))
    finally:
        stop.set()
        thread.join(10)
    assert written[0] > 100
    for report in reports:
        assert report.equal, report.as_json()
    assert rechecked(reports) > 0, "no chunk ever differed: the test did not race"


def rechecked(reports: Sequence[ChecksumReport]) -> int:
    return sum(t.rechecked for r in reports for t in r.tables)
