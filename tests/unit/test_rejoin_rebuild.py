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
    pump = rebuild._Pump(io.BytesIO(dump), sink, lambda _n: None)
    pump.run()
    assert pump.done == len(dump) and not pump.error
    assert rebuild.dump_position(pump.header.decode("utf-8", "replace"), "mariadb") == (
        "0-1-42,1-1-7,2-2-90"
    )
