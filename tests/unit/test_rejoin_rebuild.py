"""The rebuild's copy stream: the dump's GTID position is found wherever the dump puts it.

MariaDB 10.11's ``mariadb-dump --master-data=2 --gtid`` writes ``SET GLOBAL gtid_slave_pos``
at the *end* of the dump; a copy larger than any buffer must still yield its position.
"""

from __future__ import annotations

import io

from dualbeat.rejoin import rebuild

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
