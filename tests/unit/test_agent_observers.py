"""The observers against an in-memory MariaDB (``FakeServer``): one run of each step turns
the server's state, or its failure, into the observation the core decides on."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualbeat.agent.observers import Observers
from dualbeat.core.gtid import MariadbGtidSet
from dualbeat.core.observations import MysqlProbed, PeerSqlProbed, ProbeFailure
from dualbeat.mysql.dialect import ThreadState
from dualbeat.mysql.fake import Failure, FakeReplica
from tests.unit.agent_world import Posts, Servers, config, endpoint


def observers(tmp_path: Path, servers: Servers, posts: Posts, write: bool = False) -> Observers:
    return Observers(
        config(tmp_path),
        "db1",
        endpoint("db1"),
        endpoint("db2"),
        None,
        posts,
        lambda: (write, 4),
        connect=servers.connect,
    )


def probe(tmp_path: Path, servers: Servers, write: bool = False) -> MysqlProbed:
    posts = Posts()
    observers(tmp_path, servers, posts, write).steps["monitor"]()
    [seen] = posts.take(1)
    assert isinstance(seen, MysqlProbed)
    return seen


def test_active_write_probe_writes_the_heartbeat_row_without_a_gtid(tmp_path: Path) -> None:
    servers = Servers()
    db1 = servers.db1
    db1.read_only = False
    db1.executed = MariadbGtidSet.parse("1-1-10")
    seen = probe(tmp_path, servers, write=True)
    assert seen.ok and seen.writable is True
    assert seen.executed == MariadbGtidSet.parse("1-1-10")
    assert seen.origin == "1"
    assert seen.replicating is None and seen.lag is None  # no replica configured
    assert db1.tables["dualbeat.heartbeat"] == {"db1": (4,)}
    assert db1.executed == MariadbGtidSet.parse("1-1-10")  # sql_log_bin=0: nothing logged


def test_write_probe_on_a_read_only_server_is_refused_not_sent(tmp_path: Path) -> None:
    servers = Servers()
    servers.db1.writes_through_read_only = True  # MariaDB ALL PRIVILEGES would write
    seen = probe(tmp_path, servers, write=True)
    # A live server in the wrong state, not a failed one (issue 13, finding 11): the
    # active repairs read_only set by hand instead of failing over.
    assert seen.ok and seen.failure is None and seen.writable is False
    assert "read_only is ON" in seen.detail
    assert servers.db1.tables["dualbeat.heartbeat"] == {}


def test_standby_probe_reports_replication(tmp_path: Path) -> None:
    servers = Servers()
    db1 = servers.db1
    db1.replica = FakeReplica(seconds_behind=3)
    db1.replicate("2-2-20")
    seen = probe(tmp_path, servers)
    assert seen.ok and seen.writable is False  # read-only: the standby's normal state
    assert seen.replicating is True and seen.lag == 3
    assert seen.received == MariadbGtidSet.parse("2-2-20")
    assert seen.executed == MariadbGtidSet.parse("2-2-20")


def test_a_connecting_io_thread_is_not_replicating(tmp_path: Path) -> None:
    servers = Servers()
    servers.db1.replica = FakeReplica(io=ThreadState.CONNECTING)
    assert probe(tmp_path, servers).replicating is False


@pytest.mark.parametrize(
    ("failure", "kind", "text"),
    [
        (Failure.REFUSED, ProbeFailure.UNAVAILABLE, "Connection refused"),
        (Failure.TIMEOUT, ProbeFailure.UNAVAILABLE, "timed out"),
        (Failure.ACCESS_DENIED, ProbeFailure.MISCONFIGURED, "Access denied"),
        (Failure.BUSY, ProbeFailure.BUSY, "Too many connections"),
    ],
)
def test_server_failures_become_their_kind(
    tmp_path: Path, failure: Failure, kind: ProbeFailure, text: str
) -> None:
    servers = Servers()
    servers.db1.fail(failure)
    seen = probe(tmp_path, servers)
    assert not seen.ok and seen.failure is kind and text in seen.detail


def test_missing_heartbeat_table_is_our_mistake_not_a_failure(tmp_path: Path) -> None:
    servers = Servers()
    servers.db1.read_only = False
    del servers.db1.tables["dualbeat.heartbeat"]
    seen = probe(tmp_path, servers, write=True)
    assert seen.failure is ProbeFailure.MISCONFIGURED


def test_probe_reconnects_after_the_server_comes_back(tmp_path: Path) -> None:
    servers, posts = Servers(), Posts()
    monitor = observers(tmp_path, servers, posts).steps["monitor"]
    servers.db1.fail(Failure.REFUSED)
    monitor()
    servers.db1.fail(None)
    monitor()
    down, up = posts.take(2)
    assert isinstance(down, MysqlProbed) and not down.ok
    assert isinstance(up, MysqlProbed) and up.ok
    assert servers.db1.connects == 1


def test_peer_sql_tells_a_refusing_peer_from_an_answering_one(tmp_path: Path) -> None:
    servers, posts = Servers(), Posts()
    peer_sql = observers(tmp_path, servers, posts).steps["peer-sql"]
    peer_sql()
    servers.db2.fail(Failure.REFUSED)
    peer_sql()
    answered, refused = posts.take(2)
    assert answered == PeerSqlProbed(True)
    assert isinstance(refused, PeerSqlProbed) and not refused.reachable
    assert "Connection refused" in refused.detail and "db2" in refused.detail
    assert servers.db1.log == []  # the peer step never touches the local server


def test_the_core_never_sees_dualbeats_own_transactions(tmp_path: Path) -> None:
    """Issue 12 item 1: both nodes' internal domains (9000, 9001 by default) are left out
    of what the probe reports, so the errant check compares client transactions only."""
    servers = Servers()
    servers.db1.executed = MariadbGtidSet.parse("1-1-10,2-2-4,9000-1-3,9001-2-8")
    servers.db1.replica = FakeReplica()
    servers.db1.replicate("2-2-4,9001-2-8")
    seen = probe(tmp_path, servers)
    assert seen.executed == MariadbGtidSet.parse("1-1-10,2-2-4")
    assert seen.received == MariadbGtidSet.parse("2-2-4")


@pytest.mark.parametrize(
    ("io", "stopped"),
    [
        (ThreadState.STOPPED, True),
        (ThreadState.CONNECTING, False),  # reconnecting on its own: not a stopped channel
        (ThreadState.RUNNING, False),
    ],
)
def test_a_stopped_io_thread_is_told_from_a_reconnecting_one(
    tmp_path: Path, io: ThreadState, stopped: bool
) -> None:
    servers = Servers()
    servers.db1.replica = FakeReplica(io=io, sql=ThreadState.STOPPED)
    assert probe(tmp_path, servers).io_stopped is stopped


def test_no_position_is_reported_while_a_rejoin_of_the_node_is_under_way(
    tmp_path: Path,
) -> None:
    """A rejoin restarts the node's GTID history before it repositions the active's
    channel; a kill in between, or a rejoin run again, left the node looking as if it
    lacked nothing, and its agent rejoined it by itself ([rejoin] auto) and started
    replicating under the rejoin's RESET MASTER (lab, test_rejoin_large). While the
    rejoin's journal exists its position is unknown, which never rejoins a node."""
    servers = Servers()
    servers.db1.executed = MariadbGtidSet.parse("1-1-10")
    journal = config(tmp_path).state_dir("db1") / "rejoin" / "in-progress.json"
    journal.parent.mkdir(parents=True)
    journal.write_text("{}")
    seen = probe(tmp_path, servers)
    assert seen.ok and seen.executed is None and "rejoin" in seen.detail
    journal.unlink()
    assert probe(tmp_path, servers).executed == MariadbGtidSet.parse("1-1-10")


class LinkWithoutCarrier:
    """A VIP interface that has lost its carrier and says nothing more: no further
    change comes, so the observer waits out whatever timeout it asks for."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def observe(self) -> tuple[bool, bool]:
        return True, False

    def wait_for_change(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return False


def test_a_lost_carrier_is_confirmed_at_the_monitors_pace(tmp_path: Path) -> None:
    """The core counts a link down after ``CARRIER_SAMPLES`` observations without carrier:
    the second must come an interval after the first, not after the slow refresh of an
    unchanged interface (an active cut off yielded a second late, and a commit waiting
    for its acknowledgement then timed out before the client gate shut)."""
    link, posts = LinkWithoutCarrier(), Posts()
    seen = Observers(
        config(tmp_path), "db1", endpoint("db1"), endpoint("db2"), link,  # type: ignore[arg-type]
        posts, lambda: (False, 4), connect=Servers().connect,
    )  # fmt: skip
    step = seen.steps["vip"]
    step()
    step()
    assert len(posts.take(2)) == 2, "each sample without carrier is posted"
    assert link.waits == [seen.interval] * 2
