"""The handoff's order (issue 14 items 1-3, issue 12 item 2): the client gate and the VIP
before any MySQL step, the gate kept shut while the server may take writes, and a claim
without the ARP probe when the old active announced its release."""

from __future__ import annotations

from dualbeat.core.actions import (
    Action,
    AdmitClients,
    ClaimVip,
    ReleaseVip,
    SetReadOnly,
    ShutClients,
    StartReplication,
)
from dualbeat.core.observations import (
    ActionDone,
    Command,
    MysqlProbed,
    OperatorRequested,
    ProbeFailure,
)
from dualbeat.core.roles import Role
from tests.unit.core_driver import DB2, Driver, peer_beat, promoted_active


def kinds(actions: tuple[Action, ...] | list[Action]) -> list[str]:
    return [type(a).__name__ for a in actions]


def failed_active() -> Driver:
    """An active whose MySQL just failed (three probes): it yields."""
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    for _ in range(3):
        d.probe(ok=False)
    assert d.role() is Role.STANDBY and d.state.demoting
    return d


def test_a_failed_active_shuts_clients_and_releases_the_vip_before_any_mysql_step() -> None:
    d = failed_active()
    assert kinds(d.decisions[-1].actions)[:5] == [
        "ShutClients",
        "ReleaseVip",
        "SendBeat",  # the release is announced at once, not at the next keepalive
        "SetReadOnly",
        "KillSessions",
    ]
    d.feed(ActionDone(ShutClients()))
    assert d.state.clients_shut is True
    d.feed(ActionDone(ReleaseVip()))
    assert d.state.vip_held is False and not d.state.demoting  # the next beat says released


def test_a_demotion_releases_the_vip_once_and_only_behind_the_gate() -> None:
    """Found in a kill -9 drill (2026-12-05): the demotion's own reconcile, in the same
    decision, asked again for ``SetReadOnly`` and ``ReleaseVip`` (the node was a standby
    that still held the VIP). That second release ran on the main lane while the handoff
    lane was still shutting the gate, found no silenced ARP, and removed the address at
    once: a client that connected then heard nothing for its whole connect timeout (the
    silent hole of issue 14 item 1). Every step a role entry asks for is in flight for
    the rest of that decision."""
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    for _ in range(3):
        d.probe(ok=False)
    assert d.role() is Role.STANDBY
    actions = kinds(d.decisions[-1].actions)
    assert actions.count("ReleaseVip") == 1, actions
    assert actions.count("SetReadOnly") == 1, actions
    assert actions.index("ReleaseVip") < actions.index("SetReadOnly"), actions


def test_a_handover_reads_its_final_position_before_the_release_but_after_the_gate() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    names = kinds(d.feed(OperatorRequested(Command.STANDBY)).actions)
    assert names[:6] == [
        "ShutClients",
        "SetReadOnly",
        "KillSessions",
        "ReadPosition",
        "ReleaseVip",
        "SendBeat",
    ]


def test_the_gate_stays_shut_while_a_thawed_server_is_writable_and_opens_once_read_only() -> None:
    d = failed_active()
    demoted_at = len(d.actions())
    d.settle()
    assert d.state.clients_shut is True
    d.at(20.0)
    d.probe(writable=True)  # thawed, still writable: read-only is retried, the gate holds
    since = d.actions()[demoted_at:]
    assert SetReadOnly(True) in since[-3:] and AdmitClients() not in since
    assert d.state.clients_shut is True
    d.settle()
    d.at(21.0)
    read_only = d.probe(writable=False)
    assert AdmitClients() in read_only.actions
    d.feed(ActionDone(AdmitClients()))
    assert d.state.clients_shut is False


def test_a_writable_standby_whose_gate_is_open_shuts_it() -> None:
    d = Driver(DB2)
    d.start()
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    d.healthy(writable=False)
    assert d.role() is Role.STANDBY
    d.settle()
    assert d.state.clients_shut is False  # opened at the start (a leftover table goes)
    d.at(5.0)
    restarted = d.probe(writable=True)  # e.g. someone turned read_only off by hand
    assert ShutClients() in restarted.actions and SetReadOnly(True) in restarted.actions


def test_the_claim_skips_the_arp_probe_only_when_the_old_active_announced_its_release() -> None:
    d = Driver(DB2)
    d.start()
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    d.healthy(writable=False)
    d.vip(held=False)
    d.settle()
    d.at(5.0)
    d.hear(peer_beat(Role.STANDBY, node="db1", epoch=1, yielding=True, vip_held=False))
    assert d.role() is Role.ACTIVE
    d.settle()
    claims = [a for a in d.actions() if isinstance(a, ClaimVip)]
    assert claims and set(claims) == {ClaimVip(probe=False)}
    assert d.state.clients_shut is False  # opened once at the start, not again


def test_a_promotion_over_a_silent_peer_keeps_the_probe() -> None:
    d = promoted_active()  # took over alone after initdead: nobody announced anything
    assert ClaimVip(probe=True) in d.actions()
    assert ClaimVip(probe=False) not in d.actions()


def test_a_server_whose_process_is_gone_fails_at_the_first_probe() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    d.feed(MysqlProbed(ok=False, failure=ProbeFailure.UNAVAILABLE, detail="refused", gone=True))
    assert d.role() is Role.STANDBY and d.state.yielding
    assert "MYSQL_FAILED" in d.codes()


def test_one_failure_with_the_process_alive_is_not_enough() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    d.feed(MysqlProbed(ok=False, failure=ProbeFailure.UNAVAILABLE, detail="timed out"))
    assert d.role() is Role.ACTIVE


def test_a_standby_whose_channel_stopped_replicates_from_the_active_again() -> None:
    """With skip_slave_start a restarted server's channel stays stopped: the agent starts
    it (found by the arbiter simulation: an old active killed before its ring started)."""
    d = Driver(DB2)
    d.start()
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    d.healthy(writable=False, replicating=False, io_stopped=True)  # the I/O thread too
    assert d.role() is Role.STANDBY
    assert StartReplication() in d.actions()
