"""The client gate on a real kernel: nftables reset, socket destroy, allowed sources.

Two namespaces of our own joined by a veth (never the sandbox's, never the host's):
``gt-s`` is the server host (10.97.0.1) with a TCP echo server on the MySQL port;
``gt-c`` holds a client address (10.97.0.2) and an allowed one standing for the peer
(10.97.0.3). The gate runs inside ``gt-s`` through ``inside()``, as the agent's worker
thread runs it on a server.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, ip_address

import pytest

from dualbeat.gate.nft import NftGate
from dualbeat.gate.ruleset import spec_for
from dualbeat.vip.manager import VipManager
from tests.integration.labtools import inside, wait_for

pytestmark = pytest.mark.integration

S, C = "gt-s", "gt-c"
SERVER, CLIENT, PEER = "10.97.0.1", "10.97.0.2", "10.97.0.3"
PORT = 3306


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _remove() -> None:
    for ns in (S, C):
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=10, check=False)


class Echo:
    """Accepts and echoes, one thread per connection, until closed; while ``frozen`` it
    accepts and never reads, as a stopped mysqld holds its connections."""

    def __init__(self) -> None:
        with inside(S):
            self.listener = socket.create_server((SERVER, PORT), reuse_port=True)
        self.frozen = False
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.frozen:
                self.held.append(conn)
            else:
                threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(100):
                    conn.sendall(data)
            except OSError:  # destroyed by the gate: what the test wants
                pass


@pytest.fixture
def echo() -> Iterator[Echo]:
    _remove()
    try:
        for ns in (S, C):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", S, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", C)
        _ip("-n", S, "addr", "add", f"{SERVER}/24", "dev", "eth0")
        for address in (CLIENT, PEER):
            _ip("-n", C, "addr", "add", f"{address}/24", "dev", "eth0")
        for ns in (S, C):
            _ip("-n", ns, "link", "set", "eth0", "up")
        server = Echo()
        yield server
        server.listener.close()
    finally:
        _remove()


def _connect(source: str) -> socket.socket:
    """A connection to the server from ``source`` (bounded: the test must never hang)."""
    deadline = time.monotonic() + 5
    while True:
        with inside(C):
            sock = socket.socket()
        sock.settimeout(5)
        sock.bind((source, 0))
        try:
            sock.connect((SERVER, PORT))
            return sock
        except OSError:  # the veth's address still in DAD, or the gate shut: caller decides
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _gate() -> NftGate:
    return NftGate(spec_for(PORT, [ip_address(SERVER), ip_address(PEER)]))


def _shut_in_server(gate: NftGate) -> int:
    with inside(S):
        return gate.shut().destroyed


def test_shut_resets_a_blocked_client_and_keeps_the_peer(echo: Echo) -> None:
    client, peer = _connect(CLIENT), _connect(PEER)
    client.settimeout(10)  # "no read timeout", bounded by the test
    outcome: list[object] = []

    def blocked_read() -> None:
        started = time.monotonic()
        try:
            outcome.append(client.recv(10))
        except OSError as exc:
            outcome.append(exc)
        outcome.append(time.monotonic() - started)

    reader = threading.Thread(target=blocked_read)
    reader.start()
    time.sleep(0.2)
    shut_at = time.monotonic()
    assert _shut_in_server(_gate()) == 1
    reader.join(10)
    error, _ = outcome
    assert isinstance(error, ConnectionResetError), error
    assert time.monotonic() - shut_at < 1.0  # at once, not a timeout (generous: CI is slow)
    peer.sendall(b"ping")
    assert peer.recv(10) == b"ping"
    with pytest.raises(ConnectionRefusedError), inside(C):  # a reset at once, never silence
        socket.create_connection((SERVER, PORT), timeout=5, source_address=(CLIENT, 0))
    for sock in (client, peer, _connect(PEER)):
        sock.close()


def test_open_lets_clients_in_and_leaves_other_tables_alone(echo: Echo) -> None:
    gate = _gate()
    with inside(S):
        subprocess.run(["nft", "add", "table", "inet", "operator"], check=True, timeout=10)
        assert not gate.is_shut()
        gate.shut()
        gate.shut()  # idempotent
        assert gate.is_shut()
        gate.open()
        gate.open()  # idempotent
        assert not gate.is_shut()
        tables = subprocess.run(
            ["nft", "list", "tables"], check=True, capture_output=True, text=True, timeout=10
        ).stdout
    assert "table inet operator" in tables
    with _connect(CLIENT) as client:
        client.sendall(b"back")
        assert client.recv(10) == b"back"


def test_a_frozen_server_never_reads_what_a_client_sent_before_the_shut(echo: Echo) -> None:
    """The statement a client sent to a stopped server stays in the server's receive
    queue after the socket destroy; the gate drains it, so the thawed server cannot run it."""
    echo.frozen = True
    client = _connect(CLIENT)
    client.sendall(b"INSERT INTO t VALUES (1)")
    held = wait_for(lambda: echo.held, 5, "the server to accept the connection", 0.02)[0]
    time.sleep(0.1)  # the bytes are in the server's queue, unread
    with inside(S):
        gate = _gate()
        assert gate.shut().destroyed == 1
    assert gate.drained(5) == 1
    with contextlib.suppress(ConnectionAbortedError):  # the end of the connection, or its error
        assert held.recv(100) == b""
    with pytest.raises(ConnectionResetError):
        client.recv(100)
    for sock in (client, held):
        sock.close()


def test_a_shut_gate_with_a_vip_stops_answering_arp_for_it_until_told(echo: Echo) -> None:
    """Here the server's own address stands for the VIP: the client's ARP probe for it
    goes unanswered while the gate is shut, and is answered again after ``answer_arp``."""
    gate = NftGate(spec_for(PORT, [ip_address(PEER)], IPv4Address(SERVER)))
    probe = VipManager(IPv4Interface(f"{SERVER}/24"), "eth0")
    with inside(C):
        assert probe.conflict(timeout=1.0) is not None  # answered before
    with inside(S):
        gate.shut()
        assert gate.is_arp_silent()
    with inside(C):
        assert probe.conflict(timeout=0.3) is None
    with inside(S):
        gate.open()  # the port opens; ARP stays silent until a claim asks
    with inside(C):
        assert probe.conflict(timeout=0.3) is None
    with inside(S):
        gate.answer_arp()
        assert not gate.is_arp_silent()
    with inside(C):
        assert probe.conflict(timeout=1.0) is not None


def test_a_brief_shut_resets_clients_keeps_answering_arp_and_opens_again(echo: Echo) -> None:
    """What the active does when its peer falls silent (``SetSemiSync.behind_gate``): for
    the span of the step the client connections are destroyed and the port refuses, the
    host still answers ARP for the VIP (it keeps it; the server's address stands for it
    here), and the port opens after; unless a demotion shut the gate meanwhile, or it
    was shut before."""
    gate = NftGate(spec_for(PORT, [ip_address(PEER)], IPv4Address(SERVER)))
    probe = VipManager(IPv4Interface(f"{SERVER}/24"), "eth0")
    client = _connect(CLIENT)
    with inside(S), gate.shut_briefly() as shut:
        assert shut is not None and shut.destroyed == 1
        assert gate.is_shut() and not gate.is_arp_silent()
        with inside(C):
            assert probe.conflict(timeout=1.0) is not None  # still answered
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((SERVER, PORT), timeout=5, source_address=(CLIENT, 0))
    with pytest.raises(ConnectionResetError):
        client.recv(10)
    client.close()
    with inside(S):
        assert not gate.is_shut()
        with gate.shut_briefly():
            gate.shut()  # a demotion during the step: its shut holds
        assert gate.is_shut() and gate.is_arp_silent()
        with gate.shut_briefly() as none:
            assert none is None  # shut before: not this step's to open
        assert gate.is_shut()
        gate.open()
    with _connect(CLIENT) as again:
        again.sendall(b"back")
        assert again.recv(10) == b"back"
