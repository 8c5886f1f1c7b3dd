"""Which server dualbeat talks to: the flavour and version parsed from ``@@version``.

A version outside what dualbeat supports is refused here, once, so no caller ever sends
a statement the server does not know.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from dualbeat.errors import UsageError

__all__ = ["SUPPORTED", "Flavor", "ServerVersion"]

SUPPORTED = "MariaDB 10.6 or later, and MySQL 5.7, 8.0, 8.4 or later"

_VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")
# MariaDB 10+ prefixes its handshake version with "5.5.5-" for clients and replicas that
# read a one-digit major version; PyMySQL's ``server_version`` keeps it, ``@@version`` not.
_HANDSHAKE_PREFIX_RE = re.compile(r"^5\.5\.5-(?=\d+\.\d+\.\d+)")


class Flavor(enum.Enum):
    MARIADB = "mariadb"
    MYSQL = "mysql"


@dataclass(frozen=True)
class ServerVersion:
    """A supported server version; ``raw`` is the string the server reported."""

    flavor: Flavor
    major: int
    minor: int
    patch: int
    raw: str

    @classmethod
    def parse(cls, version: str, version_comment: str = "") -> ServerVersion:
        """Parse ``@@version`` (plus ``@@version_comment`` as a flavour hint).

        Raises ``UsageError`` for a version that cannot be read or is not supported: the
        tool would otherwise issue statements the server does not know.
        """
        raw = version.strip()
        is_mariadb = "mariadb" in raw.lower() or "mariadb" in version_comment.lower()
        text = _HANDSHAKE_PREFIX_RE.sub("", raw, count=1) if is_mariadb else raw
        match = _VERSION_RE.match(text)
        if match is None:
            raise UsageError(
                f"cannot read the server version {raw!r}: expected it to start with "
                f"MAJOR.MINOR.PATCH; dualbeat supports {SUPPORTED}"
            )
        major, minor, patch = (int(part) for part in match.groups())
        flavor = Flavor.MARIADB if is_mariadb else Flavor.MYSQL
        parsed = cls(flavor, major, minor, patch, raw)
        minimum = (10, 6) if is_mariadb else (5, 7)
        if (major, minor) < minimum:
            raise UsageError(
                f"{parsed} (server reports {raw!r}) is not supported: dualbeat supports {SUPPORTED}"
            )
        return parsed

    def at_least(self, major: int, minor: int = 0, patch: int = 0) -> bool:
        return (self.major, self.minor, self.patch) >= (major, minor, patch)

    def __str__(self) -> str:
        name = "MariaDB" if self.flavor is Flavor.MARIADB else "MySQL"
        return f"{name} {self.major}.{self.minor}.{self.patch}"
