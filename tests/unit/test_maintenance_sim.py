"""Maintenance mode with two real cores under the simulator (lossy network, fake clock):
once paused, a fault on either node changes nothing (no server made writable or read-only,
the VIP stays where it is) for several deadtimes, even across an agent restart; resumed,
the pair settles to one writable active as usual, and the setting converges on both."""

from __future__ import annotations

import os

import pytest

from dualbeat.core.observations import Command, OperatorRequested
from tests.unit.sim import World

SEEDS = range(int(os.environ.get("DUALBEAT_SIM_SEEDS", "200")) // 4)
FAULTS = ("kill", "freeze", "agent")


class PausableWorld(World):
    """The simulator with operator commands and a view of what automation changes."""

    def command(self, name: str, command: Command) -> None:
        self._feed(self.nodes[name], OperatorRequested(command))

    def paused(self) -> list[bool]:
        return [n.state.durable.maintenance for n in self.nodes.values() if n.agent_up]

    def servers(self) -> tuple[list[str], list[str]]:
        """What automation would change: which servers are read-write, who holds the VIP."""
        return sorted(n.name for n in self.nodes.values() if n.mysql.writable), self.vip_holders()


def settle(w: PausableWorld, seed: int, what: str, until: float = 15.0) -> None:
    end = w.now + until
    while w.now < end and not w.settled():
        w.step()
    assert w.settled(), f"seed {seed}: {what}\n" + "\n".join(w.log[-40:])


@pytest.mark.parametrize("seed", SEEDS)
def test_seed(seed: int) -> None:
    w = PausableWorld(seed)
    rng = w.rng
    while w.now < 12.0:
        w.step()
    assert w.settled(), f"seed {seed}: not settled at start"
    w.command(rng.choice(list(w.nodes)), Command.MAINTENANCE_ON)
    end = w.now + 3.0
    while w.now < end and w.paused() != [True, True]:
        w.step()
    assert w.paused() == [True, True], f"seed {seed}: the peer did not follow"

    before = w.servers()
    victim = rng.choice(list(w.nodes))
    fault = rng.choice(FAULTS)
    {
        "kill": lambda: w.set_mysql(victim, alive=False),
        "freeze": lambda: w.set_mysql(victim, frozen=True),
        "agent": lambda: w.crash_agent(victim),
    }[fault]()
    w.log.append(f"{w.now:7.2f} FAULT {fault} {victim} (paused)")
    end = w.now + 5 * 1.5  # several deadtimes
    restart_at = w.now + rng.uniform(1.0, 4.0)
    while w.now < end:
        w.step()
        if fault == "agent" and not w.nodes[victim].agent_up and w.now >= restart_at:
            w.restart_agent(victim)  # comes back paused, from its state file
            w.log.append(f"{w.now:7.2f} RESTART agent {victim} (paused)")
        assert w.servers() == before, f"seed {seed} t={w.now}: moved while paused\n" + "\n".join(
            w.log[-40:]
        )
    assert all(w.paused()), f"seed {seed}: a node forgot the pause"

    resumer = rng.choice([n for n in w.nodes if w.nodes[n].agent_up])
    w.command(resumer, Command.MAINTENANCE_OFF)
    w.log.append(f"{w.now:7.2f} RESUME on {resumer}")
    end = w.now + 3.0
    while w.now < end and w.paused() != [False, False]:
        w.step()
    assert w.paused() == [False, False], f"seed {seed}: the setting did not converge"
    settle(w, seed, "no single active after resuming")
    if fault in ("kill", "freeze"):
        assert victim not in w.vip_holders(), f"seed {seed}: the failed server keeps the VIP"
        w.set_mysql(victim, alive=True, frozen=False)
        settle(w, seed, "no single active after healing")
