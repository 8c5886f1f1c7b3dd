"""The configuration: one TOML file, the same on both servers, rejected rather than adjusted.

Why pydantic: it gives typed, frozen models with per-field errors that carry the key path,
which ``ConfigError`` turns into ``FILE:LINE: key.path: message``. ``tomllib`` keeps no line
numbers, so ``locate`` finds the line of a key path in the source text itself.

Cross-field timing rules (deadtime against keepalive, probe timeouts against the interval)
fail at load: a cluster that would flap or never notice a failure must not start.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import shutil
import stat
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dualbeat.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds from a number (seconds) or a string such as ``"200ms"``, ``"1.5s"``, ``"2m"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 200ms or 1.5s, not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        raise ValueError(f"expected a duration such as 200ms or 1.5s, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Credentials(_Model):
    """A MySQL account: the password inline or, better, in a file readable only by root."""

    user: str
    password: str | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _one_password(self) -> Credentials:
        if (self.password is None) == (self.password_file is None):
            raise ValueError("give exactly one of 'password' or 'password_file'")
        return self

    def secret(self) -> str:
        """The password, read from its file at call time so a rotated file is picked up."""
        if self.password is not None:
            return self.password
        assert self.password_file is not None
        return self.password_file.read_text().rstrip("\r\n")


class Node(_Model):
    name: Name
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    mysql_host: str | None = None
    mysql_port: int = Field(3306, ge=1, le=65535)
    mysql_socket: Path | None = None
    state_dir: Path | None = None

    @property
    def mysql_address(self) -> str:
        return self.mysql_host or str(self.address)


class Vip(_Model):
    address: ipaddress.IPv4Interface | ipaddress.IPv6Interface
    interface: str = Field(pattern=r"^[A-Za-z0-9_.:@-]{1,15}$")
    arp_count: int = Field(3, ge=0, le=100)
    arp_refresh: Duration = 5.0


class Link(_Model):
    name: Name
    addresses: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address]


class Heartbeat(_Model):
    key_file: Path
    port: int = Field(6940, ge=1, le=65535)
    keepalive: Duration = 0.2
    warntime: Duration = 0.6
    deadtime: Duration = 1.5
    initdead: Duration = 10.0
    links: tuple[Link, ...] = ()

    @model_validator(mode="after")
    def _timings(self) -> Heartbeat:
        if self.deadtime < 2 * self.keepalive:
            raise ValueError(
                f"deadtime ({self.deadtime:g}s) must be at least 2 x keepalive "
                f"({self.keepalive:g}s), or one lost datagram declares the peer dead"
            )
        if not self.keepalive < self.warntime < self.deadtime:
            raise ValueError(
                f"need keepalive < warntime < deadtime, got {self.keepalive:g}s, "
                f"{self.warntime:g}s, {self.deadtime:g}s"
            )
        if self.initdead < self.deadtime:
            raise ValueError(
                f"initdead ({self.initdead:g}s) must be at least deadtime ({self.deadtime:g}s): "
                "a booting peer needs longer than a running one"
            )
        return self


class Check(_Model):
    """An extra monitor command, as Mon's monitors: exit code 0 means healthy."""

    name: Name
    command: str = Field(min_length=1)
    timeout: Duration = 1.0


class Monitor(_Model):
    interval: Duration = 0.2
    alert_after: int = Field(3, ge=1, le=100)
    rise: int = Field(2, ge=1, le=100)
    connect_timeout: Duration = 0.15
    query_timeout: Duration = 0.15
    checks: tuple[Check, ...] = ()

    @model_validator(mode="after")
    def _timeouts(self) -> Monitor:
        for name in ("connect_timeout", "query_timeout"):
            value = getattr(self, name)
            if value > self.interval:
                raise ValueError(
                    f"{name} ({value:g}s) must not exceed interval ({self.interval:g}s): "
                    "a probe must finish before the next one is due"
                )
        return self


class Hooks(_Model):
    timeout: Duration = 5.0
    role_change: Path | None = None
    failover: Path | None = None
    fence: Path | None = None
    pre_promote: Path | None = None
    pre_promote_can_veto: bool = False


class Replication(Credentials):
    connect_retry: int = Field(1, ge=1, le=3600)
    heartbeat_period: Duration = 1.0
    max_lag: Duration = 30.0
    semisync: bool = True
    semisync_timeout: Duration = 1.0
    apply_timeout: Duration = 5.0
    # MariaDB: the GTID domain of the first node's own writes (schema, epoch row); the
    # second node uses the next one (``Config.internal_domain``, ``mysql.internal``).
    internal_domain_id: int = Field(9000, ge=0, le=2**32 - 2)


class Failback(_Model):
    """HeartBeat's ``auto_failback``: the first ``[[nodes]]`` entry is the preferred node."""

    auto: bool = False
    holddown: Duration = 60.0
    min_interval: Duration = 600.0

    @model_validator(mode="after")
    def _sane(self) -> Failback:
        if self.holddown <= 0:
            raise ValueError(
                "holddown must be positive: it is how long the preferred node must be healthy first"
            )
        if self.min_interval < self.holddown:
            raise ValueError("min_interval must be at least holddown, or flapping is not prevented")
        return self


