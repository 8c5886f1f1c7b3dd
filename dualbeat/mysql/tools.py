"""The server family's own command-line clients (``mariadb-binlog``, ``mariadb-dump``,
``mariadb``; MySQL's ``mysqlbinlog``, ``mysqldump``, ``mysql``), found and given a
password safely.

Why the tools and not our own protocol code: they speak every event version, column type
and dump detail of their own server family. The password goes to them in a temporary
option file (``--defaults-extra-file``, mode 600, removed afterwards), never on their
command line, where ``ps`` would show it; the option file must be their first argument.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dualbeat.errors import UsageError
from dualbeat.mysql.connection import Endpoint
from dualbeat.mysql.dialect import Flavor

__all__ = ["connection_args", "find_tool", "option_file"]

_SEARCH = "/usr/bin:/usr/local/bin:/usr/sbin:/usr/local/sbin:/bin:/sbin"
_TOOLS = {
    "binlog": {Flavor.MARIADB: ("mariadb-binlog", "mysqlbinlog"), Flavor.MYSQL: ("mysqlbinlog",)},
    "dump": {Flavor.MARIADB: ("mariadb-dump", "mysqldump"), Flavor.MYSQL: ("mysqldump",)},
    "client": {Flavor.MARIADB: ("mariadb", "mysql"), Flavor.MYSQL: ("mysql",)},
}


def find_tool(kind: str, flavor: Flavor, purpose: str) -> str:
    """The path of the ``kind`` tool (binlog, dump, client) for ``flavor``; a
    ``UsageError`` naming the package when it is missing. ``purpose`` says what for."""
    for name in _TOOLS[kind][flavor]:
        path = shutil.which(name) or shutil.which(name, path=_SEARCH)
        if path:
            return path
    package = "mariadb-client" if flavor is Flavor.MARIADB else "mysql-client"
    raise UsageError(
        f"{' or '.join(_TOOLS[kind][flavor])} not found: {purpose}; "
        f"install {package} (the same major version as the server)"
    )


def _option_value(password: str) -> str:
    """A password as a double-quoted option-file value (backslash escapes are read)."""
    escaped = password.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


@contextmanager
def option_file(endpoint: Endpoint) -> Iterator[Path]:
    """A private ``[client]`` option file holding ``endpoint``'s password, for the
    duration of the block."""
    fd, name = tempfile.mkstemp(prefix="dualbeat-client-", suffix=".cnf")
    path = Path(name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"[client]\npassword={_option_value(endpoint.password)}\n")
        yield path
    finally:
        path.unlink(missing_ok=True)


def connection_args(endpoint: Endpoint, options: Path, flavor: Flavor) -> list[str]:
    """The option file, then where and as whom to connect."""
    where = (
        [f"--socket={endpoint.unix_socket}"]
        if endpoint.unix_socket
        else [f"--host={endpoint.host}", f"--port={endpoint.port}"]
    )
    extra = ["--get-server-public-key"] if flavor is Flavor.MYSQL else []
    return [f"--defaults-extra-file={options}", *where, f"--user={endpoint.user}", *extra]
