"""A statement as dualbeat sends it, and the checks that keep values out of its text.

Values (host names, passwords, GTID sets) always travel in ``Statement.args`` and are
escaped by the driver; only identifiers validated here or constants of the ``mysql``
package are part of ``Statement.sql``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["Statement", "check_endpoint", "identifier", "placeholders", "seconds"]

_IDENTIFIER_RE = re.compile(r"[a-z0-9_]{1,64}")


@dataclass(frozen=True)
class Statement:
    """SQL text plus the arguments PyMySQL escapes into it client-side.

    ``args`` is left out of ``repr`` because it may hold a replication password.
    """

    sql: str
    args: tuple[object, ...] = field(default=(), repr=False)


def identifier(name: str) -> str:
    if not isinstance(name, str) or _IDENTIFIER_RE.fullmatch(name) is None:
        raise ValueError(f"not a system variable name: {name!r} (expected [a-z0-9_]+)")
    return name


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def seconds(value: float, what: str, maximum: float | None = None) -> Decimal:
    """Seconds as a millisecond-precision Decimal: PyMySQL writes it as a plain literal
    (``1.500``) where a float would become ``1.5e0``."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{what} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0 or (maximum is not None and value > maximum):
        raise ValueError(f"{what} out of range: {value!r}")
    return Decimal(value).quantize(Decimal("0.001"))


def check_endpoint(host: str, port: int, user: str, connect_retry: int) -> None:
    if not host or any(ch in host for ch in "\0\n\r"):
        raise ValueError(f"invalid replication source host {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"invalid replication source port {port!r}")
    if not user:
        raise ValueError("replication user must not be empty")
    if isinstance(connect_retry, bool) or not isinstance(connect_retry, int) or connect_retry < 1:
        raise ValueError(f"connect_retry must be a positive integer, got {connect_retry!r}")
