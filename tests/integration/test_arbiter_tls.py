"""The etcd arbiter over TLS with client certificates, and with etcd's user/password
authentication, against real etcd servers on loopback.

Why their own etcd: the sandbox's witness speaks plain HTTP without auth; these run with
``--client-cert-auth`` (a client must present a certificate the CA signed; certificates
made here by openssl) and with ``auth enable``, on 127.0.0.1. No lab, no lock.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dualbeat.arbiter import ArbiterUnavailable, open_arbiter
from dualbeat.config import ArbiterConfig
from tests.integration.labtools import wait_for

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def certificates(d: Path) -> None:
    """ca.crt; server.crt for IP 127.0.0.1; client.crt; all signed by the CA."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
            "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))  # fmt: skip
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"))  # fmt: skip
        (d / f"{name}.ext").write_text(ext + "\n" if ext else "basicConstraints=CA:FALSE\n")
        openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.crt"),
                "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "1",
                "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.crt"))  # fmt: skip
        (d / f"{name}.key").chmod(0o600)


def start_etcd(d: Path, *tls: str, scheme: str = "https") -> tuple[str, subprocess.Popen[bytes]]:
    etcd_bin = shutil.which("etcd")
    if etcd_bin is None:
        pytest.fail("etcd is missing: run scripts/install-deps")
    client, peer = free_port(), free_port()
    url = f"{scheme}://127.0.0.1:{client}"
    proc = subprocess.Popen(
        [etcd_bin, "--name", "t", "--data-dir", str(d / "data"),
         "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"t=http://127.0.0.1:{peer}", *tls],
        stdout=subprocess.DEVNULL,
        stderr=(d / "etcd.log").open("w"),
    )  # fmt: skip
    wait_for(lambda: _listening(client), 30, f"etcd listening on 127.0.0.1:{client}", step=0.2)
    return url, proc


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def etcd_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A plain-HTTP etcd with authentication on: user root, password in root.pass."""
    d = tmp_path_factory.mktemp("etcd-auth")
    url, proc = start_etcd(d, scheme="http")
    password = uuid.uuid4().hex
    (d / "root.pass").write_text(password + "\n")
    (d / "root.pass").chmod(0o600)
    try:
        deadline = time.monotonic() + 30
        for path, body in (
            ("user/add", {"name": "root", "password": password}),
            ("role/add", {"name": "root"}),
            ("user/grant", {"user": "root", "role": "root"}),
            ("enable", {}),
        ):
            while True:
                answer = requests.post(f"{url}/v3/auth/{path}", json=body, timeout=5)
                if answer.ok or time.monotonic() > deadline:
                    break
                time.sleep(0.5)  # still electing itself leader
            answer.raise_for_status()
        yield url, d
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An etcd on https that wants a client certificate signed by ca.crt."""
    d = tmp_path_factory.mktemp("etcd-tls")
    certificates(d)
    tls = ["--cert-file", str(d / "server.crt"), "--key-file", str(d / "server.key"),
           "--trusted-ca-file", str(d / "ca.crt"), "--client-cert-auth"]  # fmt: skip
    url, proc = start_etcd(d, *tls)
    try:
        yield url, d
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def config(url: str, d: Path, *, client_cert: bool) -> ArbiterConfig:
    certs = {"cert_file": d / "client.crt", "key_file": d / "client.key"} if client_cert else {}
    return ArbiterConfig(
        endpoints=(url,),
        key=f"/dualbeat/tls-{uuid.uuid4().hex[:8]}/active",
        ttl=3.0,
        timeout=1.0,
        ca_file=d / "ca.crt",
        **certs,
    )


def test_the_arbiter_takes_the_key_over_tls_with_a_client_certificate(
    etcd: tuple[str, Path],
) -> None:
    url, d = etcd
    arbiter = open_arbiter(config(url, d, client_cert=True))
    try:
        deadline = time.monotonic() + 20  # etcd may still be electing itself leader
        while True:
            try:
                grant = arbiter.acquire("db1", 1)
                break
            except ArbiterUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert grant is not None
        assert arbiter.view().holder == "db1"
    finally:
        arbiter.close()


def test_without_a_client_certificate_etcd_refuses(etcd: tuple[str, Path]) -> None:
    url, d = etcd
    arbiter = open_arbiter(config(url, d, client_cert=False))
    try:
        with pytest.raises(ArbiterUnavailable):
            arbiter.acquire("db1", 1)
    finally:
        arbiter.close()


def auth_config(url: str, d: Path, password_file: Path) -> ArbiterConfig:
    return ArbiterConfig(
        endpoints=(url,),
        key=f"/dualbeat/auth-{uuid.uuid4().hex[:8]}/active",
        ttl=3.0,
        timeout=1.0,
        user="root",
        password_file=password_file,
    )


def test_the_arbiter_authenticates_with_user_and_password(etcd_auth: tuple[str, Path]) -> None:
    url, d = etcd_auth
    arbiter = open_arbiter(auth_config(url, d, d / "root.pass"))
    try:
        assert arbiter.acquire("db1", 1) is not None
        assert arbiter.renew() is not None
        assert arbiter.view().holder == "db1"
    finally:
        arbiter.close()


def test_a_wrong_password_is_unavailable_not_a_crash(etcd_auth: tuple[str, Path]) -> None:
    url, d = etcd_auth
    wrong = d / "wrong.pass"
    wrong.write_text("not the password\n")
    arbiter = open_arbiter(auth_config(url, d, wrong))
    try:
        with pytest.raises(ArbiterUnavailable, match=r"authentication failed|invalid"):
            arbiter.acquire("db1", 1)
    finally:
        arbiter.close()
