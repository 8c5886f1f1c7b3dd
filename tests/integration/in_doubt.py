"""A client statement in doubt on the active: the table, the client and what to read.

Shared by the tests of in-doubt commits on an old active (``test_freeze_unread``,
``test_unacked_commit``): each sends one statement through the VIP into ``app.unread``
and watches where it commits and what the old active's agent does about it.
"""

from __future__ import annotations

import threading

import pymysql

from dualbeat.config import load
from dualbeat.errors import MysqlQueryError
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat.rejoin.analysis import report_dir
from dualbeat_lab.sandbox.drill import VIP_HOST
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.timeline import lab_event_paths, load_events
from tests.integration.labtools import inside, wait_for
from tests.integration.rejoin_scene import role


def rows(info: LabInfo, node: str) -> list[int]:
    with Server(info.node(node).root_endpoint()) as server:
        return [int(r["k"]) for r in server.query(Statement("SELECT k FROM app.unread"))]


def has_table(info: LabInfo, node: str) -> bool:
    try:
        rows(info, node)
    except MysqlQueryError:  # not replicated yet
        return False
    return True


def codes(info: LabInfo, node: str) -> list[str]:
    """The node's history codes, oldest first."""
    return [e.code for e in load_events(lab_event_paths(info.lab)) if e.node == node]


def client_through_vip(
    info: LabInfo, read_timeout: float | None = None
) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
    """A connection made from the application's host through the VIP, to a pair holding
    ``app.unread``; driver defaults (connect 10 s, no read timeout) unless told."""
    with Server(info.node("db1").root_endpoint()) as server:
        server.execute(Statement("CREATE TABLE app.unread (k INT PRIMARY KEY)"))
    wait_for(lambda: has_table(info, "db2"), 15, "app.unread on db2")
    password = info.secrets.app_password_file.read_text().strip()
    with inside("client"):
        return pymysql.connect(
            host=VIP_HOST,
            user="app",
            password=password,
            database="app",
            autocommit=True,
            read_timeout=read_timeout,
        )


def discarded_by_db1(info: LabInfo) -> None:
    """db1, the old active, fenced for the in-doubt row only it holds, discards it by
    itself and stands by again, with the record of the discard; db2 never had the row."""
    assert rows(info, "db2") == []
    try:
        wait_for(lambda: "REJOIN_AUTO" in codes(info, "db1"), 120, "db1 to rejoin by itself")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; db1's codes: {codes(info, 'db1')[-15:]}") from None
    seen = codes(info, "db1")
    assert seen.index("HOLDS_ERRANT") < seen.index("REJOIN_AUTO_RESOLVED"), seen
    assert role(info, "db1") == "standby"
    wait_for(lambda: rows(info, "db1") == [], 30, "the in-doubt row gone from db1")
    assert rows(info, "db2") == []
    reports = report_dir(load(info.config_path), "db1")
    assert list(reports.glob("*-discard.json")), "no record of the discard"


class InFlight:
    """One client statement sent in a thread of its own (``start``): ``outcome`` stays
    empty while it runs, then holds ``"acknowledged"`` or ``"error: ..."``."""

    def __init__(
        self, client: pymysql.connections.Connection[pymysql.cursors.Cursor], sql: str
    ) -> None:
        self.outcome: list[str] = []
        self._client, self._sql = client, sql
        self._thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        try:
            self._client.query(self._sql)
            self.outcome.append("acknowledged")
        except pymysql.err.OperationalError as exc:
            self.outcome.append(f"error: {exc}")

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
