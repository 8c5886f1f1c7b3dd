"""A commit still waiting for semi-sync's acknowledgement when the active was cut off.

The client's statement reached the active and went into its binary log; the standby never
received it (the replication stream was held up), so the commit waited for the standby's
acknowledgement, and the client for its answer. Then the active was cut off:

- its link went down: it yields at once (``LINK_DOWN``), its client gate shut;
- or it was isolated, link up, every frame dropped (the classic lab has no ``[ping]``):
  it cannot tell, judges the peer dead and stays active, and switches semi-sync's source
  side off behind its shut client gate (``SetSemiSync.behind_gate``) before the server's
  own timeout would answer the commit.

Either way the peer promoted without the transaction, and the old active committed it
afterwards. Its acknowledgement reached nobody: the commit was still waiting when the
client gate destroyed the client's connection, and the agent's probes show why it could
not have returned earlier (semi-sync on, no earlier commit left unacknowledged, the
timeout not reached: ``gate.acks``). So after the heal the old active discards it by
itself and stands by again (``[rejoin] auto``, default ``internal``), without an operator.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox import faults
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.layout import Lab
from tests.integration.in_doubt import InFlight, client_through_vip, discarded_by_db1, rows
from tests.integration.labtools import wait_for
from tests.integration.rejoin_scene import role

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


CUTS: dict[str, tuple[Callable[[Lab], object], Callable[[Lab], object]]] = {
    "link-down": (lambda lab: faults.link_down(lab, "db1"), lambda lab: faults.link_up(lab, "db1")),
    "isolated": (lambda lab: faults.isolate(lab, "db1"), faults.heal),
}


@pytest.mark.parametrize("cut", CUTS)
def test_a_commit_waiting_for_its_ack_when_cut_off_is_discarded_by_the_node_itself(
    pair: LabInfo, cut: str
) -> None:
    # A read timeout: once cut off, nothing the old active sends reaches the client.
    client = client_through_vip(pair, read_timeout=5.0)
    wait_for(lambda: semisync_on(pair), 15, "semi-sync on db1")
    # The proof needs a probe sent after semi-sync came on (``gate.acks``): a pair just
    # settled turned it on a moment ago. db1's write probe stamps its heartbeat row.
    on = time.time()
    wait_for(lambda: heartbeat_at(pair) > on + 0.3, 10, "db1 probed since", step=0.05)
    sender = InFlight(client, "INSERT INTO unread VALUES (7)")
    with Server(pair.node("db2").root_endpoint()) as db2:
        db2.execute(Statement("STOP SLAVE IO_THREAD"))  # the stream held up
    fault, undo = CUTS[cut]
    try:
        with Server(pair.node("db1").root_endpoint()) as db1:
            sender.start()
            wait_for(lambda: waiting_for_ack(db1), 0.8, "the commit waiting", step=0.01)
        fault(pair.lab)  # well within the semi-sync timeout
        sender.join(15)
        assert sender.outcome and sender.outcome[0].startswith("error"), sender.outcome
        wait_for(lambda: role(pair, "db2") == "active", 20, "db2 active")
        wait_for(lambda: rows(pair, "db1") == [7], 20, "the INSERT committed on db1")
    finally:
        undo(pair.lab)
        client.close()
    discarded_by_db1(pair)