class State(_Model):
    dir: Path = Path("/var/lib/dualbeat")


#: In ``[api].bind``, stands for this node's own ``nodes.address``.
NODE_ADDRESS = "node"


class Api(_Model):
    """The agent's HTTP API: health checks for load balancers, status, actions, metrics.

    ``bind`` names addresses to listen on; ``"node"`` is this node's own address, so one
    file serves both servers. Actions need ``Authorization: Bearer <token>`` with the
    token from ``token_file``; without a token file every action is refused.
    """

    bind: tuple[str, ...] = ("127.0.0.1", NODE_ADDRESS)
    port: int = Field(8008, ge=1, le=65535)
    token_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    action_timeout: Duration = 15.0

    @field_validator("bind")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('give at least one address (e.g. ["127.0.0.1", "node"])')
        for address in value:
            if address != NODE_ADDRESS:
                ipaddress.ip_address(address)  # ValueError names the bad one
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Api:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both 'tls_cert' and 'tls_key', or neither")
        return self

    def addresses(self, node: Node) -> list[str]:
        """The addresses to bind on ``node``, in order, without repeats."""
        resolved = [str(node.address) if a == NODE_ADDRESS else a for a in self.bind]
        return list(dict.fromkeys(resolved))


WEBHOOK_EVENTS = (
    "failover",
    "switchover",
    "fence",
    "rejoin_needed",
    "replication_broken",
    "semisync_fell_back",
    "split_brain_risk",
)


class Webhook(_Model):
    """An HTTP endpoint that receives the JSON of chosen events (POST), with retries."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]
    events: tuple[str, ...] = WEBHOOK_EVENTS
    timeout: Duration = 2.0
    retries: int = Field(3, ge=0, le=20)

    @field_validator("events")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(WEBHOOK_EVENTS))
        if unknown:
            raise ValueError(f"unknown event(s) {unknown}; known: {list(WEBHOOK_EVENTS)}")
        return value


def _whole_seconds(name: str, value: float) -> None:
    if value != int(value):
        raise ValueError(f"{name} must be a whole number of seconds, got {value:g}s")


def _endpoint(value: object) -> str:
    """An etcd client URL: ``http(s)://host:port`` with no path, normalised without a slash."""
    if not isinstance(value, str):
        raise ValueError(f"expected a URL such as http://10.0.0.5:2379, got {value!r}")
    try:
        url = urlsplit(value.strip())
        port = url.port
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(
            f"expected an http:// or https:// URL such as http://10.0.0.5:2379, got {value!r}"
        )
    if url.path not in ("", "/") or url.query or url.fragment:
        raise ValueError(f"give the etcd client URL without a path, got {value!r}")
    if port is None:
        raise ValueError(f"give the port of the etcd client URL (usually 2379), got {value!r}")
    return f"{url.scheme}://{url.netloc}"


Endpoint = Annotated[str, BeforeValidator(_endpoint)]


class ArbiterConfig(_Model):
    """The third vote: an etcd cluster holding one leased key for the active node.

    ``ttl`` is an etcd lease TTL, which etcd counts in whole seconds; the holder renews it
    every ttl/3, so each request (bounded by ``timeout``) must fit in that third.
    """

    kind: Literal["etcd"] = "etcd"
    endpoints: tuple[Endpoint, ...] = Field(min_length=1)
    key: str = Field(pattern=r"^/[^\s]*[^/\s]$")
    ttl: Duration = 3.0
    timeout: Duration = 0.5

    @model_validator(mode="after")
    def _timings(self) -> ArbiterConfig:
        _whole_seconds("ttl", self.ttl)
        if self.ttl < 2:
            raise ValueError(
                f"ttl ({self.ttl:g}s) must be at least 2s: etcd raises shorter leases to its "
                "own minimum, and the lease must survive one lost renewal"
            )
        if 3 * self.timeout > self.ttl:
            raise ValueError(
                f"timeout ({self.timeout:g}s) must be at most ttl/3 ({self.ttl / 3:g}s): "
                "the lease is renewed every ttl/3 and a renewal must finish before the next"
            )
        return self


class PingConfig(_Model):
    """Reference addresses, as HeartBeat's ipfail: a node that reaches none never promotes."""

    nodes: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = ()
    interval: Duration = 1.0


class WatchdogConfig(_Model):
    """The kernel watchdog the agent kicks while active; when it stops, the host is reset."""

    enabled: bool = False
    device: Path = Path("/dev/watchdog")
    timeout: Duration = 5.0

    @model_validator(mode="after")
    def _timeout(self) -> WatchdogConfig:
        _whole_seconds("timeout", self.timeout)
        if not 2 <= self.timeout <= 600:
            raise ValueError(
                f"timeout ({self.timeout:g}s) must be between 2s and 600s: the agent kicks "
                "every timeout/3 and a watchdog reset is the last resort, not a hair trigger"
            )
        return self


