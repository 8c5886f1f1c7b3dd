"""The handoff on a frozen active (issue 14 items 1-3, issue 12 item 2), on the real pair.

A client with the driver's defaults (PyMySQL: no read timeout) is blocked in a statement
on the active when its mysqld is frozen (SIGSTOP). The old active must shut its MySQL port
and destroy that client's connection *while it still holds the VIP*: the client gets an
error promptly, and its reconnect through the VIP reaches the new active. After the thaw,
the statement the frozen server had queued must not commit there (in-doubt commits: 0).
Every wait is bounded by the test, never by the client.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pymysql
import pytest

from dualbeat.errors import MysqlQueryError
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox import agents, faults
from dualbeat_lab.sandbox.drill import VIP_HOST
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.provision import APP
from tests.integration.labtools import inside, wait_for

pytestmark = pytest.mark.integration

#: The client must hear of the handoff within this (detection + fence; generous for CI).
PROMPT = 5.0


def _client(info: LabInfo, read_timeout: float | None) -> pymysql.connections.Connection[Any]:
    with inside(info.client_namespace):
        return pymysql.connect(
            host=VIP_HOST,
            user=APP,
            password=info.secrets.password(APP),
            database=APP,
            connect_timeout=10,  # the driver's default
            read_timeout=read_timeout,
            autocommit=True,
        )


def _write_when_writable(conn: pymysql.connections.Connection[Any], sql: str) -> None:
    """A promotion claims the VIP while still read-only and turns read_only off just
    after (issue 13 finding 3): a client that lands in that moment gets error 1290 and
    retries, as it would any error. Bounded by ``PROMPT``."""
    deadline = time.monotonic() + PROMPT
    while True:
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
            return
        except pymysql.OperationalError as exc:
            if exc.args[0] != 1290 or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _reconnect(info: LabInfo) -> pymysql.connections.Connection[Any]:
    """Through the VIP, retrying a refusal at once, as an application would: until the
    new holder's gratuitous ARP, the old active answers with a reset, never silence."""
    deadline = time.monotonic() + PROMPT
    while True:
        try:
            return _client(info, read_timeout=10)
        except pymysql.OperationalError as exc:
            if exc.args[0] != 2003 or time.monotonic() > deadline:  # 2003: refused
                raise
            time.sleep(0.02)


def _rows(info: LabInfo, node: str) -> set[int]:
    with Server(info.node(node).root_endpoint()) as server:
        rows = server.query(Statement("SELECT id FROM app.handoff"))
    return {int(r["id"]) for r in rows}


def _table_on(info: LabInfo, node: str) -> bool:
    """The table has replicated to ``node`` (empty): not there yet is not an error."""
    try:
        return _rows(info, node) == set()
    except MysqlQueryError:
        return False


def _server_id(conn: pymysql.connections.Connection[Any]) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT @@server_id")
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


def test_a_client_blocked_on_a_frozen_active_recovers_and_nothing_commits_after_the_thaw(
    pair: LabInfo,
) -> None:
    old = agents.wait_settled(pair, lambda _m: None)
    new = next(n.name for n in pair.nodes if n.name != old)
    blocked = _client(pair, read_timeout=None)  # the driver's default: wait forever
    with blocked.cursor() as cur:
        cur.execute("CREATE TABLE handoff (id INT PRIMARY KEY, note VARCHAR(40))")
    wait_for(lambda: _table_on(pair, new), 10, "the table to reach the standby")
    assert _server_id(blocked) == pair.node(old).server_id
    outcome: list[object] = []

    def write_on_the_frozen_server() -> None:
        try:
            with blocked.cursor() as cur:
                cur.execute("INSERT INTO handoff VALUES (1, 'sent to the frozen active')")
            outcome.append("committed")
        except pymysql.MySQLError as exc:
            outcome.append(exc)
        outcome.append(time.time())

    frozen_at = faults.freeze_mysqld(pair.lab, old)
    thawed = False
    try:
        writer = threading.Thread(target=write_on_the_frozen_server, daemon=True)
        writer.start()
        writer.join(PROMPT + 10)  # bounded by the test, not by the client
        assert not writer.is_alive(), "the client blocked on the frozen active never returned"
        error, returned_at = outcome
        assert isinstance(error, pymysql.OperationalError), error
        assert isinstance(returned_at, float) and returned_at - frozen_at < PROMPT
        again = _reconnect(pair)
        assert time.time() - frozen_at < PROMPT + 1.0
        assert _server_id(again) == pair.node(new).server_id
        _write_when_writable(again, "INSERT INTO handoff VALUES (2, 'after the handoff')")
        again.close()
        faults.thaw_mysqld(pair.lab, old)
        thawed = True
        wait_for(lambda: agents.settled(pair) == new, 30, f"{new} active, {old} not")
        time.sleep(1.0)  # room for a thawed statement to commit, if anything let it
        assert 1 not in _rows(pair, old), "in-doubt commit on the old active after the thaw"
        assert _rows(pair, new) == {2}
    finally:
        if not thawed:
            faults.thaw_mysqld(pair.lab, old)
        with contextlib.suppress(pymysql.MySQLError):
            blocked.close()
