"""Loading: TOML text -> a validated ``Config``, or one ``ConfigError`` naming file, key, line.

``tomllib`` keeps no line numbers, so ``locate`` finds the line of a key path in the source
text itself. After the schema, the cross-section rules of ``rules`` run (the same functions
the agent runs at start), then the files the config names are checked.
"""

from __future__ import annotations

import re
import shutil
import stat
import tomllib
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from dualbeat.config.rules import short_key, start_violations
from dualbeat.config.schema import Config, Node
from dualbeat.errors import ConfigError


def locate(text: str, path: Sequence[str | int]) -> int | None:
    """The 1-based line where the TOML key ``path`` is set, or its nearest enclosing table.

    Understands ``[table]``, ``[[array.of.tables]]`` (counting entries) and ``key = value``
    lines, which is what our schema uses; inline tables are found by key name on the line.
    """
    keys = [p for p in path if isinstance(p, str)]
    indexes = [p for p in path if isinstance(p, int)]
    best: int | None = None
    header: list[str] = []
    seen: dict[tuple[str, ...], int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if m := re.match(r"^\[\[\s*([^\]]+?)\s*\]\]$", line):
            header = [h.strip() for h in m.group(1).split(".")]
            seen[tuple(header)] = seen.get(tuple(header), -1) + 1
        elif m := re.match(r"^\[\s*([^\]]+?)\s*\]$", line):
            header = [h.strip() for h in m.group(1).split(".")]
        elif m := re.match(r"^([A-Za-z0-9_.\"-]+)\s*=", line):
            full = header + [k.strip().strip('"') for k in m.group(1).split(".")]
            if not _same_entry(header, indexes, seen):
                continue
            if full == keys[: len(full)] or (
                full[:-1] == keys[: len(full) - 1]
                and re.search(rf"\b{re.escape(keys[-1])}\s*=", line)
            ):
                best = lineno
                if full == keys:
                    return lineno
            continue
        else:
            continue
        if header == keys[: len(header)] and _same_entry(header, indexes, seen):
            best = lineno
    return best


def _same_entry(header: list[str], indexes: list[int], seen: dict[tuple[str, ...], int]) -> bool:
    """Whether the current array-of-tables entry is the one the error path points into."""
    for depth in range(1, len(header) + 1):
        count = seen.get(tuple(header[:depth]))
        if count is not None and indexes:
            return count == indexes[0]
    return True


def _format_errors(source: Path, text: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = [p for p in e["loc"] if not (isinstance(p, str) and "[" in p)]
        key = ".".join(str(p) for p in loc) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see `dualbeat init` for every key)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        line = locate(text, loc) if loc else None
        lines.append(f"{source}:{line or 1}: {key}: {msg}")
    return "\n".join(lines)


def load(path: Path | str) -> Config:
    """Read, validate and return the configuration, or raise ``ConfigError``."""
    source = Path(path)
    try:
        text = source.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{source}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    return loads(text, source)


def loads(text: str, source: Path = Path("<memory>")) -> Config:
    """Validate TOML ``text`` read from ``source`` (named in every error)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"{source}:{m.group(1) if m else 1}: not valid TOML: {exc}") from None
    try:
        config = Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, text, exc)) from None
    violations = start_violations(config)
    if violations:
        raise ConfigError(
            "\n".join(
                f"{source}:{locate(text, v.key) or 1}: {v.dotted}: {v.message}" for v in violations
            )
        )
    _check_files(config, text)
    return config


def _check_files(config: Config, text: str) -> None:
    """Files named in the config must exist, and secrets must not be readable by others."""
    secrets: list[tuple[tuple[str, ...], Path | None]] = [
        (("heartbeat", "key_file"), config.heartbeat.key_file),
        (("mysql", "password_file"), config.mysql.password_file),
        (("replication", "password_file"), config.replication.password_file),
        (("admin", "password_file"), config.admin.password_file if config.admin else None),
        (("api", "token_file"), config.api.token_file if config.api else None),
        (("api", "tls_key"), config.api.tls_key if config.api else None),
        *((("webhooks", "secret_file"), hook.secret_file) for hook in config.webhooks),
        (("arbiter", "key_file"), config.arbiter.key_file if config.arbiter else None),
        (("arbiter", "password_file"), config.arbiter.password_file if config.arbiter else None),
    ]
    for key, path in secrets:
        if path is None:
            continue
        where = f"{config.source}:{locate(text, key) or 1}: {'.'.join(key)}"
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ConfigError(f"{where}: file {path} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {path}: {exc.strerror}") from None
        except ValueError:  # a NUL byte: no file system accepts the name
            raise ConfigError(f"{where}: {str(path)!r} is not a valid file name") from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{where}: {path} is accessible by group or others (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}"
            )
        if key == ("heartbeat", "key_file") and (why := short_key(st.st_size)):
            raise ConfigError(f"{where}: {path} {why}")
        if key in (("api", "token_file"), ("webhooks", "secret_file")) and (
            len(path.read_bytes().strip()) < 16
        ):
            raise ConfigError(
                f"{where}: {path} holds a secret shorter than 16 characters (make one with: "
                "head -c 24 /dev/urandom | base64 > FILE)"
            )
    public = [
        (("api", "tls_cert"), config.api.tls_cert if config.api else None),
        (("arbiter", "ca_file"), config.arbiter.ca_file if config.arbiter else None),
        (("arbiter", "cert_file"), config.arbiter.cert_file if config.arbiter else None),
    ]
    for key, cert in public:
        if cert is not None and not cert.is_file():
            line = locate(text, key) or 1
            raise ConfigError(
                f"{config.source}:{line}: {'.'.join(key)}: file {cert} does not exist"
            )
    hooks = config.hooks
    for name in ("role_change", "failover", "fence", "pre_promote"):
        hook: Path | None = getattr(hooks, name)
        if hook is not None and not hook.is_file():
            line = locate(text, ("hooks", name)) or 1
            raise ConfigError(f"{config.source}:{line}: hooks.{name}: file {hook} does not exist")
    argv = config.fence.argv()
    if argv and shutil.which(argv[0]) is None:
        line = locate(text, ("fence", "command")) or 1
        raise ConfigError(
            f"{config.source}:{line}: fence.command: {argv[0]} is not an executable file "
            "(give its absolute path, or a program on PATH)"
        )


def local_node(config: Config, local_addresses: set[str], name: str | None = None) -> Node:
    """Which node this host is: the one named, checked, or the one whose address is local."""
    if name is not None:
        node = config.node(name)
        if str(node.address) not in local_addresses:
            raise ConfigError(
                f"{config.source}: node {name!r} has address {node.address}, which is not "
                f"an address of this host (local: {', '.join(sorted(local_addresses)) or 'none'})"
            )
        return node
    mine = [n for n in config.nodes if str(n.address) in local_addresses]
    if len(mine) != 1:
        listed = ", ".join(f"{n.name}={n.address}" for n in config.nodes)
        what = "none" if not mine else "both"
        raise ConfigError(
            f"{config.source}: {what} of the nodes ({listed}) match an address of this host "
            f"(local: {', '.join(sorted(local_addresses)) or 'none'}); fix nodes.address "
            "or pass --node NAME"
        )
    return mine[0]
