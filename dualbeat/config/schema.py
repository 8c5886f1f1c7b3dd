"""The schema: what a dualbeat TOML file may say, as frozen pydantic models.

Why pydantic: it gives typed, frozen models with per-field errors that carry the key path,
which ``loading`` turns into ``FILE:LINE: key.path: message``.

Rules that involve one section (deadtime against keepalive, probe timeouts against the
interval) are validators here; rules across sections that the agent also enforces at start
live in ``rules``. The timing defaults are the core's own (``core.state.Timing``): one
source, so a field left out of the file means what the core assumes.
"""

from __future__ import annotations

import ipaddress
import shlex
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from dualbeat.config.fields import Duration, Name, _Model
from dualbeat.config.rejoin import Rejoin
from dualbeat.core.state import Failback as CoreFailback
from dualbeat.core.state import Timing
from dualbeat.errors import ConfigError

#: The core's defaults, which the file's defaults repeat by reference.
DEFAULT_TIMING = Timing()
DEFAULT_FAILBACK = CoreFailback()


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


def _address_text(value: object) -> object:
    """An address is written as text: pydantic would read ``address = 1`` as 0.0.0.1 (an
    integer is a valid IPv4 address to it), a typo that must fail at load instead."""
    if isinstance(value, int | float):
        raise ValueError(f'an address is a quoted string such as "10.0.0.1", got {value!r}')
    return value


IpAddress = Annotated[ipaddress.IPv4Address | ipaddress.IPv6Address, BeforeValidator(_address_text)]
IpInterface = Annotated[
    ipaddress.IPv4Interface | ipaddress.IPv6Interface, BeforeValidator(_address_text)
]


class Node(_Model):
    name: Name
    address: IpAddress
    mysql_host: str | None = None
    mysql_port: int = Field(3306, ge=1, le=65535)
    mysql_socket: Path | None = None
    state_dir: Path | None = None

    @property
    def mysql_address(self) -> str:
        return self.mysql_host or str(self.address)


class Vip(_Model):
    address: IpInterface
    interface: str = Field(pattern=r"^[A-Za-z0-9_.:@-]{1,15}$")
    arp_count: int = Field(3, ge=0, le=100)
    arp_refresh: Duration = DEFAULT_TIMING.arp_refresh


class Link(_Model):
    name: Name
    addresses: dict[str, IpAddress]


class Heartbeat(_Model):
    key_file: Path
    port: int = Field(6940, ge=1, le=65535)
    keepalive: Duration = DEFAULT_TIMING.keepalive
    warntime: Duration = DEFAULT_TIMING.warntime
    deadtime: Duration = DEFAULT_TIMING.deadtime
    initdead: Duration = DEFAULT_TIMING.initdead
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
    alert_after: int = Field(DEFAULT_TIMING.alert_after, ge=1, le=100)
    rise: int = Field(DEFAULT_TIMING.rise, ge=1, le=100)
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
    semisync_timeout: Duration | None = Field(  # None: ``rules.semisync_timeout``
        None, json_schema_extra={"derived": "deadtime + 2 x [monitor] interval + 0.5s"}
    )
    apply_timeout: Duration = DEFAULT_TIMING.apply_timeout
    # MariaDB: the GTID domain of the first node's own writes (schema, epoch row); the
    # second node uses the next one (``Config.internal_domain``, ``mysql.internal``).
    internal_domain_id: int = Field(9000, ge=0, le=2**32 - 2)


class Failback(_Model):
    """HeartBeat's ``auto_failback``: the first ``[[nodes]]`` entry is the preferred node."""

    auto: bool = False
    holddown: Duration = DEFAULT_FAILBACK.holddown
    min_interval: Duration = DEFAULT_FAILBACK.min_interval

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
    "rejoined",
    "replication_broken",
    "semisync_fell_back",
    "split_brain_risk",
)


class Webhook(_Model):
    """An HTTP endpoint that receives the JSON of chosen events (POST), with retries; signed
    with ``secret_file`` (headers ``X-Dualbeat-Timestamp`` and ``X-Dualbeat-Signature``)."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]
    events: tuple[str, ...] = WEBHOOK_EVENTS
    timeout: Duration = 2.0
    retries: int = Field(3, ge=0, le=20)
    #: A shared secret: each POST then carries an HMAC-SHA256 signature the receiver checks.
    secret_file: Path | None = None

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
    Beside ``key``, ``<key>/epoch`` (on no lease) keeps the highest epoch ever granted, so
    a released or expired key never lets a second term start at the same epoch; with
    etcd authentication, grant the user both (``--prefix`` on ``key``).
    """

    kind: Literal["etcd"] = "etcd"
    endpoints: tuple[Endpoint, ...] = Field(min_length=1)
    key: str = Field(pattern=r"^/[^\s]*[^/\s]$")
    ttl: Duration = DEFAULT_TIMING.lease_ttl
    timeout: Duration = 0.5
    ca_file: Path | None = Field(
        None, description="https endpoints: the CA that signed etcd's certificate"
    )
    cert_file: Path | None = Field(
        None, description="a client certificate, for etcd's --client-cert-auth"
    )
    key_file: Path | None = Field(None, description="the client certificate's key, chmod 600")
    user: str | None = Field(None, description="etcd authentication (auth enable): the user")
    password_file: Path | None = Field(None, description="and its password, chmod 600")

    @model_validator(mode="after")
    def _tls(self) -> ArbiterConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")
        if (self.user is None) != (self.password_file is None):
            raise ValueError("give both user and password_file, or neither")
        tls = (self.ca_file, self.cert_file)
        if any(tls) and not all(e.startswith("https://") for e in self.endpoints):
            raise ValueError("ca_file/cert_file need https:// endpoints")
        return self

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

    nodes: tuple[IpAddress, ...] = ()
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
    rejoin: Rejoin = Rejoin()
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
