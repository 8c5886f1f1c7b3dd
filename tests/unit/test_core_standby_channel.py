"""With ``skip_slave_start`` (issue 12 item 6) a restarted server never replicates by
itself: replication starts when the agent decides. A standby therefore starts its own
channel from the active it hears; a fenced node never does."""

from __future__ import annotations

from dualbeat.core.actions import StartReplication
from dualbeat.core.durable import Durable
from dualbeat.core.observations import MysqlProbed
from dualbeat.core.roles import Role
from dualbeat.core.state import Decision
from tests.unit.core_driver import DB2, Driver, gtids, peer_beat


def standby(executed: str = "1-1-20") -> Driver:
    d = Driver(DB2)
    d.start(Durable(epoch=1, highest_seen=1))
    d.healthy()
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1, executed=executed))
    d.settle()
    assert d.role() is Role.STANDBY
    return d


def stopped_channel(d: Driver, *, io_stopped: bool = True) -> Decision:
    """A probe of a standby whose channel is stopped (``io_stopped``: the I/O thread too)."""
    executed = gtids("1-1-20")
    return d.feed(
        MysqlProbed(
            ok=True,
            writable=False,
            replicating=False,
            executed=executed,
            received=executed,
            origin="2",
            io_stopped=io_stopped,
        )
    )


def test_a_standby_starts_its_stopped_channel_from_the_active() -> None:
    d = standby()
    d.at(1.0)
    probed = stopped_channel(d)
    heard = d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-25"))
    assert StartReplication() in (*probed.actions, *heard.actions)


def test_a_standby_without_an_active_peer_leaves_its_channel_alone() -> None:
    d = standby()
    d.at(5.0)  # the active's last beat is stale by now
    probed = stopped_channel(d)
    heard = d.hear(peer_beat(Role.FENCED, node="db1", epoch=1, executed="1-1-25"))
    assert StartReplication() not in (*probed.actions, *heard.actions)


def test_a_standby_with_only_its_sql_thread_stopped_is_left_alone() -> None:
    """A delayed (or operator-stopped) SQL thread keeps its I/O thread: not restarted."""
    d = standby()
    d.at(1.0)
    probed = stopped_channel(d, io_stopped=False)
    heard = d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-25"))
    assert StartReplication() not in (*probed.actions, *heard.actions)
