"""The arbiter on etcd: a key ``/dualbeat/<cluster>/active`` attached to a lease, and its
floor ``<key>/epoch`` (the highest epoch granted; see ``dualbeat.arbiter.Floor``).

Talks to etcd's documented v3 JSON gateway (``/v3/lease/grant``, ``/v3/lease/keepalive``,
``/v3/kv/txn``, ``/v3/kv/range``, ``/v3/lease/revoke``; etcd 3.4 or newer) through
``etcd3gw``, OpenStack's maintained synchronous client for that gateway: it gives a pooled
HTTP session per endpoint, URL building and error mapping. The transaction bodies are ours
(``etcd_wire``) because taking the key must compare it and the floor, write both, and
read both when the compare fails, in one transaction, which etcd3gw's ``create`` does not.

Every public call has one budget, ``[arbiter].timeout``, spent across the endpoints in
turn (the one that answered last goes first); when it runs out the call raises
``ArbiterUnavailable`` naming what each endpoint said.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from etcd3gw.client import Etcd3Client
from etcd3gw.exceptions import ConnectionFailedError, ConnectionTimeoutError, Etcd3Exception

from dualbeat.agent import clock as agent_clock
from dualbeat.arbiter import etcd_wire as wire
from dualbeat.arbiter.types import ArbiterUnavailable, Floor, Grant, View
from dualbeat.config import ArbiterConfig

Clock = Callable[[], float]
TAKE_TRIES = 3  # a guess, a judged try, and one more after a race lost to the peer


def _client(endpoint: str, cfg: ArbiterConfig) -> Etcd3Client:
    """One endpoint's client; with TLS settings, etcd's certificate is checked against
    ``ca_file`` and ``cert_file``/``key_file`` are presented for --client-cert-auth."""
    url = urlsplit(endpoint)
    assert url.hostname is not None and url.port is not None  # checked by the config
    client = Etcd3Client(
        host=url.hostname,
        port=url.port,
        protocol=url.scheme,
        api_path="/v3/",
        ca_cert=str(cfg.ca_file) if cfg.ca_file else None,
        cert_cert=str(cfg.cert_file) if cfg.cert_file else None,
        cert_key=str(cfg.key_file) if cfg.key_file else None,
    )
    # Straight to etcd: an HTTP(S)_PROXY or .netrc in the agent's environment must not
    # reroute or delay the arbiter.
    client.session.trust_env = False
    return client


def _describe(exc: Exception) -> str:
    """One short phrase for an endpoint's failure (requests' own messages run to 300 chars)."""
    detail = str(exc.detail_text or "") if isinstance(exc, Etcd3Exception) else str(exc)
    if isinstance(exc, ConnectionTimeoutError | requests.Timeout) or "timed out" in detail:
        return "timed out"
    if isinstance(exc, ConnectionFailedError | requests.ConnectionError):
        return "connection refused" if "refused" in detail.lower() else "cannot connect"
    if isinstance(exc, Etcd3Exception):  # etcd answered with an error status
        try:
            answer = json.loads(detail)
            detail = str(answer.get("message") or answer.get("error") or detail)
        except (ValueError, AttributeError):
            pass
    return f"{type(exc).__name__}: {' '.join(detail.split())[:200]}"


def _token_refused(exc: Exception) -> bool:
    text = str(exc.detail_text or "") if isinstance(exc, Etcd3Exception) else ""
    return "invalid auth token" in text or "user name is empty" in text


class EtcdArbiter:
    """One node's handle on the active key; keeps the lease of its last successful acquire."""

    def __init__(self, cfg: ArbiterConfig, clock: Clock = agent_clock.now) -> None:
        self._cfg = cfg
        self._clock = clock
        self._endpoints = cfg.endpoints
        self._clients = [_client(e, cfg) for e in cfg.endpoints]
        self._authenticated: set[int] = set()  # endpoints whose session holds a token
        # Read once, at start (check-config made sure the file is there and private).
        path = cfg.password_file
        self._password = path.read_text().rstrip("\r\n") if path is not None else ""
        self._first = 0
        self._lease: int | None = None
        self._node = ""
        self._epoch = 0

    # ------------------------------------------------------------ the Arbiter protocol

    def acquire(self, node: str, epoch: int) -> Grant | None:
        deadline = self._clock() + self._cfg.timeout
        sent = self._clock()
        lease, ttl = wire.granted(
            self._post("/lease/grant", wire.grant_body(self._cfg.ttl), deadline)
        )
        try:
            ok = self._take(node, epoch, lease, deadline)
        except ArbiterUnavailable:
            self._revoke(lease, deadline)
            raise
        if not ok:
            self._revoke(lease, deadline)
            return None
        self._lease, self._node, self._epoch = lease, node, epoch
        return self._grant(sent, ttl)

    def renew(self) -> Grant | None:
        lease = self._lease
        if lease is None:
            return None
        deadline = self._clock() + self._cfg.timeout
        sent = self._clock()
        ttl = wire.kept_alive(self._post("/lease/keepalive", wire.lease_body(lease), deadline))
        if ttl <= 0:
            self._lease = None
            return None
        kv = wire.range_kv(self._post("/kv/range", wire.range_body(self._cfg.key), deadline))
        if kv is None or kv.lease != lease or kv.holder != self._node:
            # The key was deleted or taken over (an operator's etcdctl): our lease is moot.
            self._lease = None
            self._revoke(lease, deadline)
            return None
        return self._grant(sent, ttl)

    def release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            self._revoke(lease, self._clock() + self._cfg.timeout)

    def view(self) -> View:
        deadline = self._clock() + self._cfg.timeout
        body = self._post("/kv/txn", wire.read_body(self._cfg.key), deadline)
        _, kv, floor = wire.txn_reads(body)
        epochs = [x.epoch for x in (kv, floor) if x is not None]
        return View(
            holder=kv.holder if kv else None,
            epoch=max(epochs) if epochs else None,
            revision=wire.revision(body),
        )

    def close(self) -> None:
        for client in self._clients:
            client.session.close()

    # ------------------------------------------------------------ plumbing

    def _take(self, node: str, epoch: int, lease: int, deadline: float) -> bool:
        """Put the key on ``lease`` and raise the floor, in one transaction that holds
        only while both keys are as judged here: first guessed absent, then as the last
        failed try read them. ``TAKE_TRIES`` bounds a race with the peer doing the same."""
        key: wire.KeyValue | None = None
        floor: wire.KeyValue | None = None
        for _ in range(TAKE_TRIES):
            if key is not None and key.holder != node:
                return False
            if floor is not None and not Floor(floor.holder, floor.epoch).admits(node, epoch):
                return False
            body = wire.take_body(self._cfg.key, key, floor, node, epoch, lease)
            ok, key, floor = wire.txn_reads(self._post("/kv/txn", body, deadline))
            if ok:
                return True
        return False

    def _grant(self, sent: float, ttl: float) -> Grant:
        # etcd may raise a short TTL to its minimum; the configured one is never longer.
        ttl = min(ttl, self._cfg.ttl)
        return Grant(holder=self._node, epoch=self._epoch, ttl=ttl, valid_until=sent + ttl)

    def _authenticate(self, index: int) -> bool:
        """With ``user``/``password_file``: get a token for this endpoint once, and send it
        with every later request (etcd's gateway wants it in ``Authorization``). Bounded
        by the caller's timeout like any request; a refused token is dropped and the
        next call authenticates again. True when it called etcd."""
        if self._cfg.user is None or index in self._authenticated:
            return False
        client = self._clients[index]
        client.session.headers.pop("Authorization", None)
        answer = client.post(
            client.get_url("/auth/authenticate"),
            json=wire.auth_body(self._cfg.user, self._password),
        )
        client.session.headers["Authorization"] = wire.auth_token(answer)
        self._authenticated.add(index)
        return True

    def _revoke(self, lease: int, deadline: float) -> None:
        """Best effort: an unrevoked lease frees the key by itself after its TTL."""
        with contextlib.suppress(ArbiterUnavailable):
            self._post("/lease/revoke", wire.lease_body(lease), deadline)

    def _post(self, path: str, body: wire.Body, deadline: float) -> wire.Body:
        """POST to the first endpoint that answers before ``deadline``."""
        failures: list[str] = []
        count = len(self._clients)
        for step in range(count):
            index = (self._first + step) % count
            remaining = deadline - self._clock()
            if remaining <= 0:
                failures.append("no time left")
                break
            client = self._clients[index]
            client.timeout = remaining
            try:
                if self._authenticate(index):  # that took time: only what is left remains
                    client.timeout = max(deadline - self._clock(), 0.001)
                answer = client.post(client.get_url(path), json=body)
            except (Etcd3Exception, requests.RequestException, ValueError) as exc:
                if _token_refused(exc):  # expired or etcd restarted: a new one next time
                    self._authenticated.discard(index)
                failures.append(f"{self._endpoints[index]}: {_describe(exc)}")
                continue
            if not isinstance(answer, dict):
                failures.append(f"{self._endpoints[index]}: unreadable answer {answer!r:.200}")
                continue
            self._first = index
            return answer
        raise ArbiterUnavailable(
            f"etcd gave no answer to {path} within {self._cfg.timeout:g}s: {'; '.join(failures)}"
        )
