"""The rebuild's copy stream: the dump's GTID position is found wherever the dump puts it.

MariaDB 10.11's ``mariadb-dump --master-data=2 --gtid`` writes ``SET GLOBAL gtid_slave_pos``
at the *end* of the dump; a copy larger than any buffer must still yield its position.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from dualbeat.errors import MysqlQueryError
from dualbeat.mysql.fake import FakeServer
from dualbeat.rejoin import rebuild
from dualbeat.rejoin.report import Analysis
from dualbeat.rejoin.resolve import Resolution, _shown, _Steps
from tests.unit import agent_world

FILLER_ROW = b"(" + b"1234567890," * 20 + b"'" + b"x" * 200 + b"'),"


class Sink(io.BytesIO):
    """The loader's stdin: counts what it got; stays readable after the pump closes it."""

    def __init__(self) -> None:
        super().__init__()
        self.received = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.received += len(data)
        return len(data)

    def close(self) -> None:
        pass


def mariadb_dump(size: int, position: str) -> bytes:
    head = (
        b"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n"
        b"-- Preferably use GTID to start replication from GTID position:\n"
        b"-- GTID to start replication from (printed later in the file)\n"
        b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `app`;\n"
    )
    body = bytearray()
    while len(body) < size:  # extended INSERTs: long lines, some holding look-alike text
        body += b"INSERT INTO `t` VALUES " + FILLER_ROW * 2000
        body += b"(2,'-- SET GLOBAL gtid_slave_pos=''9-9-9''');\n"
    tail = f"\n-- SET GLOBAL gtid_slave_pos='{position}';\n-- Dump completed\n".encode()
    return head + bytes(body) + tail


def test_the_position_at_the_end_of_a_dump_larger_than_any_buffer_is_found() -> None:
    dump = mariadb_dump(8 << 20, "0-1-42,1-1-7,2-2-90")
    sink = Sink()
    pump = rebuild._Pump(io.BytesIO(dump), sink, lambda _n: None, "mariadb")
    pump.run()
    assert pump.done == len(dump) and not pump.error
    assert pump.scan.position == "0-1-42,1-1-7,2-2-90"


def scan_in_pieces(dump: bytes, family: str, size: int) -> rebuild.PositionScan:
    scan = rebuild.PositionScan(family)
    for start in range(0, len(dump), size):
        scan.feed(dump[start : start + size])
    return scan


def test_the_statement_is_found_however_the_stream_is_cut() -> None:
    dump = mariadb_dump(300_000, "0-1-42")
    for size in (1, 7, 63, 64, 65, 4096):
        assert scan_in_pieces(dump, "mariadb", size).position == "0-1-42", size


def test_a_look_alike_inside_the_data_is_not_the_position() -> None:
    dump = mariadb_dump(10_000, "1-1-1")
    without_position = dump[: dump.rindex(b"\n-- SET GLOBAL")]
    assert b"gtid_slave_pos=''9-9-9''" in without_position
    assert scan_in_pieces(without_position, "mariadb", 4096).position is None


def test_a_mysql_set_spanning_lines_is_read_whole() -> None:
    dump = b"-- header\nSET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'aaa:1-5,\nbbb:1-3';\nrest\n"
    for size in (1, 5, 1000):
        assert scan_in_pieces(dump, "mysql", size).position == "aaa:1-5,bbb:1-3"


def test_memory_stays_bounded_on_a_line_without_end() -> None:
    scan = rebuild.PositionScan("mariadb")
    for _ in range(100):
        scan.feed(b"INSERT INTO t VALUES " + b"(1)," * 10_000)
    assert len(scan._line) == 0 and scan.position is None


def test_a_failed_step_says_what_it_left_and_how_to_continue(tmp_path: Path) -> None:
    config = agent_world.config(tmp_path)
    analysis = Analysis("c1", "db1", "db2", "mariadb", 0.0, "1", "", "", "", 0)
    result = Resolution("db1", "db2", "discard", analysis, tmp_path / "a.json")
    said: list[str] = []
    step = _Steps(config, result, "20261204T000000Z", said.append)
    with (
        pytest.raises(MysqlQueryError, match="loading the copy failed"),
        step("copying db2's data", "db1 half copied", "run it again"),
    ):
        raise MysqlQueryError("db1", "loading the copy failed: disk full")
    assert said[:3] == [
        "stopped while copying db2's data: db1: loading the copy failed: disk full",
        "left: db1 half copied; db1 stays fenced",
        "to continue: run it again",
    ]
    assert result.record_path is not None
    assert result.record_path.name == "20261204T000000Z-discard-stopped.json"
    record = json.loads(result.record_path.read_text())
    assert record["stopped"]["step"] == "copying db2's data"
    assert record["stopped"]["resume"] == "run it again"


def test_the_manual_restart_statements_read_as_an_operator_types_them() -> None:
    statements = FakeServer().dialect.restart_history("0-1-5")
    assert [_shown(s) for s in statements] == [
        "RESET MASTER",
        "SET GLOBAL gtid_binlog_state = '0-1-5'",
        "SET GLOBAL gtid_slave_pos = '0-1-5'",
    ]
