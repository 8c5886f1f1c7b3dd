"""What the sandbox lab looks like: hosts, networks, addresses and paths, as frozen data.

Why a separate module: ``netns``, ``mariadb`` and ``lab`` all need the same names and
addresses, and the integration tests need them too; keeping them as data (not as constants
scattered through the code that builds the lab) means a future host, such as the
``witness``, is one more entry here rather than a change to every builder.

Picture (every box is a network namespace; nothing touches the host's own interfaces)::

    client eth0 10.77.0.10 ─┐
    db1    eth0 10.77.0.11 ─┼─ br0 (LAN 10.77.0.0/24, VIP 10.77.0.100)  ┐
    db2    eth0 10.77.0.12 ─┘                                           ├ namespace dbsw
    db1    eth1 10.78.0.11 ─┬─ br1 (heartbeat 10.78.0.0/24)             ┘
    db2    eth1 10.78.0.12 ─┘

With ``--arbiter`` a fourth host, ``witness`` (eth0 10.77.0.5 on br0, eth1 10.78.0.5 on
br1), runs etcd: the third vote, reachable from both nodes over either network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dualbeat_lab.errors import SandboxError

DEFAULT_STATE_DIR = Path("/var/lib/dualbeat-sandbox")
DEFAULT_CACHE_DIR = Path("/var/cache/dualbeat")
SWITCH_NAMESPACE = "dbsw"
MYSQL_PORT = 3306
VIP = "10.77.0.100/24"
# A marker file proves a directory was made by the sandbox before ``down`` deletes it.
MARKER = ".dualbeat-sandbox"

# Paths the sandbox must never use as its state directory: a typo must not let ``down``
# delete a system MariaDB or the root of a file system.
_FORBIDDEN = tuple(
    Path(p)
    for p in ("/", "/var", "/var/lib", "/var/lib/mysql", "/run", "/run/mysqld", "/etc", "/tmp")
)


@dataclass(frozen=True)
class Network:
    """One layer-2 segment: a bridge in the switch namespace and its IPv4 prefix."""

    name: str
    bridge: str
    prefix: str  # e.g. "10.77.0.0"
    prefixlen: int


LAN = Network(name="lan", bridge="br0", prefix="10.77.0.0", prefixlen=24)
HEARTBEAT = Network(name="hb", bridge="br1", prefix="10.78.0.0", prefixlen=24)


@dataclass(frozen=True)
class Interface:
    """One veth pair: ``ifname`` inside the host namespace, ``peer`` on the switch's bridge."""

    network: Network
    ifname: str
    address: str

    def peer(self, host: str) -> str:
        """Switch-side name, e.g. ``db1-lan`` (at most 15 characters, the kernel's limit)."""
        return f"{host}-{self.network.name}"

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.network.prefixlen}"


@dataclass(frozen=True)
class Host:
    """A host namespace; ``server_id`` is set for hosts that run a private ``mariadbd``."""

    name: str
    interfaces: tuple[Interface, ...]
    server_id: int | None = None

    def address(self, network: Network) -> str | None:
        for iface in self.interfaces:
            if iface.network == network:
                return iface.address
        return None

    @property
    def lan_address(self) -> str:
        addr = self.address(LAN)
        assert addr is not None, f"{self.name} has no LAN interface"
        return addr


CLIENT = Host("client", (Interface(LAN, "eth0", "10.77.0.10"),))
DB1 = Host(
    "db1",
    (Interface(LAN, "eth0", "10.77.0.11"), Interface(HEARTBEAT, "eth1", "10.78.0.11")),
    server_id=1,
)
DB2 = Host(
    "db2",
    (Interface(LAN, "eth0", "10.77.0.12"), Interface(HEARTBEAT, "eth1", "10.78.0.12")),
    server_id=2,
)
# The tie-breaker host running etcd; only in labs built with ``arbiter=True``.
WITNESS = Host(
    "witness", (Interface(LAN, "eth0", "10.77.0.5"), Interface(HEARTBEAT, "eth1", "10.78.0.5"))
)
ETCD_CLIENT_PORT = 2379


@dataclass(frozen=True)
class NodePaths:
    """Where one private ``mariadbd`` keeps its files: ``<state>/<node>/``."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def my_cnf(self) -> Path:
        return self.root / "my.cnf"

    @property
    def socket(self) -> Path:
        return self.root / "mysqld.sock"

    @property
    def pid_file(self) -> Path:
        return self.root / "mysqld.pid"

    @property
    def launched_pid(self) -> Path:
        """The pid as recorded by the sandbox at spawn time (before mariadbd writes its own)."""
        return self.root / "mysqld.launched"

    @property
    def log(self) -> Path:
        return self.root / "mysqld.log"

    @property
    def agent_dir(self) -> Path:
        return self.root / "agent"


@dataclass(frozen=True)
class Lab:
    """The whole lab: where its files live and which namespaces and networks it has."""

    state_dir: Path
    hosts: tuple[Host, ...]
    cache_dir: Path = DEFAULT_CACHE_DIR
    switch: str = SWITCH_NAMESPACE
    networks: tuple[Network, ...] = (LAN, HEARTBEAT)
    vip: str = VIP
    mysql_port: int = MYSQL_PORT

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace of the lab, switch first (it must exist before the veths)."""
        return (self.switch, *(h.name for h in self.hosts))

    @property
    def db_hosts(self) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.server_id is not None)

    @property
    def witness(self) -> Host | None:
        """The etcd host, when this lab has one."""
        return next((h for h in self.hosts if h.name == WITNESS.name), None)

    @property
    def arbiter_endpoints(self) -> tuple[str, ...]:
        """etcd client URLs of the witness, one per network (empty without a witness)."""
        if self.witness is None:
            return ()
        return tuple(f"http://{i.address}:{ETCD_CLIENT_PORT}" for i in self.witness.interfaces)

    @property
    def client(self) -> Host:
        return next(h for h in self.hosts if h.name == CLIENT.name)

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise SandboxError(f"no host {name!r} in the sandbox (have: {', '.join(self.namespaces)})")

    def node_paths(self, name: str) -> NodePaths:
        return NodePaths(self.state_dir / name)

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def config_path(self) -> Path:
        return self.state_dir / "dualbeat.toml"

    @property
    def marker(self) -> Path:
        return self.state_dir / MARKER


def standard_lab(
    state_dir: Path | str | None = None,
    *,
    cache_dir: Path | str | None = None,
    witness: bool = False,
) -> Lab:
    """The default lab (client, db1, db2; optionally the witness) rooted at ``state_dir``."""
    state = Path(state_dir) if state_dir is not None else DEFAULT_STATE_DIR
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    for what, path in (("state directory", state), ("template cache directory", cache)):
        if not path.is_absolute():
            raise SandboxError(f"sandbox {what} must be an absolute path, got {str(path)!r}")
        if path.resolve() in _FORBIDDEN or path in _FORBIDDEN:
            raise SandboxError(f"refusing to use {path} as the sandbox {what}")
    hosts = (CLIENT, DB1, DB2, *((WITNESS,) if witness else ()))
    return Lab(state_dir=state, hosts=hosts, cache_dir=cache)
