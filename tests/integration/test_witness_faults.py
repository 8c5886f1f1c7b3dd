"""The arbiter lab's faults: a partition between the nodes that spares the witness, a host
isolated from everything, etcd stopped; all undone by heal_all; down removes the witness."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import pytest

from dualbeat_lab.sandbox import faults, lab, netns, witness
from dualbeat_lab.sandbox.probe import http_probe, tcp_probe

from .conftest import STATE
from .labtools import wait_for

pytestmark = pytest.mark.integration

DB1_LAN, DB1_HB = "10.77.0.11:3306", "10.78.0.11:3306"
DB2_LAN, DB2_HB = "10.77.0.12:3306", "10.78.0.12:3306"


@pytest.fixture(scope="module")
def info() -> Iterator[lab.LabInfo]:
    lab.down(STATE)
    built = lab.up(STATE, lambda msg: print(msg, file=sys.stderr), arbiter=True)
    yield built
    faults.heal_all(built.lab)
    lab.down(STATE)


def reaches(ns: str, *targets: str) -> dict[str, bool]:
    """host:port reachable from ``ns`` (a refusal counts: mariadbd listens on the LAN only)."""
    return {t: r.reachable for t, r in tcp_probe(ns, targets, timeout=0.5).items()}


def healed(condition: Callable[[], bool], what: str) -> None:
    """After a heal, ARP entries that failed during the fault take a moment to resolve."""
    wait_for(condition, 5.0, what)


def witness_answers(info: lab.LabInfo, ns: str) -> list[bool]:
    urls = [f"{e}/health" for e in info.arbiter_endpoints]
    return [ok for ok, _ in http_probe(ns, urls, timeout=0.5).values()]


def test_the_lab_has_a_witness_on_both_networks(info: lab.LabInfo) -> None:
    assert info.arbiter_endpoints == ("http://10.77.0.5:2379", "http://10.78.0.5:2379")
    for ns in ("db1", "db2"):
        assert witness_answers(info, ns) == [True, True]
    status = lab.status(STATE)
    assert status.healthy and status.witness is not None and status.witness.ok
    assert "witness etcd pid" in status.render()
    text = info.config_path.read_text()
    assert 'endpoints = ["http://10.77.0.5:2379", "http://10.78.0.5:2379"]' in text


def test_partition_cuts_the_nodes_apart_but_not_from_the_witness(info: lab.LabInfo) -> None:
    faults.partition(info.lab, "db1", "db2")
    assert reaches("db1", DB2_LAN, DB2_HB) == {DB2_LAN: False, DB2_HB: False}
    assert reaches("db2", DB1_LAN, DB1_HB) == {DB1_LAN: False, DB1_HB: False}
    assert witness_answers(info, "db1") == [True, True]
    assert witness_answers(info, "db2") == [True, True]
    assert reaches("client", DB1_LAN, DB2_LAN) == {DB1_LAN: True, DB2_LAN: True}
    faults.heal_all(info.lab)
    healed(lambda: all(reaches("db1", DB2_LAN, DB2_HB).values()), "db1 to reach db2 again")
    healed(lambda: all(reaches("db2", DB1_LAN, DB1_HB).values()), "db2 to reach db1 again")


def test_partition_of_one_network_leaves_the_other(info: lab.LabInfo) -> None:
    faults.partition(info.lab, "db1", "db2", networks=["hb"])
    try:
        assert reaches("db1", DB2_LAN, DB2_HB) == {DB2_LAN: True, DB2_HB: False}
    finally:
        faults.heal_all(info.lab)


def test_isolate_cuts_a_host_from_everything(info: lab.LabInfo) -> None:
    faults.isolate(info.lab, "db1")
    assert reaches("db1", DB2_LAN, DB2_HB) == {DB2_LAN: False, DB2_HB: False}
    assert witness_answers(info, "db1") == [False, False]
    assert reaches("client", DB1_LAN, DB2_LAN) == {DB1_LAN: False, DB2_LAN: True}
    assert witness_answers(info, "db2") == [True, True]
    faults.heal_all(info.lab)
    healed(lambda: all(witness_answers(info, "db1")), "db1 to reach the witness again")
    healed(lambda: all(reaches("client", DB1_LAN).values()), "the client to reach db1 again")


def test_stop_and_start_witness(info: lab.LabInfo) -> None:
    old = witness.running_pid(info.lab)
    assert old is not None
    faults.stop_witness(info.lab)
    assert witness.running_pid(info.lab) is None
    assert witness_answers(info, "db1") == [False, False]
    status = lab.status(STATE)
    assert not status.healthy and status.witness is not None and status.witness.pid is None
    faults.heal_all(info.lab)  # restarts it
    assert witness.running_pid(info.lab) not in (None, old)
    assert witness_answers(info, "db2") == [True, True]


def test_up_keeps_and_down_removes_the_witness(info: lab.LabInfo) -> None:
    pid = witness.running_pid(info.lab)
    again = lab.up(STATE)  # no arbiter flag: an existing witness stays
    assert again.arbiter_endpoints == info.arbiter_endpoints
    assert witness.running_pid(again.lab) == pid
    lab.down(STATE)
    assert not netns.namespace_exists("witness")
    assert pid is not None and not netns.pid_alive(pid)
    assert lab.status(STATE).absent
