"""The chaos schedule: which fault, on what, when and for how long; a pure function of a seed.

Why a separate, pure step: the schedule is printed before anything runs, so a failing run
is reproduced by its seed alone (``--seed S --duration D`` gives the same steps on any
machine), and it is unit-tested without a lab.

A **fault kind** is data (``Kind``): a name, a weight, a hold range and how its targets
are drawn. Targets are either a *role* (``active``/``standby``, resolved when the step
runs, with a pre-drawn node as fallback when no agent says) or a *network cut* over the
lab's hosts: ``db1+client|db2`` (every host on one side cannot reach any host on the
other) or ``db1~db2`` (only that pair is cut, both still reach everyone else). New hosts
(the ``witness``) and new kinds plug in by being listed: ``kinds_for(hosts, arbiter)``.

Classic two-node mode (no arbiter) cannot tell a dead peer from a cut between the two
database hosts while the client still reaches both: that can give two writers, a limit
the arbiter removes. So a cut that separates db1 from db2 while leaving the client on
both sides (``db1~db2``) is only drawn when the lab has an arbiter. Bipartitions put the
client on one side, so at most one database host is reachable by writers.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

ROLES = ("active", "standby")
DB_HOSTS = ("db1", "db2")


@dataclass(frozen=True)
class Kind:
    """A fault kind: ``targets`` is ``"role"``, ``"host"``, ``"split"`` or ``"pair"``."""

    name: str
    weight: float
    targets: str
    hold: tuple[float, float]  # seconds the fault lasts before it is healed
    text: str


KILL_MYSQLD = Kind("kill_mysqld", 3, "role", (2, 8), "kill -9 mysqld; restarted at heal")
FREEZE_MYSQLD = Kind("freeze_mysqld", 3, "role", (2, 12), "SIGSTOP mysqld; SIGCONT at heal")
RESTART_MYSQLD = Kind("restart_mysqld", 2, "role", (1, 5), "mysqld shut down, started at heal")
LINK_DOWN = Kind("link_down", 2, "host", (2, 10), "carrier lost on all the host's links")
PARTITION = Kind("partition", 3, "split", (3, 15), "hosts on one side cannot reach the other")
CUT = Kind("cut", 2, "pair", (3, 15), "two hosts cannot reach each other, others unaffected")
KILL_AGENT = Kind("kill_agent", 2, "role", (1, 6), "kill -9 the agent; restarted at heal")
RESTART_HOST = Kind(
    "restart_host", 2, "role", (3, 10), "kill -9 everything in the host, VIP gone; restarted"
)
ALL_KINDS = (
    KILL_MYSQLD,
    FREEZE_MYSQLD,
    RESTART_MYSQLD,
    LINK_DOWN,
    PARTITION,
    CUT,
    KILL_AGENT,
    RESTART_HOST,
)


@dataclass(frozen=True)
class Step:
    """One fault of the schedule: planned ``start`` (seconds after the writers started)."""

    index: int
    kind: str
    target: str
    fallback: str  # the node used when a role target cannot be resolved
    start: float
    hold: float
    quiet: float  # calm seconds after the pair settled, before the next step

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    def render(self) -> str:
        return (
            f"#{self.index:<3d} t+{self.start:6.1f}s  {self.kind:<15s} {self.target:<18s} "
            f"hold {self.hold:4.1f}s  quiet {self.quiet:4.1f}s"
        )


HOST_ORDER = ("client", "db1", "db2", "witness")  # the sandbox's own order


def canonical(hosts: Sequence[str]) -> list[str]:
    """``hosts`` in one fixed order, so a seed means the same schedule whoever lists them."""
    known = [h for h in HOST_ORDER if h in hosts]
    return known + sorted(set(hosts) - set(HOST_ORDER))


def splits(hosts: Sequence[str]) -> list[str]:
    """Every bipartition of ``hosts`` as ``a+b|c`` (each counted once, sides sorted)."""
    first, rest = hosts[0], list(hosts[1:])
    out = []
    for size in range(len(rest)):  # the side holding ``first`` never holds everyone
        for others in itertools.combinations(rest, size):
            side = [first, *others]
            other = [h for h in hosts if h not in side]
            out.append(f"{'+'.join(side)}|{'+'.join(other)}")
    return out


def pairs(hosts: Sequence[str], *, arbiter: bool) -> list[str]:
    """Host pairs a ``cut`` may separate; ``db1~db2`` only with an arbiter (classic limit)."""
    out = []
    for a, b in itertools.combinations(hosts, 2):
        if {a, b} == set(DB_HOSTS) and not arbiter:
            continue
        out.append(f"{a}~{b}")
    return out


def cut_sides(target: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The (side, side) host groups that cannot talk for a split or pair target."""
    sep = "|" if "|" in target else "~"
    left, right = target.split(sep)
    return [(tuple(left.split("+")), tuple(right.split("+")))]


def separates_db_hosts_with_client_on_both(target: str) -> bool:
    """True for the cut classic mode cannot survive: db1 and db2 apart, the client sees both."""
    return "~" in target and set(target.split("~")) == set(DB_HOSTS)


def targets(kind: Kind, hosts: Sequence[str], *, arbiter: bool) -> list[str]:
    match kind.targets:
        case "role":
            return list(ROLES)
        case "host":
            return [h for h in hosts if h != "client"] + ["client"]
        case "split":
            return splits(hosts)
        case "pair":
            return pairs(hosts, arbiter=arbiter)
    raise ValueError(f"fault kind {kind.name}: unknown target class {kind.targets!r}")


def build(
    seed: int,
    duration: float,
    hosts: Sequence[str],
    *,
    arbiter: bool,
    kinds: Sequence[Kind] = ALL_KINDS,
    warmup: float = 5.0,
    quiet: tuple[float, float] = (3.0, 10.0),
    settle_estimate: float = 6.0,
) -> list[Step]:
    """The steps for ``duration`` seconds; the same for the same arguments, anywhere.

    Planned starts assume each heal settles in ``settle_estimate`` seconds; the run starts
    a step later when the pair takes longer and drops the steps that no longer fit.
    """
    rng = random.Random(seed)
    hosts = canonical(hosts)
    usable = [(k, targets(k, hosts, arbiter=arbiter)) for k in kinds]
    usable = [(k, ts) for k, ts in usable if ts]
    steps: list[Step] = []
    t = warmup
    while True:
        kind, options = rng.choices(usable, weights=[k.weight for k, _ in usable])[0]
        target = rng.choice(options)
        hold = round(rng.uniform(*kind.hold), 1)
        calm = round(rng.uniform(*quiet), 1)
        fallback = rng.choice(DB_HOSTS)
        if t + hold > duration:
            return steps
        steps.append(Step(len(steps) + 1, kind.name, target, fallback, round(t, 1), hold, calm))
        t += hold + settle_estimate + calm