class FenceConfig(_Model):
    """A command that fences the old active (power off, isolate) before a takeover."""

    command: str = ""
    required: bool = False
    timeout: Duration = 10.0

    @field_validator("command")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command into words: {exc}") from None
        return value

    @model_validator(mode="after")
    def _required_needs_command(self) -> FenceConfig:
        if self.required and not self.argv():
            raise ValueError("required = true needs a command: promotion would wait forever")
        return self

    def argv(self) -> list[str]:
        """The command as an argument vector (shell-style quoting, no shell)."""
        return shlex.split(self.command)


class Config(_Model):
    cluster: Name
    nodes: tuple[Node, Node]
    mysql: Credentials
    replication: Replication
    admin: Credentials | None = None
    vip: Vip | None = None
    heartbeat: Heartbeat
    monitor: Monitor = Monitor()
    hooks: Hooks = Hooks()
    failback: Failback = Failback()
    state: State = State()
    api: Api | None = None
    webhooks: tuple[Webhook, ...] = ()
    arbiter: ArbiterConfig | None = None
    ping: PingConfig = PingConfig()
    watchdog: WatchdogConfig = WatchdogConfig()
    fence: FenceConfig = FenceConfig()
    source: Path = Field(Path("<memory>"), exclude=True)

    @field_validator("nodes", mode="before")
    @classmethod
    def _two_nodes(cls, value: Any) -> Any:
        if isinstance(value, list | tuple) and len(value) != 2:
            raise ValueError(f"a dual-master pair has exactly 2 [[nodes]], found {len(value)}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_arbiter_key(cls, data: Any) -> Any:
        """The arbiter key defaults to ``/dualbeat/<cluster>/active``, one per pair."""
        if isinstance(data, dict):
            arbiter, cluster = data.get("arbiter"), data.get("cluster")
            if isinstance(arbiter, dict) and "key" not in arbiter and isinstance(cluster, str):
                return {**data, "arbiter": {**arbiter, "key": f"/dualbeat/{cluster}/active"}}
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        a, b = self.nodes
        if a.name == b.name:
            raise ValueError(f"both nodes are named {a.name!r}")
        if a.address == b.address:
            raise ValueError(f"both nodes have address {a.address}")
        names = {a.name, b.name}
        for link in self.heartbeat.links:
            if set(link.addresses) != names:
                raise ValueError(
                    f"heartbeat link {link.name!r} must give an address for exactly "
                    f"{sorted(names)}, got {sorted(link.addresses)}"
                )
        return self

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ConfigError(f"{self.source}: no node named {name!r} (nodes: {self.node_names()})")

    def internal_domain(self, name: str) -> int:
        """The MariaDB GTID domain of node ``name``'s own writes: one per node, so the two
        never write in the same domain (a fork ``gtid_strict_mode`` would stop at)."""
        index = self.nodes.index(self.node(name))
        return self.replication.internal_domain_id + index

    def internal_domains(self) -> frozenset[int]:
        """Both nodes' internal domains: what every comparison between them leaves out."""
        return frozenset(self.internal_domain(n.name) for n in self.nodes)

    def peer_of(self, name: str) -> Node:
        self.node(name)
        return next(n for n in self.nodes if n.name != name)

    def node_names(self) -> str:
        return ", ".join(n.name for n in self.nodes)

    def heartbeat_links(self) -> tuple[Link, ...]:
        """The configured links, or one link ``main`` over the node addresses."""
        if self.heartbeat.links:
            return self.heartbeat.links
        return (Link(name="main", addresses={n.name: n.address for n in self.nodes}),)

    def state_dir(self, name: str) -> Path:
        return self.node(name).state_dir or self.state.dir


# ---------------------------------------------------------------- loading and errors


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
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"{source}:{m.group(1) if m else 1}: not valid TOML: {exc}") from None
    try:
        config = Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, text, exc)) from None
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
        if key == ("heartbeat", "key_file") and st.st_size < 16:
            raise ConfigError(
                f"{where}: {path} holds {st.st_size} bytes; a heartbeat key needs at least 16 "
                "(make one with: head -c 32 /dev/urandom > FILE)"
            )
        if key == ("api", "token_file") and len(path.read_bytes().strip()) < 16:
            raise ConfigError(
                f"{where}: {path} holds a token shorter than 16 characters (make one with: "
                "head -c 24 /dev/urandom | base64 > FILE)"
            )
    cert = config.api.tls_cert if config.api else None
    if cert is not None and not cert.is_file():
        line = locate(text, ("api", "tls_cert")) or 1
        raise ConfigError(f"{config.source}:{line}: api.tls_cert: file {cert} does not exist")
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


# ---------------------------------------------------------------- safety warnings


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
    elif config.watchdog.enabled and config.watchdog.timeout >= config.arbiter.ttl:
        warnings.append(
            SafetyWarning(
                "watchdog",
                f"watchdog.timeout ({config.watchdog.timeout:g}s) is not below arbiter.ttl "
                f"({config.arbiter.ttl:g}s): a hung active's host is reset only after its "
                "lease ran out, when the standby may already have taken over",
                'set [watchdog] timeout below [arbiter] ttl (e.g. ttl = "6s", timeout = "4s")',
            )
        )
    return warnings
