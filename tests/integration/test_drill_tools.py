"""The drill tools on the real sandbox pair: writer, fault injectors and timeline.

There are no agents and no VIP here (the ``sandbox`` fixture builds the pair with db1
writable), so the writer writes to db1's own address. Every fault is undone by
``heal_all`` after each test; a killed server is restarted by ``lab.up``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import faults, lab, mariadb, netns
from dualbeat_lab.sandbox.layout import Lab
from dualbeat_lab.sandbox.timeline import Timeline, lab_event_paths, load_events, lost_writes
from dualbeat_lab.writer import Profile, WriteRecord, command, load_log
from tests.integration.labtools import wait_for

pytestmark = pytest.mark.integration

DB1 = "10.77.0.11"
HOLD = 0.5  # how long a fault is held: the point of these tests, not a wait


class RunningWriter:
    """A writer subprocess in the client namespace and its log."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, output: Path) -> None:
        self.proc, self.log, self.output = proc, log, output

    def records(self) -> list[WriteRecord]:
        return load_log(self.log) if self.log.exists() else []

    def acked_after(self, ts: float) -> int:
        return sum(1 for r in self.records() if r.acked and r.sent_at >= ts)

    def failed_after(self, ts: float) -> int:
        return sum(1 for r in self.records() if r.error is not None and r.sent_at >= ts)

    def stop(self) -> list[WriteRecord]:
        """SIGTERM (the writer finishes its attempt and flushes), then the whole log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=10)
        assert code == 0, self.output.read_text()
        return self.records()


@contextmanager
def writer(info: lab.LabInfo, tmp_path: Path, host: str = DB1) -> Iterator[RunningWriter]:
    log, output = tmp_path / "writes.jsonl", tmp_path / "writer.out"
    argv = command(host, info.secrets.app_password_file, log, 60, profile=Profile.TEST_BOUNDS)
    with output.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    running = RunningWriter(proc, log, output)
    try:
        wait_for(lambda: running.acked_after(0) >= 30, 20, "the writer's first 30 acks")
        yield running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def seq_of(record: WriteRecord) -> int:
    return record.seq


def present_seqs(info: lab.LabInfo, node: str) -> list[int]:
    with Server(info.node(node).root_endpoint()) as server:
        return [int(r["seq"]) for r in server.query(Statement("SELECT seq FROM app.writes"))]


def show(title: str, timeline: Timeline, records: list[WriteRecord]) -> None:
    """Printed for ``pytest -s``: the timeline, and the write rate before the fault."""
    acks = [
        r.acked_at for r in records if r.acked_at is not None and r.acked_at < timeline.fault_at
    ]
    rate = (len(acks) - 1) / (acks[-1] - acks[0]) if len(acks) > 1 else 0.0
    print(f"\n--- {title} (writer: {len(records)} attempts, {rate:.0f} acks/s before the fault)")
    print(timeline.render())


@pytest.fixture
def info(sandbox: lab.LabInfo) -> Iterator[lab.LabInfo]:
    """The pair with db1 running and writable; every fault undone afterwards."""
    current = lab.up(sandbox.lab.state_dir)  # starts a server a previous test killed
    with Server(current.node("db1").root_endpoint()) as server:
        server.execute(*server.dialect.set_read_only(False))
    yield current
    faults.heal_all(current.lab)


def test_partition_shows_as_a_gap_with_timeouts(info: lab.LabInfo, tmp_path: Path) -> None:
    the_lab = info.lab
    with writer(info, tmp_path) as w:
        cut = faults.partition(the_lab, "db1")
        assert faults.partition_table_present(the_lab)
        time.sleep(HOLD)
        lifting = time.time()  # the rules go somewhere between this and ``healed``
        healed = faults.heal(the_lab)
        wait_for(lambda: w.acked_after(healed) >= 30, 10, "30 acks after the heal")
        records = w.stop()

    assert not faults.partition_table_present(the_lab)
    assert any(r.acked and r.sent_at > healed for r in records)
    # The attempts after the last ack before the cut (the one in flight may have been sent a
    # moment before ``cut``: the rules take effect before nft has exited) time out.
    last = max((r for r in records if r.acked_at is not None and r.acked_at < cut), key=seq_of)
    hit = [r for r in records if r.seq > last.seq and r.sent_at < healed]
    assert any(r.error and "timed out" in r.error for r in hit), hit
    # Nothing sent once the rules were in can have been answered before they were lifted
    # (which happened after ``lifting``: ``healed`` is stamped once nft has exited).
    assert not [r for r in hit if r.sent_at >= cut and r.acked_at and r.acked_at < lifting]

    timeline = Timeline.build(cut, records, load_events(lab_event_paths(the_lab)))
    show("partition db1 for 0.5 s", timeline, records)
    gap = timeline.longest_gap
    assert gap is not None and gap.closed
    assert gap.seconds >= 0.4 and gap.contains(cut), timeline.render()
    assert timeline.rto is not None and timeline.rto >= HOLD
    assert {r.server_id for r in records if r.acked} == {1}
    assert lost_writes(records, present_seqs(info, "db1")) == []


def test_freeze_and_thaw(info: lab.LabInfo, tmp_path: Path) -> None:
    the_lab = info.lab
    with writer(info, tmp_path) as w:
        frozen = faults.freeze_mysqld(the_lab, "db1")
        pid = mariadb.running_pid(the_lab, "db1")
        assert pid is not None and netns.process_state(pid) == "T"
        time.sleep(HOLD)
        thawed = faults.thaw_mysqld(the_lab, "db1")
        assert netns.process_state(pid) != "T"
        wait_for(lambda: w.acked_after(thawed) >= 30, 10, "30 acks after the thaw")
        records = w.stop()
    timeline = Timeline.build(frozen, records)
    show("freeze db1 for 0.5 s", timeline, records)
    gap = timeline.longest_gap
    assert gap is not None and gap.seconds >= 0.4 and gap.contains(frozen)
    assert lost_writes(records, present_seqs(info, "db1")) == []


def test_kill_mysqld_stops_the_acks_and_up_restarts_it(info: lab.LabInfo, tmp_path: Path) -> None:
    the_lab = info.lab
    old_pid = info.node("db1").pid
    with writer(info, tmp_path) as w:
        killed = faults.kill_mysqld(the_lab, "db1")
        assert not netns.pid_alive(old_pid)
        wait_for(lambda: w.failed_after(killed) >= 5, 10, "5 failed writes after the kill")
        records = w.stop()
    after = [r for r in records if r.sent_at >= killed]
    assert after and not [r for r in after if r.acked]
    timeline = Timeline.build(killed, records)
    show("kill -9 db1 (no agent: nobody takes over)", timeline, records)
    assert timeline.rto is None
    assert timeline.longest_gap is not None and not timeline.longest_gap.closed

    restarted = lab.up(the_lab.state_dir)  # starts only what is not running
    assert restarted.node("db1").started and restarted.node("db1").pid != old_pid
    assert not restarted.node("db2").started
    # sync_binlog=1 and innodb_flush_log_at_trx_commit=1: every acked write survived kill -9
    assert lost_writes(records, present_seqs(restarted, "db1")) == []


def test_link_down_is_carrier_loss_inside_the_host(info: lab.LabInfo) -> None:
    the_lab = info.lab
    assert faults.has_carrier(the_lab, "db2", "eth0")
    faults.link_down(the_lab, "db2")
    for ifname in ("eth0", "eth1"):
        shown = netns.ip("link", "show", ifname, ns="db2")
        assert "NO-CARRIER" in shown and ",UP" in shown, shown  # admin up, no carrier
        assert not faults.has_carrier(the_lab, "db2", ifname)
    assert netns.addresses("db2")["eth0"] == ["10.77.0.12/24"]  # a pulled cable keeps them
    faults.link_up(the_lab, "db2")
    for ifname in ("eth0", "eth1"):
        wait_for(partial(faults.has_carrier, the_lab, "db2", ifname), 5, f"{ifname} carrier")
        assert "NO-CARRIER" not in netns.ip("link", "show", ifname, ns="db2")


def test_heal_all_undoes_everything_and_is_idempotent(info: lab.LabInfo) -> None:
    the_lab = info.lab
    faults.heal_all(the_lab)  # on a healthy lab: nothing to do, no error
    faults.partition(the_lab, "db1")
    faults.partition(the_lab, "db1", networks=["hb"])  # again: the set absorbs it
    faults.link_down(the_lab, "db2", networks=["lan"])
    faults.freeze_mysqld(the_lab, "db2")
    db2_pid = mariadb.running_pid(the_lab, "db2")
    assert db2_pid is not None
    for _ in range(2):
        faults.heal_all(the_lab)
        assert not faults.partition_table_present(the_lab)
        assert netns.process_state(db2_pid) not in ("T", None)
        for node in ("db1", "db2"):
            for ifname in ("eth0", "eth1"):
                carrier = partial(faults.has_carrier, the_lab, node, ifname)
                wait_for(carrier, 5, f"{node} {ifname} carrier")
    assert lab.status(the_lab.state_dir).healthy


def test_kill_agent_only_kills_a_process_in_the_node(info: lab.LabInfo) -> None:
    the_lab: Lab = info.lab
    pid_file = the_lab.node_paths("db1").agent_dir / "agent.pid"
    pid_file.unlink(missing_ok=True)
    with pytest.raises(SandboxError, match="no agent pid"):
        faults.kill_agent(the_lab, "db1")

    fake_agent = netns.spawn_in("db1", ["sleep", "300"], the_lab.state_dir / "fake-agent.out")
    pid_file.write_text(f"{fake_agent}\n")
    # ``ip netns exec`` enters the namespace after the fork: until then the pid is not ours
    wait_for(partial(netns.is_ours, fake_agent, ("db1",)), 5, "the fake agent to enter db1")
    before = time.time()
    exited = faults.kill_agent(the_lab, "db1")
    assert before <= exited <= time.time()
    assert not netns.pid_alive(fake_agent)

    outsider = subprocess.Popen(["sleep", "300"])  # alive, but not in the lab's namespaces
    try:
        pid_file.write_text(f"{outsider.pid}\n")
        with pytest.raises(SandboxError, match="not a live process in db1"):
            faults.kill_agent(the_lab, "db1")
        assert outsider.poll() is None
    finally:
        outsider.kill()
        outsider.wait()
        pid_file.unlink(missing_ok=True)
