"""A statement a client sends to the active *after* its mysqld froze never commits there.

The compare bench's freeze runs hold the old active for review now and then, for one
in-doubt write sent within milliseconds of the SIGSTOP. This pins down which side of the
freeze such a write is on: one the frozen server has not read yet is drained from its
socket by the client gate (``gate.drain``) and is gone when the server thaws; only a
statement the server had already read when it froze can still commit at the thaw.
"""

from __future__ import annotations

import threading

import pymysql
import pytest

from dualbeat.errors import MysqlQueryError
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox import agents, faults
from dualbeat_lab.sandbox.drill import VIP_HOST
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.labtools import inside, wait_for

pytestmark = pytest.mark.integration


def rows(info: LabInfo, node: str) -> list[int]:
    with Server(info.node(node).root_endpoint()) as server:
        return [int(r["k"]) for r in server.query(Statement("SELECT k FROM app.unread"))]


def has_table(info: LabInfo, node: str) -> bool:
    try:
        rows(info, node)
    except MysqlQueryError:  # not replicated yet
        return False
    return True


def test_a_statement_sent_to_a_frozen_active_never_commits_there(pair: LabInfo) -> None:
    with Server(pair.node("db1").root_endpoint()) as server:
        server.execute(Statement("CREATE TABLE app.unread (k INT PRIMARY KEY)"))
    wait_for(lambda: has_table(pair, "db2"), 15, "app.unread on db2")
    password = pair.secrets.app_password_file.read_text().strip()
    with inside("client"):  # the application's host, through the VIP
        client = pymysql.connect(
            host=VIP_HOST, user="app", password=password, database="app", autocommit=True
        )  # driver defaults: connect 10 s, no read timeout
    outcome: list[str] = []

    def insert() -> None:
        try:
            client.query("INSERT INTO unread VALUES (1)")
            outcome.append("acknowledged")
        except pymysql.err.OperationalError as exc:
            outcome.append(f"error: {exc}")

    try:
        faults.freeze_mysqld(pair.lab, "db1")  # returns once the process is seen stopped
        sender = threading.Thread(target=insert, daemon=True)
        sender.start()  # reaches db1's socket, unread: the server is stopped
        sender.join(15)
        assert outcome and outcome[0].startswith("error"), outcome  # reset by the gate
        wait_for(lambda: agents.settled(pair) == "db2", 20, "db2 active")
    finally:
        faults.thaw_mysqld(pair.lab, "db1")
        client.close()
    wait_for(
        lambda: (st := agents.status(pair, "db1")) is not None and st["mysql"]["writable"] is False,
        20,
        "the thawed db1 read-only",
    )
    assert rows(pair, "db1") == [] and rows(pair, "db2") == []
