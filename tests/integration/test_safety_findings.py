"""Issue 13 findings 9 and 12 against a real server: the actor's writes and waits.

A provisioned pair without agents (db1 writable, db2 read-only and replicating).
"""

from __future__ import annotations

import dataclasses
import queue
import time

import pytest

from dualbeat.agent.actor import Actor
from dualbeat.agent.settings import monitor_endpoint
from dualbeat.config import Config
from dualbeat.core.actions import PersistState
from dualbeat.core.durable import Durable
from dualbeat.core.gtid import parse_gtid_set
from dualbeat.core.observations import ActionDone, Observation
from dualbeat.core.roles import Role
from dualbeat.errors import MysqlError
from dualbeat.mysql import control
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.labtools import inside

pytestmark = pytest.mark.integration


def _executed(server: Server) -> str:
    d = server.dialect
    return server.variables([d.executed_gtids_var()])[d.executed_gtids_var()]


def test_finding_09_a_state_save_writes_nothing_through_read_only(
    sandbox: LabInfo, config: Config
) -> None:
    """An ex-active restarted read-only saves its state (a grown high-water mark) with
    ``last_role = active``: the epoch row must not be written through read_only (the
    agent's account may), or the node holds an errant transaction."""
    state = config.state_dir("db2") / "state.json"
    posted: queue.Queue[Observation] = queue.Queue()
    with inside("client"), Server(sandbox.admin_endpoint("db2")) as db2:
        assert control.read_only_state(db2)
        before = _executed(db2)
        actor = Actor(config, "db2", monitor_endpoint(config, "db2"), None, posted.put)
        try:
            durable = Durable(epoch=41, highest_seen=41, last_role=Role.ACTIVE)
            actor.submit([PersistState(durable)])
            outcome = posted.get(timeout=10)
        finally:
            actor.close()
            state.unlink(missing_ok=True)
        assert isinstance(outcome, ActionDone), outcome
        after = _executed(db2)
        origin = str(db2.query(Statement("SELECT @@server_id AS id"))[0]["id"])
    family = db2.dialect.gtid_family
    # db1's writes may still arrive by replication; db2's own transactions are errant.
    new = parse_gtid_set(after, family) - parse_gtid_set(before, family)
    assert not new.originated_by(origin), (str(new), outcome)


def test_finding_12_read_only_does_not_wait_out_a_lock(sandbox: LabInfo, config: Config) -> None:
    """``SET GLOBAL read_only`` waits for the global read lock behind ``LOCK TABLES``: an
    arbiter-mode demotion must give up within the lease margin (0.5 s at most), not after
    the session's lock_wait_timeout."""
    fast = dataclasses.replace(
        monitor_endpoint(config, "db1"), connect_timeout=0.5, read_timeout=1.0
    )
    with inside("client"), Server(sandbox.admin_endpoint("db1")) as locker, Server(fast) as db1:
        control.ensure_schema(locker)
        locker.execute(Statement("LOCK TABLES dualbeat.heartbeat WRITE"))
        started = time.monotonic()
        try:
            control.set_read_only(db1, True)
        except MysqlError:
            pass
        finally:
            elapsed = time.monotonic() - started
            locker.execute(Statement("UNLOCK TABLES"))
            control.set_read_only(locker, False)
    assert elapsed < 0.5, f"read_only waited {elapsed:.2f} s on the lock"
