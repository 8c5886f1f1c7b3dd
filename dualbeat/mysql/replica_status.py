"""Normalised replication and binary-log status, parsed from server rows.

``SHOW SLAVE STATUS`` / ``SHOW REPLICA STATUS`` differ between flavours only in column
*names* (``Master_Host`` until MySQL 8.0.21 and in MariaDB, ``Source_Host`` from 8.0.22),
in which GTID columns exist (``Retrieved_Gtid_Set``/``Auto_Position`` in MySQL,
``Gtid_IO_Pos``/``Using_Gtid`` in MariaDB) and in value types (PyMySQL returns ints, other
drivers and proxies return strings). This module hides all three: it looks columns up by
any of their known names, case-insensitively, and normalises every value, so the rest of
dualbeat sees one ``ReplicaStatus`` whatever the server.

The parsers are pure functions of the rows; ``dialect.Dialect`` chooses the statement and
passes the GTID family in.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Row = Mapping[str, object]
GtidFamily = Literal["mysql", "mariadb"]


class ThreadState(enum.Enum):
    """State of a replication thread, as the ``*_Running`` columns report it.

    MariaDB also reports ``Preparing`` for the I/O thread (connected, registering with the
    source, not yet reading events); it is mapped to ``CONNECTING`` because, like
    ``Connecting``, the thread is alive but not yet receiving.
    """

    RUNNING = "Yes"
    STOPPED = "No"
    CONNECTING = "Connecting"


_THREAD_STATES = {
    "yes": ThreadState.RUNNING,
    "no": ThreadState.STOPPED,
    "connecting": ThreadState.CONNECTING,
    "preparing": ThreadState.CONNECTING,
}


@dataclass(frozen=True)
class ReplicaStatus:
    """One replication channel, normalised over MariaDB and MySQL.

    ``executed_gtids`` is empty on MariaDB: its applied position is ``@@gtid_slave_pos``,
    which plain ``SHOW SLAVE STATUS`` does not report; read it as a variable.
    ``source_server_id`` is ``None`` when the server reports 0 (never connected).
    ``io_state_text``/``sql_state_text`` are the free-text thread states, for display only.
    """

    source_host: str
    source_port: int
    source_user: str
    io_state: ThreadState
    sql_state: ThreadState
    seconds_behind: int | None
    last_io_errno: int
    last_io_error: str
    last_sql_errno: int
    last_sql_error: str
    retrieved_gtids: str
    executed_gtids: str
    auto_position: bool
    source_server_id: int | None
    channel: str
    io_state_text: str = ""
    sql_state_text: str = ""

    @property
    def running(self) -> bool:
        """Both threads are running (the I/O thread connected, not just trying)."""
        return self.io_state is ThreadState.RUNNING and self.sql_state is ThreadState.RUNNING

    @property
    def has_error(self) -> bool:
        """Either thread has recorded an error since the last START/RESET."""
        return self.last_io_errno != 0 or self.last_sql_errno != 0


@dataclass(frozen=True)
class BinlogStatus:
    """Current binary log coordinates; ``gtids`` is empty on MariaDB (use gtid_binlog_pos)."""

    file: str
    position: int
    gtids: str


def to_str(value: object) -> str:
    """A column value as text: ``None`` becomes ``""``, bytes are decoded as UTF-8."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


_ON = frozenset({"ON", "1", "YES", "TRUE"})


def to_flag(value: object) -> bool | None:
    """A server switch as the server prints it (ON/OFF, 1/0, YES/NO); None when absent."""
    if value is None:
        return None
    return to_str(value).strip().upper() in _ON


