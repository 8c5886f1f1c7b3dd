"""A client statement in doubt on the active: the table, the client and what to read.

Shared by the tests of in-doubt commits on an old active (``test_freeze_unread``,
``test_unacked_commit``): each sends one statement through the VIP into ``app.unread``
and watches where it commits and what the old active's agent does about it.
"""

from __future__ import annotations

import pymysql

from dualbeat.errors import MysqlQueryError
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox.drill import VIP_HOST
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.timeline import lab_event_paths, load_events
from tests.integration.labtools import inside, wait_for


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
