"""A commit still waiting for semi-sync's acknowledgement when the active's link went down.

The client's statement reached the active and went into its binary log; the standby never
received it (the replication stream was held up), so the commit waited for the standby's
acknowledgement, and the client for its answer. The link then went down: the peer
promoted without the transaction, and the old active committed it after the peer had
promoted. Its acknowledgement reached nobody: the commit was still waiting when the client gate
destroyed the client's connection, and the agent's probes show why it could not have
returned earlier (semi-sync on, no earlier commit left unacknowledged, the timeout not
reached: ``gate.acks``). So the old active discards it by itself and stands by again
(``[rejoin] auto``, default ``internal``), without an operator.
"""

from __future__ import annotations

import time

import pytest

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox import agents, faults
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.in_doubt import InFlight, client_through_vip, discarded_by_db1, rows
from tests.integration.labtools import wait_for

pytestmark = pytest.mark.integration

WAITING = "Waiting for semi-sync ACK from slave"


def semisync_on(info: LabInfo) -> bool:
    with Server(info.node("db1").root_endpoint()) as server:
        found = server.query(Statement("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'"))
    return bool(found) and str(found[0]["Value"]).upper() == "ON"


def heartbeat_at(info: LabInfo) -> float:
    """When db1's agent last wrote its heartbeat row (its write probe), wall clock."""
    with Server(info.node("db1").root_endpoint()) as server:
        found = server.query(
            Statement("SELECT UNIX_TIMESTAMP(ts) AS t FROM dualbeat.heartbeat WHERE node = 'db1'")
        )
    return float(found[0]["t"]) if found else 0.0


def waiting_for_ack(server: Server) -> bool:
    found = server.query(
        Statement(
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE = %s",
            (WAITING,),
        )
    )
    return bool(found[0]["n"])


def test_a_commit_waiting_for_its_ack_at_link_down_is_discarded_by_the_node_itself(
    pair: LabInfo,
) -> None:
    # A read timeout: with the link down nothing the old active sends reaches the client.
    client = client_through_vip(pair, read_timeout=5.0)
    wait_for(lambda: semisync_on(pair), 15, "semi-sync on db1")
    # The proof needs a probe sent after semi-sync came on (``gate.acks``): a pair just
    # settled turned it on a moment ago. db1's write probe stamps its heartbeat row.
    on = time.time()
    wait_for(lambda: heartbeat_at(pair) > on + 0.3, 10, "db1 probed since", step=0.05)
    sender = InFlight(client, "INSERT INTO unread VALUES (7)")
    with Server(pair.node("db2").root_endpoint()) as db2:
        db2.execute(Statement("STOP SLAVE IO_THREAD"))  # the stream held up
    try:
        with Server(pair.node("db1").root_endpoint()) as db1:
            sender.start()
            wait_for(lambda: waiting_for_ack(db1), 0.8, "the commit waiting", step=0.01)
        faults.link_down(pair.lab, "db1")  # well within the 1 s semi-sync timeout
        sender.join(15)
        assert sender.outcome and sender.outcome[0].startswith("error"), sender.outcome
        wait_for(lambda: agents.settled(pair) == "db2", 20, "db2 active")
        wait_for(lambda: rows(pair, "db1") == [7], 20, "the INSERT committed on db1")
    finally:
        faults.link_up(pair.lab, "db1")
        client.close()
    discarded_by_db1(pair)
