"""The etcd JSON gateway messages: request bodies, answer parsing, and the arbiter's logic
over scripted answers (the real etcd is in tests/integration/test_arbiter_etcd.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from etcd3gw.exceptions import ConnectionFailedError, Etcd3Exception

from dualbeat.arbiter import ArbiterUnavailable, Grant, View
from dualbeat.arbiter import etcd_wire as wire
from dualbeat.arbiter.etcd import EtcdArbiter, _describe
from dualbeat.config import ArbiterConfig

KEY = "/dualbeat/orders/active"
FLOOR = "/dualbeat/orders/active/epoch"


def enc(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def kv(node: str, epoch: int, lease: int = 7, mod: int = 12, key: str = KEY) -> dict[str, Any]:
    value = enc(json.dumps({"node": node, "epoch": epoch}))
    return {
        "key": enc(key),
        "value": value,
        "lease": str(lease),
        "create_revision": "10",
        "mod_revision": str(mod),
        "version": "1",
    }


def test_lease_bodies_send_64_bit_ids_as_strings() -> None:
    assert wire.grant_body(3.0) == {"TTL": 3, "ID": 0}
    assert wire.lease_body(7587862083216445710) == {"ID": "7587862083216445710"}


def test_granted_reads_id_and_ttl() -> None:
    assert wire.granted({"ID": "7587862083216445710", "TTL": "3"}) == (7587862083216445710, 3.0)
    with pytest.raises(ArbiterUnavailable, match="refused the lease: too many"):
        wire.granted({"error": "too many"})
    with pytest.raises(ArbiterUnavailable, match="no usable lease"):
        wire.granted({"ID": "5"})
    with pytest.raises(ArbiterUnavailable, match="non-integer ID"):
        wire.granted({"ID": "x", "TTL": "3"})


def test_keepalive_of_an_expired_lease_reads_as_zero() -> None:
    assert wire.kept_alive({"result": {"ID": "5", "TTL": "3"}}) == 3.0
    assert wire.kept_alive({"result": {"ID": "5"}}) == 0.0  # TTL 0 is left out of the JSON
    assert wire.kept_alive({"result": {"ID": "5", "TTL": "-1"}}) == 0.0


def test_range_reads_holder_epoch_lease_and_revisions() -> None:
    assert wire.range_kv({"header": {"revision": "9"}}) is None
    got = wire.range_kv({"kvs": [kv("db2", 8, lease=77, mod=13)], "count": "1"})
    assert got == wire.KeyValue("db2", 8, lease=77, create_revision=10, mod_revision=13)
    assert wire.revision({"header": {"revision": "9"}}) == 9
    assert wire.revision({}) == 0


@pytest.mark.parametrize(
    "value", [enc("db1"), enc('{"node": "db1"}'), enc('{"node": 1, "epoch": 2}'), "%%%"]
)
def test_a_foreign_value_in_the_key_is_reported_not_guessed(value: str) -> None:
    with pytest.raises(ArbiterUnavailable, match=r"dualbeat did not write|malformed holder"):
        wire.range_kv({"kvs": [{**kv("db1", 1), "value": value}]})


def test_txn_reads_the_key_and_the_floor_of_either_branch() -> None:
    assert wire.txn_reads({"succeeded": True, "responses": [{"response_put": {}}] * 2}) == (
        True,
        None,
        None,
    )
    failed = {"responses": [{"response_range": {"kvs": [kv("db2", 3)]}}, {"response_range": {}}]}
    ok, key, floor = wire.txn_reads(failed)
    assert not ok and key is not None and key.holder == "db2" and floor is None
    read = wire.txn_reads({"succeeded": True, "responses": [{"response_range": {}}] * 2})
    assert read == (True, None, None)
    assert wire.read_body(KEY) == {
        "success": [{"request_range": {"key": enc(KEY)}}, {"request_range": {"key": enc(FLOOR)}}]
    }


def test_describe_keeps_endpoint_failures_short() -> None:
    refused = ConnectionFailedError("HTTPConnectionPool(...): [Errno 111] Connection refused")
    assert _describe(refused) == "connection refused"
    etcd_error = Etcd3Exception('{"error":"x","message":"etcdserver: requested lease not found"}')
    assert _describe(etcd_error) == "Etcd3Exception: etcdserver: requested lease not found"


# ---------------------------------------------------------------- logic over scripted answers


class Scripted(EtcdArbiter):
    """The arbiter with its transport replaced by a list of canned answers."""

    def __init__(self, answers: list[dict[str, Any] | Exception]) -> None:
        cfg = ArbiterConfig(endpoints=("http://192.0.2.5:2379",), key=KEY, ttl=3, timeout=0.5)
        self.now = 100.0
        super().__init__(cfg, clock=lambda: self.now)
        self.answers = answers
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def _post(self, path: str, body: wire.Body, deadline: float) -> wire.Body:
        self.sent.append((path, body))
        self.now += 0.01
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_acquire_counts_validity_from_the_send_time_of_the_grant() -> None:
    arb = Scripted([{"ID": "5", "TTL": "3"}, {"succeeded": True}])
    assert arb.acquire("db1", 4) == Grant(holder="db1", epoch=4, ttl=3.0, valid_until=103.0)
    assert [p for p, _ in arb.sent] == ["/lease/grant", "/kv/txn"]


def test_acquire_never_trusts_a_longer_ttl_than_configured() -> None:
    arb = Scripted([{"ID": "5", "TTL": "10"}, {"succeeded": True}])
    grant = arb.acquire("db1", 4)
    assert grant is not None and grant.ttl == 3.0 and grant.valid_until == 103.0


def test_acquire_refused_revokes_the_unused_lease() -> None:
    arb = Scripted(
        [{"ID": "5", "TTL": "3"}, {"responses": [{"response_range": {"kvs": [kv("db2", 3)]}}]}, {}]
    )
    assert arb.acquire("db1", 4) is None
    assert arb.sent[-1] == ("/lease/revoke", {"ID": "5"})
    assert arb.renew() is None  # nothing held: no request
    assert len(arb.sent) == 3


def test_acquire_reattaches_a_key_that_already_names_us() -> None:
    held = {"responses": [{"response_range": {"kvs": [kv("db1", 3, lease=4, mod=20)]}}]}
    arb = Scripted([{"ID": "5", "TTL": "3"}, held, {"succeeded": True}])
    grant = arb.acquire("db1", 4)
    assert grant is not None and grant.epoch == 4
    assert arb.sent[2][1]["compare"][0]["mod_revision"] == "20"


def test_acquire_failing_after_the_grant_revokes_and_raises() -> None:
    arb = Scripted([{"ID": "5", "TTL": "3"}, ArbiterUnavailable("gone"), {}])
    with pytest.raises(ArbiterUnavailable, match="gone"):
        arb.acquire("db1", 4)
    assert arb.sent[-1] == ("/lease/revoke", {"ID": "5"})


def test_renew_checks_the_key_is_still_on_our_lease() -> None:
    arb = Scripted(
        [
            {"ID": "5", "TTL": "3"},
            {"succeeded": True},
            {"result": {"ID": "5", "TTL": "3"}},
            {"kvs": [kv("db1", 4, lease=5)]},
        ]
    )
    arb.acquire("db1", 4)
    arb.now = 200.0
    assert arb.renew() == Grant(holder="db1", epoch=4, ttl=3.0, valid_until=203.0)
    # An operator deleted the key: the lease lives on, the grant does not.
    arb.answers += [{"result": {"ID": "5", "TTL": "3"}}, {}, {}]
    assert arb.renew() is None
    assert arb.sent[-1] == ("/lease/revoke", {"ID": "5"})


def test_renew_of_an_expired_lease_is_none_and_release_is_idempotent() -> None:
    arb = Scripted([{"ID": "5", "TTL": "3"}, {"succeeded": True}, {"result": {"ID": "5"}}])
    arb.acquire("db1", 4)
    assert arb.renew() is None
    arb.release()
    arb.release()
    assert [p for p, _ in arb.sent] == ["/lease/grant", "/kv/txn", "/lease/keepalive"]


def test_release_swallows_an_unavailable_arbiter() -> None:
    arb = Scripted([{"ID": "5", "TTL": "3"}, {"succeeded": True}, ArbiterUnavailable("down")])
    arb.acquire("db1", 4)
    arb.release()
    assert arb.sent[-1] == ("/lease/revoke", {"ID": "5"})


def test_clients_ignore_proxy_settings_of_the_environment() -> None:
    cfg = ArbiterConfig(
        endpoints=("http://192.0.2.5:2379", "https://[2001:db8::5]:2379"), key=KEY, ttl=3
    )
    arbiter = EtcdArbiter(cfg)
    assert [c.session.trust_env for c in arbiter._clients] == [False, False]
    assert [c.get_url("/kv/range") for c in arbiter._clients] == [
        "http://192.0.2.5:2379/v3/kv/range",
        "https://[2001:db8::5]:2379/v3/kv/range",
    ]
    arbiter.close()


# ---------------------------------------------------------------- the epoch floor


def floor_kv(node: str, epoch: int, mod: int = 30) -> dict[str, Any]:
    return {**kv(node, epoch, mod=mod, key=FLOOR), "lease": "0"}


def reads(key: dict[str, Any] | None, floor: dict[str, Any] | None) -> dict[str, Any]:
    """A txn answer whose branch read the key and the floor (absent ones read as empty)."""
    return {
        "header": {"revision": "40"},
        "responses": [
            {"response_range": {"kvs": [key]} if key else {}},
            {"response_range": {"kvs": [floor]} if floor else {}},
        ],
    }


def test_the_floor_key_sits_under_the_active_key() -> None:
    assert wire.floor_key(KEY) == FLOOR


def test_take_body_guesses_both_keys_absent_and_puts_both() -> None:
    body = wire.take_body(KEY, None, None, "db1", 1, 99)
    assert body["compare"] == [
        {"key": enc(KEY), "target": "CREATE", "result": "EQUAL", "create_revision": "0"},
        {"key": enc(FLOOR), "target": "CREATE", "result": "EQUAL", "create_revision": "0"},
    ]
    key_put, floor_put = (op["request_put"] for op in body["success"])
    assert key_put["key"] == enc(KEY) and key_put["lease"] == "99"
    assert floor_put["key"] == enc(FLOOR) and "lease" not in floor_put  # no lease ends it
    assert json.loads(base64.b64decode(floor_put["value"])) == {"node": "db1", "epoch": 1}
    assert body["failure"] == [
        {"request_range": {"key": enc(KEY)}},
        {"request_range": {"key": enc(FLOOR)}},
    ]


def test_take_body_holds_only_if_both_keys_are_still_as_read() -> None:
    current = wire.range_kv({"kvs": [kv("db1", 3, mod=42)]})
    floor = wire.range_kv({"kvs": [floor_kv("db1", 3, mod=41)]})
    body = wire.take_body(KEY, current, floor, "db1", 4, 99)
    assert body["compare"] == [
        {"key": enc(KEY), "target": "MOD", "result": "EQUAL", "mod_revision": "42"},
        {"key": enc(FLOOR), "target": "MOD", "result": "EQUAL", "mod_revision": "41"},
    ]


def test_acquire_refuses_a_free_key_at_another_nodes_spent_epoch() -> None:
    arb = Scripted([{"ID": "5", "TTL": "3"}, reads(None, floor_kv("db1", 1)), {}])
    assert arb.acquire("db2", 1) is None
    assert [p for p, _ in arb.sent] == ["/lease/grant", "/kv/txn", "/lease/revoke"]
    assert enc(FLOOR) in [c["key"] for c in arb.sent[1][1]["compare"]]


def test_acquire_above_the_floor_raises_it_with_the_key() -> None:
    arb = Scripted(
        [{"ID": "5", "TTL": "3"}, reads(None, floor_kv("db1", 1, mod=30)), {"succeeded": True}]
    )
    grant = arb.acquire("db2", 2)
    assert grant is not None and (grant.holder, grant.epoch) == ("db2", 2)
    retry = arb.sent[2][1]
    assert retry["compare"][1]["mod_revision"] == "30"
    floor_put = retry["success"][1]["request_put"]
    assert json.loads(base64.b64decode(floor_put["value"])) == {"node": "db2", "epoch": 2}


def test_acquire_retakes_its_own_spent_epoch() -> None:
    """The floor's node re-taking its term (an active whose lease lapsed) is no new term."""
    arb = Scripted([{"ID": "5", "TTL": "3"}, reads(None, floor_kv("db1", 1)), {"succeeded": True}])
    assert arb.acquire("db1", 1) is not None


def test_view_of_a_free_key_names_the_floor_epoch() -> None:
    arb = Scripted([reads(None, floor_kv("db1", 1))])
    assert arb.view() == View(holder=None, epoch=1, revision=40)
    assert arb.sent[0][0] == "/kv/txn"
