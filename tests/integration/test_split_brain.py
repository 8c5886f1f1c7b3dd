"""Split-brain safety on the real pair with the etcd witness (arbiter mode), under a writer.

One arbiter lab for the module (building one takes a minute): each test heals the faults
of the one before, waits for the pair to settle (one active holding the key, one standby),
runs a writer through the VIP, and samples every 100 ms which servers hold the VIP *and*
are writable (``sandbox.sampler``): never two, whatever the fault. The tests run in file
order, the isolation last (its old active may come back fenced, holding writes it took
in the instant before it demoted itself).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab import writer
from dualbeat_lab.sandbox import agents, faults, lab
from dualbeat_lab.sandbox.drill import VIP_HOST
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.provision import provision
from dualbeat_lab.sandbox.sampler import Sampler, writable
from dualbeat_lab.sandbox.timeline import lab_event_paths, load_events
from tests.integration.conftest import STATE, require_integration
from tests.integration.labtools import wait_for

pytestmark = pytest.mark.integration
TTL = 3.0  # the sandbox's [arbiter].ttl (the default)


@pytest.fixture(scope="module")
def arbiter_lab() -> Iterator[LabInfo]:
    require_integration()
    lab.down(STATE)
    yield provision(STATE, lambda msg: print(msg, file=sys.stderr), arbiter=True)
    lab.down(STATE)


@pytest.fixture
def arbiter_pair(arbiter_lab: LabInfo) -> Iterator[LabInfo]:
    """The module's lab, healed and settled: one active holding the key, one standby."""
    info = arbiter_lab
    faults.heal_all(info.lab)
    active = wait_for(lambda: agents.settled(info, standby=True), 30, "a settled pair")
    wait_for(lambda: lease_holder(info, active), 15, f"{active} to hold the arbiter key")
    yield info
    for event in load_events(lab_event_paths(info.lab))[-60:]:  # shown when a test fails
        print(f"{event.ts:.3f} {event.node} {event.code} {event.text}")
    faults.heal_all(info.lab)


def roles(info: LabInfo) -> tuple[str, str]:
    """(active, standby) as the agents agree now."""
    active = agents.settled(info)
    assert active is not None
    return active, next(n.name for n in info.nodes if n.name != active)


@pytest.fixture
def writes(arbiter_pair: LabInfo, tmp_path: Path) -> Iterator[Path]:
    """A writer through the VIP for the whole test; its log of acknowledged writes."""
    log = tmp_path / "writes.jsonl"
    argv = writer.command(
        VIP_HOST,
        arbiter_pair.secrets.app_password_file,
        log,
        300,
        profile=writer.Profile.TEST_BOUNDS,
    )
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: log.exists() and acked_after(log, 0.0), 15, "a write through the VIP")
    yield log
    proc.terminate()
    proc.wait(10)


def lease_holder(info: LabInfo, node: str) -> bool:
    status = agents.status(info, node)
    return bool(status and status["lease"]["held"])


def acked_after(log: Path, at: float) -> bool:
    return any(w.acked and w.sent_at >= at for w in writer.load_log(log))


def codes(info: LabInfo, node: str, since: float) -> list[str]:
    events = load_events(lab_event_paths(info.lab))
    return [e.code for e in events if e.node == node and e.ts >= since]


def first(info: LabInfo, node: str, code: str, since: float) -> float | None:
    events = load_events(lab_event_paths(info.lab))
    return next((e.ts for e in events if e.node == node and e.code == code and e.ts >= since), None)


def test_partition_of_the_two_nodes_keeps_exactly_one_writer(
    arbiter_pair: LabInfo, writes: Path
) -> None:
    """Both still reach the witness: the standby sees the active dead and asks for the key,
    etcd says the active holds it, and the active keeps serving on its lease. One writer
    at every sample."""
    active, standby = roles(arbiter_pair)
    sampler = Sampler(arbiter_pair).start()
    cut = faults.partition(arbiter_pair.lab, "db1", "db2")
    wait_for(lambda: "AWAIT_LEASE" in codes(arbiter_pair, standby, cut), 10, "the standby asking")
    time.sleep(max(0.0, cut + 3 * TTL - time.time()))  # several lease periods, no loss
    assert acked_after(writes, cut + 2 * TTL), "the writer stopped during the partition"
    samples = sampler.stop()
    during = [s for s in samples if s.at >= cut]
    assert len(during) > 20
    assert [s for s in during if s.writers != (active,)] == []
    assert "PROMOTED" not in codes(arbiter_pair, standby, cut)
    faults.heal_all(arbiter_pair.lab)
    wait_for(lambda: agents.settled(arbiter_pair, standby=True) == active, 15, "no change")


