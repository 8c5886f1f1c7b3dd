"""Two real cores under a fake clock, a lossy network and faults, over many seeds.

Classic two-node mode (no arbiter), so no partitions here: the faults are the ones the
agent issue handles (MySQL crash, freeze, agent crash). After every step: never two
servers writable with the VIP, never the VIP on both, epochs never go back; after the
faults end, one writable active with the VIP and the other standing by (or fenced).
"""

from __future__ import annotations

import os

from tests.unit.sim import World, assert_seeds_pass

# `make sim` runs more; a failing seed reruns alone with DUALBEAT_SIM_SEED (see test_seeds).
SEEDS = range(int(os.environ.get("DUALBEAT_SIM_CLASSIC_SEEDS", "200")))
FAULTS = ("kill", "freeze", "agent")


def run(seed: int) -> World:
    w = World(seed)
    rng = w.rng
    while w.now < 5.0:  # start-up (initdead 3 s) and settling
        w.step()
    assert w.settled(), f"seed {seed}: not settled at start\n" + "\n".join(w.log[-30:])
    epochs = {n: w.nodes[n].disk.epoch for n in w.nodes}
    for _ in range(rng.randint(1, 3)):
        victim = (
            next(n for n in w.nodes if w.nodes[n].state.role.value == "active")
            if rng.random() < 0.8
            else rng.choice(list(w.nodes))
        )
        fault = rng.choice(FAULTS)
        start = w.now + rng.uniform(0.5, 3.0)
        hold = rng.uniform(0.5, 6.0)
        while w.now < start:
            check(w, seed, epochs)
        if fault == "kill":
            w.set_mysql(victim, alive=False)
        elif fault == "freeze":
            w.set_mysql(victim, frozen=True)
        else:
            w.crash_agent(victim)
        w.log.append(f"{w.now:7.2f} FAULT {fault} {victim}")
        while w.now < start + hold:
            check(w, seed, epochs)
        if fault == "kill":
            w.set_mysql(victim, alive=True)
        elif fault == "freeze":
            w.set_mysql(victim, frozen=False)
        else:
            w.restart_agent(victim)
        w.log.append(f"{w.now:7.2f} HEAL {fault} {victim}")
        end = w.now + 15.0
        while w.now < end and not w.settled():
            check(w, seed, epochs)
        assert w.settled(), f"seed {seed}: no single active after healing\n" + "\n".join(
            w.log[-40:]
        )
    return w


def check(w: World, seed: int, epochs: dict[str, int]) -> None:
    w.step()
    problem = ""
    if len(w.writers()) > 1:
        problem = f"two writers {w.writers()}"
    elif len(w.acknowledging()) > 1:
        problem = f"two servers acknowledging writes {w.acknowledging()}"
    elif len(w.vip_holders()) > 1:
        problem = "VIP on both"
    for name, node in w.nodes.items():
        if node.disk.epoch < epochs[name]:
            problem = f"{name}'s epoch went back"
        epochs[name] = node.disk.epoch
    if problem:
        raise AssertionError(f"seed {seed} t={w.now}: {problem}\n" + "\n".join(w.log[-40:]))


def _one(seed: int) -> str | None:
    try:
        run(seed)
    except AssertionError as exc:
        return str(exc).splitlines()[0]
    return None


def test_seeds() -> None:
    """All seeds in a process pool; a failure names the command that replays its seed."""
    assert_seeds_pass(_one, SEEDS, "tests/unit/test_core_simulation.py")


def test_replay() -> None:
    """One seed alone (DUALBEAT_SIM_SEED, default 0), with its event log on failure."""
    run(int(os.environ.get("DUALBEAT_SIM_SEED", "0")))
