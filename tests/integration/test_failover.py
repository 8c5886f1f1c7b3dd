"""The agent on a real pair: faults under a writer through the VIP, each ending with one writer.

Every test starts from a fresh lab with both agents settled (db1 active with the VIP) and a
writer in the client namespace that logs every acknowledged write (``sandbox.drill``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dualbeat.config import load
from dualbeat.errors import MysqlError
from dualbeat.heartbeat.codec import encode
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox import agents, drill, faults, netns
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.timeline import lab_event_paths, load_events
from dualbeat_lab.writer import Profile
from tests.integration.labtools import inside, wait_for
from tests.unit.test_heartbeat_codec import beat

pytestmark = pytest.mark.integration
VIP = "10.77.0.100"


def vip_holders(info: LabInfo) -> list[str]:
    holders = []
    for n in info.nodes:
        out = subprocess.run(
            ["ip", "-n", n.name, "-4", "-o", "addr", "show", "dev", "eth0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if f" {VIP}/" in out:
            holders.append(n.name)
    return holders


def writable(info: LabInfo, node: str) -> bool | None:
    """read_only OFF on the node's server (None when it does not answer)."""
    try:
        with Server(info.node(node).root_endpoint()) as server:
            row = server.query(Statement("SELECT @@GLOBAL.read_only AS ro"))
    except MysqlError:
        return None
    return not int(row[0]["ro"])


def assert_one_writer(info: LabInfo, expected: str) -> None:
    """Exactly one node holds the VIP and is writable, and it is ``expected``. A promotion
    claims the VIP first and turns read_only off just after (issue 13 finding 3), so the
    new active may still be read-only for a moment when the VIP is seen there."""
    wait_for(lambda: vip_holders(info) == [expected], 15, f"the VIP on {expected} alone")
    other = next(n.name for n in info.nodes if n.name != expected)
    wait_for(lambda: writable(info, other) is not True, 15, f"{other} not writable")
    wait_for(lambda: writable(info, expected) is True, 5, f"{expected} writable")
    assert vip_holders(info) == [expected]
    wait_for(
        lambda: agents.settled(info) == expected, 10, f"both agents to agree {expected} is active"
    )


def codes_after(info: LabInfo, node: str, ts: float) -> list[str]:
    return [e.code for e in load_events(lab_event_paths(info.lab)) if e.node == node and e.ts >= ts]


def check_drill(result: drill.DrillResult, new_active: str) -> None:
    t = result.timeline
    assert result.new_active == new_active, t.render()
    assert t.first_write_after is not None, t.render()  # the writer succeeded through the VIP
    assert result.lost == [], f"acknowledged writes lost: {result.lost}"


def test_kill_mysqld_on_the_active(pair: LabInfo) -> None:
    result = drill.run(pair, drill.Fault.KILL, profile=Profile.TEST_BOUNDS)
    check_drill(result, "db2")
    assert result.timeline.promoted is not None and result.timeline.promoted.node == "db2"
    assert_one_writer(pair, "db2")


def test_freeze_mysqld_on_the_active(pair: LabInfo) -> None:
    result = drill.run(pair, drill.Fault.FREEZE, hold=4.0, profile=Profile.TEST_BOUNDS)
    check_drill(result, "db2")
    assert_one_writer(pair, "db2")  # after the thaw, db1 is read-only without the VIP


def test_active_link_down(pair: LabInfo) -> None:
    result = drill.run(pair, drill.Fault.LINKDOWN, hold=4.0, profile=Profile.TEST_BOUNDS)
    check_drill(result, "db2")
    assert "PEER_DEAD" in codes_after(pair, "db2", result.timeline.fault_at)
    assert_one_writer(pair, "db2")


def test_active_agent_killed_keeps_mysql_serving(pair: LabInfo) -> None:
    """Documented behaviour: the agent's death is not MySQL's. The standby sees silence but
    the active's MySQL answers over SQL, so it does not take over; db1 keeps the VIP and
    keeps serving, and a restarted agent resumes as active."""
    result = drill.run(
        pair, drill.Fault.STOP_AGENT, hold=0.0, settle_timeout=4.0, profile=Profile.TEST_BOUNDS
    )
    t = result.timeline
    assert t.first_write_after is not None and t.promoted is None, t.render()
    assert result.lost == []
    assert vip_holders(pair) == ["db1"] and writable(pair, "db1") is True
    assert "PEER_SILENT" in codes_after(pair, "db2", t.fault_at)
    agents.start(pair, "db1", lambda _m: None)
    assert agents.wait_settled(pair, lambda _m: None) == "db1"


def nothing_moves(info: LabInfo, seconds: float) -> list[list[str]]:
    """The VIP holders sampled every 0.1 s for ``seconds`` (a failover takes deadtime to
    start: back-to-back samples over a fraction of it prove nothing)."""
    samples, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(vip_holders(info))
        time.sleep(0.1)
    return samples