def test_arbiter_outage_neither_fails_over_nor_demotes(arbiter_pair: LabInfo, writes: Path) -> None:
    active, standby = roles(arbiter_pair)
    sampler = Sampler(arbiter_pair).start()
    stopped = faults.stop_witness(arbiter_pair.lab)
    time.sleep(max(0.0, stopped + 3 * TTL - time.time()))  # the key lapses twice over
    samples = sampler.stop()
    assert [s for s in samples if s.at >= stopped and s.writers != (active,)] == []
    assert acked_after(writes, stopped + 2 * TTL), "the active stopped taking writes"
    assert "LEASE_LAPSED" in codes(arbiter_pair, active, stopped)
    assert "LEASE_EXPIRED" not in codes(arbiter_pair, active, stopped)
    assert "PROMOTED" not in codes(arbiter_pair, standby, stopped)
    faults.start_witness(arbiter_pair.lab)
    wait_for(lambda: lease_holder(arbiter_pair, active), 10, f"{active} to take its key again")


def test_after_a_full_restart_the_behind_node_does_not_become_active(
    arbiter_pair: LabInfo, writes: Path
) -> None:
    """The standby stops applying (its replica threads stopped by hand) while the active
    takes writes and the standby keeps hearing the active's GTID position: its high-water
    mark passes what it has. Both agents die and the active's server with them; the
    behind node comes back first, alone: it must not become active. A plain takeover is
    refused, naming what would be lost."""
    info = arbiter_pair
    active, behind = roles(info)
    with Server(info.node(behind).root_endpoint()) as server:
        server.execute(Statement("STOP ALL SLAVES"))
    stopped = time.time()
    wait_for(lambda: acked_after(writes, stopped), 10, "writes the behind node lacks")
    wait_for(lambda: high_water_ahead(info, behind), 15, "the high water past the executed set")
    time.sleep(1.5)  # the mark is written at most once a second
    faults.kill_agent(info.lab, active)
    faults.kill_agent(info.lab, behind)
    faults.kill_mysqld(info.lab, active)
    restarted = time.time()
    agents.start(info, behind, lambda _m: None)
    wait_for(
        lambda: "BEHIND_HIGH_WATER" in codes(info, behind, restarted), 30, "waiting behind the mark"
    )
    status = agents.status(info, behind)
    assert status is not None and status["role"] == "starting"
    assert writable(info, behind) is False
    takeover = ["-m", "dualbeat", "takeover", "-c", str(info.config_path)]
    refused = subprocess.run(
        ["ip", "netns", "exec", behind, sys.executable, *takeover],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert refused.returncode == 4, refused.stderr
    assert "lacking the high-water mark" in refused.stderr + refused.stdout
    time.sleep(2)
    status = agents.status(info, behind)
    assert status is not None and status["role"] == "starting"
    assert "PROMOTED" not in codes(info, behind, restarted)
    # The peer returns: it holds more, so the election makes it active again, and the
    # behind node stands by (replicating once its threads run again).
    lab.up(STATE, arbiter=True)
    agents.start(info, active, lambda _m: None)
    wait_for(lambda: agents.settled(info) == active, 40, f"{active} active again")
    with Server(info.node(behind).root_endpoint()) as server:
        server.execute(Statement("START ALL SLAVES"))
    wait_for(lambda: agents.settled(info, standby=True) == active, 20, f"{behind} standing by")


def test_isolated_active_demotes_within_the_lease_and_the_standby_takes_over(
    arbiter_pair: LabInfo, writes: Path
) -> None:
    active, standby = roles(arbiter_pair)
    sampler = Sampler(arbiter_pair).start()
    cut = faults.isolate(arbiter_pair.lab, active)
    wait_for(lambda: writable(arbiter_pair, active) is False, TTL + 2, f"{active} read-only")
    demoted = first(arbiter_pair, active, "LEASE_EXPIRED", cut) or first(
        arbiter_pair, active, "ISOLATED", cut
    )
    assert demoted is not None and demoted - cut <= TTL, codes(arbiter_pair, active, cut)
    wait_for(lambda: sampler.first_writer_after(cut, standby), 15, f"{standby} the writer")
    wait_for(lambda: acked_after(writes, cut + 1), 15, f"writes through the VIP on {standby}")
    samples = sampler.stop()
    assert sampler.two_writers() == 0, [s for s in samples if len(s.writers) > 1][:3]
    promoted = first(arbiter_pair, standby, "PROMOTED", cut)
    assert promoted is not None and promoted >= demoted
    faults.heal_all(arbiter_pair.lab)
    wait_for(lambda: agents.settled(arbiter_pair) == standby, 20, f"{standby} active after")


def high_water_ahead(info: LabInfo, node: str) -> bool:
    status = agents.status(info, node)
    if not status:
        return False
    mark, executed = status["lease"]["high_water"], status["mysql"]["executed"]
    return bool(mark) and mark != executed
