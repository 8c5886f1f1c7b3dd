"""The configuration: one TOML file, the same on both servers, rejected rather than adjusted.

Rule 1: TOML becomes frozen models (``schema``), passed in, never a global.
Rule 2: every error names the file, the line and the key (``loading``).
Rule 3: every rule the agent refuses to start without is a load-time error too, checked by
        the same function (``rules.START_RULES``); a cluster that would flap, never notice
        a failure or let a hung active outlive its lease must not start.

The names below are the package's public face; import them from ``dualbeat.config``.
"""

from __future__ import annotations

from dualbeat.config.fields import Duration, Name, parse_duration
from dualbeat.config.loading import load, loads, local_node, locate
from dualbeat.config.rules import (
    ARBITER_FIX,
    MIN_KEY_BYTES,
    START_RULES,
    SafetyWarning,
    Violation,
    enforce_start_rules,
    lease_margin,
    safety_warnings,
    semisync_timeout,
    short_key,
    start_violations,
)
from dualbeat.config.schema import (
    NODE_ADDRESS,
    WEBHOOK_EVENTS,
    Api,
    ArbiterConfig,
    Check,
    Config,
    Credentials,
    Endpoint,
    Failback,
    FenceConfig,
    Heartbeat,
    Hooks,
    Link,
    Monitor,
    Node,
    PingConfig,
    Replication,
    State,
    Vip,
    WatchdogConfig,
    Webhook,
)

__all__ = [
    "ARBITER_FIX",
    "MIN_KEY_BYTES",
    "NODE_ADDRESS",
    "START_RULES",
    "WEBHOOK_EVENTS",
    "Api",
    "ArbiterConfig",
    "Check",
    "Config",
    "Credentials",
    "Duration",
    "Endpoint",
    "Failback",
    "FenceConfig",
    "Heartbeat",
    "Hooks",
    "Link",
    "Monitor",
    "Name",
    "Node",
    "PingConfig",
    "Replication",
    "SafetyWarning",
    "State",
    "Violation",
    "Vip",
    "WatchdogConfig",
    "Webhook",
    "enforce_start_rules",
    "lease_margin",
    "load",
    "loads",
    "local_node",
    "locate",
    "parse_duration",
    "safety_warnings",
    "semisync_timeout",
    "short_key",
    "start_violations",
]
