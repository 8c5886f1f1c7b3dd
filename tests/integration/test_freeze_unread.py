"""Client statements in flight when the active's mysqld froze.

A statement sent *after* the freeze never commits there: the frozen server has not read
it, and the client gate drains it from its socket (``gate.drain``). A statement the server
had already read when it froze still runs when it thaws, and may commit before the agent
makes the server read-only: an in-doubt write (its client saw its connection reset) on
the old active after the peer promoted. It was committed while the gate was shut, so no
client was acknowledged it (``gate.window``): the node discards it by itself and stands
by again (``[rejoin] auto``, default ``internal``), without an operator.
"""

from __future__ import annotations

import pytest

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox import agents, faults
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.in_doubt import InFlight, client_through_vip, discarded_by_db1, rows
from tests.integration.labtools import wait_for

pytestmark = pytest.mark.integration


def test_a_statement_sent_to_a_frozen_active_never_commits_there(pair: LabInfo) -> None:
    client = client_through_vip(pair)
    sender = InFlight(client, "INSERT INTO unread VALUES (1)")
    try:
        faults.freeze_mysqld(pair.lab, "db1")  # returns once the process is seen stopped
        sender.start()  # reaches db1's socket, unread: the server is stopped
        sender.join(15)
        # reset by the gate
        assert sender.outcome and sender.outcome[0].startswith("error"), sender.outcome
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


#: An INSERT that runs for seconds on the server (a scan of MariaDB's sequence engine),
#: so that the server has read it, and is executing it, when it freezes.
LONG_INSERT = (
    "INSERT INTO unread SELECT 2 FROM (SELECT COUNT(*) AS n FROM seq_1_to_60000000 "
    "WHERE seq % 7 = 3) AS scan"
)


def scanning(info: LabInfo, node: str) -> bool:
    """The node's server is executing ``LONG_INSERT`` (it has read it)."""
    with Server(info.node(node).root_endpoint()) as server:
        rows = server.query(
            Statement(
                "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST"
                " WHERE COMMAND = 'Query' AND INFO = %s",
                (LONG_INSERT,),
            )
        )
    return bool(rows[0]["n"])


def test_a_statement_read_before_the_freeze_is_discarded_by_the_node_itself(
    pair: LabInfo,
) -> None:
    client = client_through_vip(pair)
    sender = InFlight(client, LONG_INSERT)
    sender.start()
    wait_for(lambda: scanning(pair, "db1"), 10, "db1 to have read the INSERT and scan")
    assert not sender.outcome, f"the INSERT ended before the freeze: {sender.outcome}"
    try:
        faults.freeze_mysqld(pair.lab, "db1")
        sender.join(15)
        # reset by the gate
        assert sender.outcome and sender.outcome[0].startswith("error"), sender.outcome
        wait_for(lambda: agents.settled(pair) == "db2", 20, "db2 active")
        # The commit at the thaw must win its race against db1's agent making the server
        # read-only (it does now and then on its own): hold the agent until it has.
        faults.freeze_agent(pair.lab, "db1")
        try:
            faults.thaw_mysqld(pair.lab, "db1")
            wait_for(lambda: rows(pair, "db1") == [2], 30, "the INSERT committed on db1")
        finally:
            faults.thaw_agent(pair.lab, "db1")
    finally:
        faults.thaw_mysqld(pair.lab, "db1")
        client.close()
    # db1 stood by right after its demotion: it is fenced, then back by itself.
    discarded_by_db1(pair)
