"""Debian's HAProxy in the client namespace, checking ``GET /active`` on both agents:
after a failover, new connections through it reach the new active."""

from __future__ import annotations

import pymysql
import pytest

from dualbeat_lab.sandbox import agents, faults, haproxy
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.provision import APP
from tests.integration.labtools import inside, wait_for

pytestmark = pytest.mark.integration


def through_haproxy(info: LabInfo) -> tuple[str, int, int] | None:
    """(hostname, server_id, read_only) of the server HAProxy sends a new connection to."""
    try:
        with inside(info.client_namespace):
            conn = pymysql.connect(
                host="127.0.0.1",
                port=haproxy.FRONTEND_PORT,
                user=APP,
                password=info.secrets.password(APP),
                connect_timeout=1,
                read_timeout=2,
            )
        with conn, conn.cursor() as cur:
            cur.execute("SELECT @@hostname, @@server_id, @@read_only")
            row = cur.fetchone()
    except pymysql.MySQLError:
        return None
    assert row is not None
    return (str(row[0]), int(row[1]), int(row[2]))


def test_haproxy_follows_the_active_after_a_failover(pair: LabInfo) -> None:
    info = pair
    haproxy.start(info, lambda _: None)
    first = wait_for(lambda: through_haproxy(info), 10, "a connection through haproxy")
    assert first[1:] == (1, 0)  # db1 (server_id 1), writable

    faults.kill_mysqld(info.lab, "db1")
    wait_for(lambda: agents.settled(info) == "db2", 30, "db2 to take over")

    def on_db2() -> tuple[str, int, int] | None:
        found = through_haproxy(info)
        return found if found is not None and found[1] == 2 else None

    after = wait_for(on_db2, 10, "haproxy to reach db2")
    assert after[1:] == (2, 0)  # db2, writable
    for _ in range(5):  # and only db2, on every new connection
        assert through_haproxy(info) == after
