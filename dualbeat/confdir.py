"""The configuration directory ``dualbeat init DIR`` creates on the first server.

Why a directory and not one file: a working pair needs the configuration, ONE heartbeat
key shared by both servers and the password files of three MySQL accounts, all private.
A new user who makes them by hand gets two different keys (every heartbeat then fails its
signature) or world-readable password files (``check-config`` refuses them). So ``init``
makes all of them, 0600 in a 0700 directory, and the next steps say to copy that one
directory to the other server.

Secrets are never overwritten, not even with ``--force``: running ``init`` again on the
second server after copying must not replace the key the first one uses.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from dualbeat.errors import UsageError

#: Where the example configuration expects its files; ``init`` rewrites it to DIR.
EXAMPLE_DIR = "/etc/dualbeat"
CONFIG = "dualbeat.toml"
KEY = "heartbeat.key"
#: Password files of the example's accounts: the agent's, replication's, and the admin
#: account ``repl setup`` uses to create the other two.
PASSWORDS = ("mysql.pass", "repl.pass", "admin.pass")
KEY_BYTES = 32


@dataclass(frozen=True)
class Created:
    """What ``init`` did: files it wrote, and files that were there and stay as they are."""

    directory: Path
    written: tuple[Path, ...]
    kept: tuple[Path, ...]

    @property
    def config(self) -> Path:
        return self.directory / CONFIG


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` 0600 from the start (no window in which others could read it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def example_config(directory: Path) -> str:
    """The commented example, its file paths pointing into ``directory``."""
    text = resources.files("dualbeat").joinpath("example.toml").read_text()
    return text.replace(f'"{EXAMPLE_DIR}/', f'"{directory}/')


def create(directory: Path, *, force: bool = False) -> Created:
    """Create ``directory`` (0700) with the example configuration, a random heartbeat key
    and random passwords (each 0600). An existing configuration is kept unless ``force``;
    an existing key or password file is always kept."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory")
    directory = directory.absolute()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    written: list[Path] = []
    kept: list[Path] = []
    config = directory / CONFIG
    if config.exists() and not force:
        kept.append(config)
    else:
        config.unlink(missing_ok=True)
        _write_private(config, example_config(directory).encode())
        written.append(config)
    secrets_: dict[str, bytes] = {KEY: secrets.token_bytes(KEY_BYTES)}
    for name in PASSWORDS:
        secrets_[name] = secrets.token_urlsafe(24).encode()
    for name, data in secrets_.items():
        path = directory / name
        if path.exists():
            kept.append(path)
        else:
            _write_private(path, data)
            written.append(path)
    return Created(directory, tuple(written), tuple(kept))


def next_steps(created: Created) -> str:
    """What to do after ``init``, in order; the README's quick start follows the same."""
    d = created.directory
    return f"""\
Next steps:
  1. Edit {d / CONFIG}: the node names and addresses, [vip] and its interface.
  2. The passwords in {d}/mysql.pass and repl.pass are random: `repl setup
     --create-agent-user` creates those accounts with them. admin.pass is for the [admin]
     account that may create users: put its password there, or create it with this one.
  3. Copy this directory to the other server. Both need the SAME heartbeat key:
       scp -rp {d}/. OTHER-SERVER:{d}/
  4. On both servers: dualbeat check-config {d / CONFIG}
  5. From one server: dualbeat repl setup --create-agent-user
  6. On both servers: systemctl enable --now dualbeat"""
