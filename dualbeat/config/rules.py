"""Safety rules across sections: errors the agent refuses to start with, and warnings.

Rule 1: every rule the agent enforces at start is a function here, in ``START_RULES``;
        ``load`` runs them all (so ``check-config`` reports them with the file line) and
        the agent runs the same functions again on the ``Config`` it is given.
Rule 2: a warning is a valid configuration under which a known fault can still give two
        writers; ``check-config`` and ``repl check`` print them, nothing refuses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dualbeat.config.schema import Config
from dualbeat.errors import ConfigError


@dataclass(frozen=True)
class Violation:
    """A start rule broken: the key to blame (a TOML path) and why it is refused."""

    key: tuple[str, ...]
    message: str


def lease_margin(ttl: float) -> float:
    """How long before the last vote ends the active demotes: half a renewal period (ttl/6),
    at most 0.5 s; room for read-only, killing sessions and releasing the VIP."""
    return min(0.5, ttl / 6)


def watchdog_within_lease(config: Config) -> Violation | None:
    """With an arbiter, the watchdog must fire before the active's lease (less the margin)
    ends: the agent kicks only while its lease outlasts the timeout, so a hung agent's host
    is reset before the peer may take over."""
    arbiter, watchdog = config.arbiter, config.watchdog
    if arbiter is None or not watchdog.enabled:
        return None
    margin = lease_margin(arbiter.ttl)
    if watchdog.timeout < arbiter.ttl - margin:
        return None
    return Violation(
        ("watchdog", "timeout"),
        f"watchdog.timeout ({watchdog.timeout:g}s) must be shorter than arbiter.ttl "
        f"({arbiter.ttl:g}s) minus {margin:g}s: the agent kicks the watchdog only while its "
        "lease outlasts the timeout, so a hung agent is reset before the peer may take over",
    )


#: Every rule the agent refuses to start without, in the order they are reported.
START_RULES: tuple[Callable[[Config], Violation | None], ...] = (watchdog_within_lease,)


def start_violations(config: Config) -> list[Violation]:
    """The start rules ``config`` breaks, in ``START_RULES`` order."""
    return [v for rule in START_RULES if (v := rule(config)) is not None]


def enforce_start_rules(config: Config) -> None:
    """The agent's check at start: ``ConfigError`` naming the file and key of each rule broken."""
    violations = start_violations(config)
    if violations:
        raise ConfigError(
            "\n".join(f"{config.source}: {'.'.join(v.key)}: {v.message}" for v in violations)
        )


@dataclass(frozen=True)
class SafetyWarning:
    """A valid configuration under which a known fault can still give two writers."""

    section: str
    risk: str
    fix: str


ARBITER_FIX = (
    'add an [arbiter] section pointing at an etcd cluster (kind = "etcd", endpoints = '
    "[...]); see README 'Arbiter, ping nodes, watchdog, fence'"
)


def safety_warnings(config: Config) -> list[SafetyWarning]:
    """What ``check-config`` and ``repl check`` warn about; pure, in a fixed order."""
    a, b = (n.name for n in config.nodes)
    warnings = []
    if config.arbiter is None:
        warnings += [
            SafetyWarning(
                "arbiter",
                f"classic two-node mode: a partition between {a} and {b} while both stay "
                "alive gives two writers (each sees the other dead and the standby takes "
                "over while the old active still serves the clients that reach it) until "
                "the partition heals",
                ARBITER_FIX,
            ),
            SafetyWarning(
                "arbiter",
                "classic two-node mode: an active paused longer than deadtime (VM freeze, "
                "SIGSTOP, a stalled disk) is replaced; when it resumes it still holds the "
                "VIP and a writable MySQL until it hears its peer: two writers meanwhile",
                ARBITER_FIX,
            ),
        ]
    return warnings