def to_optional_int(value: object) -> int | None:
    """A column value as an int; ``None``, ``""`` and ``"NULL"`` become ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        if value != int(value):
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    text = to_str(value).strip()
    if text == "" or text.upper() == "NULL":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


def to_int(value: object, default: int = 0) -> int:
    """Like ``to_optional_int`` but with a default for missing values."""
    number = to_optional_int(value)
    return default if number is None else number


def normalise_gtids(value: object) -> str:
    """A GTID set as one line: MySQL breaks long sets with ``",\\n"``; drop all whitespace."""
    return "".join(to_str(value).split())


def thread_state(value: object) -> ThreadState:
    """Map a ``*_IO_Running``/``*_SQL_Running`` value; an unknown value is a ValueError."""
    text = to_str(value).strip().lower()
    try:
        return _THREAD_STATES[text]
    except KeyError:
        raise ValueError(f"unknown replication thread state {value!r}") from None


class _Columns:
    """Case-insensitive lookup of a row by any of a column's names across versions."""

    def __init__(self, row: Row) -> None:
        self._row = {key.lower(): value for key, value in row.items()}

    def get(self, *names: str) -> object:
        for name in names:
            key = name.lower()
            if key in self._row:
                return self._row[key]
        return None


def _channel_of(columns: _Columns) -> str:
    return to_str(columns.get("Channel_Name", "Connection_name"))


def parse_replica_rows(
    rows: Sequence[Row], gtid_family: GtidFamily, channel: str = ""
) -> ReplicaStatus | None:
    """Parse ``SHOW SLAVE|REPLICA STATUS`` (or MariaDB ``SHOW ALL SLAVES STATUS``) rows.

    Returns the row of ``channel`` (the default, unnamed channel unless told otherwise), or
    ``None`` when there is no such row: no replica configured, or ``RESET REPLICA ALL``.
    """
    for row in rows:
        columns = _Columns(row)
        if _channel_of(columns) == channel:
            return _parse_row(columns, gtid_family)
    return None


def _parse_row(c: _Columns, gtid_family: GtidFamily) -> ReplicaStatus:
    if gtid_family == "mariadb":
        retrieved = normalise_gtids(c.get("Gtid_IO_Pos"))
        executed = ""
        using_gtid = to_str(c.get("Using_Gtid")).strip().lower()
        auto_position = using_gtid in ("slave_pos", "current_pos")
    else:
        retrieved = normalise_gtids(c.get("Retrieved_Gtid_Set"))
        executed = normalise_gtids(c.get("Executed_Gtid_Set"))
        auto_position = to_int(c.get("Auto_Position")) == 1
    server_id = to_optional_int(c.get("Source_Server_Id", "Master_Server_Id"))
    return ReplicaStatus(
        source_host=to_str(c.get("Source_Host", "Master_Host")),
        source_port=to_int(c.get("Source_Port", "Master_Port")),
        source_user=to_str(c.get("Source_User", "Master_User")),
        io_state=thread_state(c.get("Replica_IO_Running", "Slave_IO_Running")),
        sql_state=thread_state(c.get("Replica_SQL_Running", "Slave_SQL_Running")),
        seconds_behind=to_optional_int(c.get("Seconds_Behind_Source", "Seconds_Behind_Master")),
        last_io_errno=to_int(c.get("Last_IO_Errno")),
        last_io_error=to_str(c.get("Last_IO_Error")),
        last_sql_errno=to_int(c.get("Last_SQL_Errno")),
        last_sql_error=to_str(c.get("Last_SQL_Error")),
        retrieved_gtids=retrieved,
        executed_gtids=executed,
        auto_position=auto_position,
        source_server_id=server_id or None,
        channel=_channel_of(c),
        io_state_text=to_str(c.get("Replica_IO_State", "Slave_IO_State")),
        sql_state_text=to_str(c.get("Replica_SQL_Running_State", "Slave_SQL_Running_State")),
    )


def parse_binlog_rows(rows: Sequence[Row]) -> BinlogStatus | None:
    """Parse ``SHOW MASTER STATUS`` / ``SHOW BINARY LOG STATUS``; ``None`` if binlog is off."""
    if not rows:
        return None
    c = _Columns(rows[0])
    return BinlogStatus(
        file=to_str(c.get("File")),
        position=to_int(c.get("Position")),
        gtids=normalise_gtids(c.get("Executed_Gtid_Set")),
    )


def parse_variable_rows(rows: Sequence[Row]) -> dict[str, str]:
    """``SHOW GLOBAL VARIABLES|STATUS`` rows as ``{Variable_name: Value}`` (names as sent)."""
    result: dict[str, str] = {}
    for row in rows:
        c = _Columns(row)
        result[to_str(c.get("Variable_name"))] = to_str(c.get("Value"))
    return result
