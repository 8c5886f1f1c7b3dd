"""Roles a node can hold; the transition table lives beside them (see ``transitions``)."""

from __future__ import annotations

import enum


class Role(enum.Enum):
    """What a node is doing. Only ``ACTIVE`` is writable and holds the VIP.

    ``STARTING`` is the initdead wait: read-only, no VIP, listening for the peer.
    ``FENCED`` is read-only, no VIP and not replicating from the active: it waits for an
    operator or for the lost-writes analysis before it may become a standby again.
    """

    STARTING = "starting"
    ACTIVE = "active"
    STANDBY = "standby"
    FENCED = "fenced"


class Health(enum.Enum):
    """The local MySQL as the monitor judges it after alert_after / rise.

    ``MISCONFIGURED`` (access denied and the like) is our mistake: a loud alarm, never a
    reason to fail over. ``BUSY`` (too many connections) is alive: no failover either.
    """

    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    FAILED = "failed"
    BUSY = "busy"
    MISCONFIGURED = "misconfigured"
