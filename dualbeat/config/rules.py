"""Safety rules across sections: errors the agent refuses to start with, and warnings.

Rule 1: every rule the agent enforces at start is a function here: the cross-section ones
        in ``START_RULES``, which ``load`` runs (so ``check-config`` reports them with the
        file line) and the agent runs again on the ``Config`` it is given; the one on the
        heartbeat key's length (``short_key``), which ``load`` applies to the file's size
        and the agent to the bytes it reads.
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

    key: tuple[str | int, ...]  # a TOML path; an int indexes an array of tables
    message: str

    @property
    def dotted(self) -> str:
        return ".".join(str(part) for part in self.key)


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


MIN_KEY_BYTES = 16


def short_key(size: int) -> str | None:
    """Why a heartbeat key of ``size`` bytes is refused, or None: HMAC-SHA256 over a short
    key can be guessed."""
    if size >= MIN_KEY_BYTES:
        return None
    return (
        f"holds {size} bytes; a heartbeat key needs at least {MIN_KEY_BYTES} "
        "(make one with: head -c 32 /dev/urandom > FILE)"
    )


def vip_is_ipv4(config: Config) -> Violation | None:
    """The VIP manager announces with ARP: an IPv6 VIP would need neighbour discovery and
    its duplicate-address rules, which it does not speak (``VipManager`` refuses one)."""
    if config.vip is None or config.vip.address.version == 4:
        return None
    return Violation(("vip", "address"), "IPv6 VIPs are not supported yet; use an IPv4 address")


def links_one_ip_version(config: Config) -> Violation | None:
    """Both ends of a heartbeat link speak one IP version: a socket has one family. Without
    ``[[heartbeat.links]]`` the link is the node addresses."""
    for index, link in enumerate(config.heartbeat_links()):
        a, b = (link.addresses[n.name] for n in config.nodes)
        if a.version != b.version:
            key: tuple[str | int, ...] = (
                ("heartbeat", "links", index, "addresses")
                if config.heartbeat.links
                else ("nodes", 1, "address")
            )
            return Violation(
                key, f"heartbeat link {link.name!r}: {a} and {b} are not the same IP version"
            )
    return None


#: Every rule the agent refuses to start without, in the order they are reported.
START_RULES: tuple[Callable[[Config], Violation | None], ...] = (
    watchdog_within_lease,
    vip_is_ipv4,
    links_one_ip_version,
)


def start_violations(config: Config) -> list[Violation]:
    """The start rules ``config`` breaks, in ``START_RULES`` order."""
    return [v for rule in START_RULES if (v := rule(config)) is not None]


def enforce_start_rules(config: Config) -> None:
    """The agent's check at start: ``ConfigError`` naming the file and key of each rule broken."""
    violations = start_violations(config)
    if violations:
        raise ConfigError(
            "\n".join(f"{config.source}: {v.dotted}: {v.message}" for v in violations)
        )


@dataclass(frozen=True)
class SafetyWarning:
    """A valid configuration under which a known fault can still give two writers, or
    leave a node fenced for an operator where it could have healed by itself."""

    section: str
    risk: str
    fix: str


ARBITER_FIX = (
    'add an [arbiter] section pointing at an etcd cluster (kind = "etcd", endpoints = '
    "[...]); see docs/operations.md 'Arbiter, ping nodes, watchdog, fence'"
)


def least_semisync_timeout(config: Config) -> float:
    """The shortest semi-sync timeout under which the agent, not the server, releases the
    commits waiting for the acknowledgement of a peer fallen silent: deadtime (the
    verdict), two probe intervals (the last probe that saw nothing waiting may be one
    old when the commit came, and one more may catch an acknowledgement in flight) and
    half a second for the verdict to reach the gate. A server that times out first
    answers those commits while this node may be the one cut off, and the node is
    fenced for them after the heal (``SetSemiSync.behind_gate``)."""
    return config.heartbeat.deadtime + 2 * config.monitor.interval + 0.5


def semisync_timeout(config: Config) -> float:
    """The semi-sync timeout the agent gives the servers: ``[replication]
    semisync_timeout``, or by default the least that lets the agent release (above)."""
    given = config.replication.semisync_timeout
    return least_semisync_timeout(config) if given is None else given


def safety_warnings(config: Config) -> list[SafetyWarning]:
    """What ``check-config`` and ``repl check`` warn about; pure, in a fixed order."""
    a, b = (n.name for n in config.nodes)
    warnings = []
    given, least = config.replication.semisync_timeout, least_semisync_timeout(config)
    if config.replication.semisync and given is not None and given < least:
        warnings.append(
            SafetyWarning(
                "replication",
                f"semisync_timeout ({given:g}s) is shorter than {least:g}s "
                "(heartbeat.deadtime + 2 x monitor.interval + 0.5s): when the active is cut "
                "off, the server answers a commit that waits for the standby's "
                "acknowledgement before the agent can shut its client gate, and after the "
                "heal the node is fenced for that commit until an operator runs rejoin",
                f'set [replication] semisync_timeout = "{least:g}s" or more, or leave it '
                "out (that is its default)",
            )
        )
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