def test_finding_15_wrong_mysql_password_raises_the_alarm_without_failover(
    pair: LabInfo, tmp_path: Path
) -> None:
    faults.kill_agent(pair.lab, "db1")
    bad = tmp_path / "wrong.pass"
    bad.write_text("not-the-password\n")
    bad.chmod(0o600)
    config = pair.config_path.read_text().replace(
        f'password_file = "{pair.secrets.dualbeat_password_file}"', f'password_file = "{bad}"', 1
    )
    bad_config = tmp_path / "dualbeat.toml"
    bad_config.write_text(config)
    started = time.time()
    agent_dir = pair.lab.node_paths("db1").agent_dir
    pid = netns.spawn_in(
        "db1",
        [sys.executable, "-m", "dualbeat", "agent", "-c", str(bad_config), "--node", "db1"],
        agent_dir / "agent-bad.log",
    )
    (agent_dir / "agent.pid").write_text(f"{pid}\n")  # so kill_agent and down find it
    wait_for(
        lambda: "MYSQL_MISCONFIGURED" in codes_after(pair, "db1", started),
        15,
        "the misconfiguration alarm",
    )
    # Give the standby three deadtimes to (wrongly) act, watching that nothing moves.
    wait_for(lambda: agents.status(pair, "db1") is not None, 10, "the agent to answer")
    watched = nothing_moves(pair, 3 * load(pair.config_path).heartbeat.deadtime)
    assert all(h == ["db1"] for h in watched), watched
    assert "PROMOTED" not in codes_after(pair, "db2", started)
    assert writable(pair, "db1") is True
    status = agents.status(pair, "db1")
    assert status is not None and status["mysql"]["health"] == "misconfigured"
    faults.kill_agent(pair.lab, "db1")


def test_garbled_and_forged_datagrams_are_counted_and_ignored(pair: LabInfo) -> None:
    key = pair.secrets.heartbeat_key_file.read_bytes()
    good = beat(cluster="sandbox", node="db2", epoch=99, executed="", received="")
    other_cluster = encode(dataclasses.replace(good, cluster="other"), key)
    forged = encode(good, os.urandom(32))
    garbage = [b"hello", b"DBHB\x01" + os.urandom(64), forged, other_cluster]
    with inside("client"), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in garbage * 5:
            sock.sendto(datagram, ("10.77.0.11", 6940))

    def dropped() -> dict[str, int] | None:
        st = agents.status(pair, "db1")
        counts = st["links"]["lan"]["dropped"] if st else {}
        want = {"truncated", "bad_signature", "other_cluster"}
        return counts if want <= set(counts) else None

    counts = wait_for(dropped, 10, "the drops to be counted")
    assert counts["other_cluster"] == 5 and counts["bad_signature"] >= 10
    assert agents.settled(pair, standby=True) == "db1"  # nothing changed
    assert "PEER_NEWER_EPOCH" not in codes_after(pair, "db1", 0.0)


def run_dualbeat(info: LabInfo, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            sys.executable,
            "-m",
            "dualbeat",
            *args,
            "-c",
            str(info.config_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_operator_standby_then_takeover_moves_the_vip_and_back(pair: LabInfo) -> None:
    handover = run_dualbeat(pair, "db1", "standby")
    assert handover.returncode == 0, handover.stderr + handover.stdout
    assert "db1 is now standby" in handover.stdout
    assert_one_writer(pair, "db2")
    status = json.loads(run_dualbeat(pair, "db2", "status", "--json").stdout)
    assert status["role"] == "active" and status["peer_view"]["role"] == "standby"
    back = run_dualbeat(pair, "db1", "takeover")
    assert back.returncode == 0, back.stderr + back.stdout
    assert_one_writer(pair, "db1")


def test_sigterm_on_the_active_hands_over(pair: LabInfo) -> None:
    pid = netns.read_pid(pair.lab.node_paths("db1").agent_dir / "agent.pid")
    assert pid is not None and netns.is_ours(pid, ["db1"])
    os.kill(pid, signal.SIGTERM)
    assert_one_writer(pair, "db2")
    wait_for(lambda: not netns.pid_alive(pid), 15, "the db1 agent to exit")
    assert "SHUTDOWN_HANDOVER" in codes_after(pair, "db1", 0.0)


def test_a_removed_vip_is_added_back(pair: LabInfo) -> None:
    subprocess.run(["ip", "-n", "db1", "addr", "del", f"{VIP}/24", "dev", "eth0"], check=True)
    wait_for(lambda: vip_holders(pair) == ["db1"], 10, "the VIP back on db1")
    wait_for(lambda: agents.settled(pair, standby=True) == "db1", 10, "the pair settled again")
    assert "PROMOTED" not in codes_after(pair, "db2", 0.0)


def test_switchover_there_and_back_under_a_writer(pair: LabInfo) -> None:
    """Planned and lossless: no acknowledged write lost, the same rows on both servers,
    and never two writable servers at any sample taken during the switchovers."""
    samples: list[list[str]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append([n.name for n in pair.nodes if writable(pair, n.name)])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        there = drill.run(pair, drill.Fault.SWITCHOVER, profile=Profile.TEST_BOUNDS)
        back = drill.run(pair, drill.Fault.SWITCHOVER, profile=Profile.TEST_BOUNDS)
    finally:
        stop.set()
        sampler.join(10)
    assert (there.old_active, there.new_active) == ("db1", "db2"), there.timeline.render()
    assert (back.old_active, back.new_active) == ("db2", "db1"), back.timeline.render()
    for result in (there, back):
        assert result.lost == [], result.timeline.render()
        assert result.timeline.first_write_after is not None
    assert len(samples) > 20 and all(len(s) <= 1 for s in samples), samples
    assert_one_writer(pair, "db1")
    wait_for(
        lambda: drill.present_seqs(pair, "db1") == drill.present_seqs(pair, "db2"),
        15,
        "the writer's rows to be identical on both servers",
    )
