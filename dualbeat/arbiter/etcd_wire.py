"""etcd v3 JSON gateway messages: the request bodies dualbeat sends and the answers it reads.

Two keys: the active key, on the holder's lease, and its floor (``floor_key``), the
highest epoch ever granted, on no lease. Both hold ``{"epoch": N, "node": "db1"}``.

Pure functions, no I/O, so every shape is unit-tested. The gateway speaks protobuf JSON:
keys and values are base64, 64-bit integers are JSON strings, and fields holding their
default (``false``, ``0``, empty) are left out, so every read here has a default.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from dualbeat.arbiter.types import ArbiterUnavailable

Body = dict[str, Any]


@dataclass(frozen=True)
class KeyValue:
    """The active key as etcd stores it."""

    holder: str
    epoch: int
    lease: int
    create_revision: int
    mod_revision: int


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def holder_value(node: str, epoch: int) -> str:
    """The value stored in the key: which node holds it, in which epoch."""
    return json.dumps({"node": node, "epoch": epoch}, separators=(",", ":"), sort_keys=True)


def grant_body(ttl: float) -> Body:
    return {"TTL": int(ttl), "ID": 0}


def lease_body(lease: int) -> Body:
    return {"ID": str(lease)}


def range_body(key: str) -> Body:
    return {"key": b64(key)}


def floor_key(key: str) -> str:
    """Where the floor lives (``dualbeat.arbiter.Floor``): under the active key, never
    on a lease, so a release or an expiry deletes the key and leaves the floor."""
    return f"{key}/epoch"


def take_body(
    key: str,
    current: KeyValue | None,
    floor: KeyValue | None,
    node: str,
    epoch: int,
    lease: int,
) -> Body:
    """Put the key on ``lease`` and raise the floor to (``node``, ``epoch``), only if
    both keys are still as the caller judged them: ``None`` for absent (create revision
    0: a value compare always fails on a missing key), else unchanged since read (mod
    revision). Otherwise read both, atomically, to judge again."""
    floor_key_ = floor_key(key)
    return {
        "compare": [_unchanged(key, current), _unchanged(floor_key_, floor)],
        "success": [
            {"request_put": _put(key, node, epoch, lease)},
            {"request_put": {"key": b64(floor_key_), "value": b64(holder_value(node, epoch))}},
        ],
        "failure": read_body(key)["success"],
    }


def read_body(key: str) -> Body:
    """The key and its floor in one read: a txn without compares runs its success ops."""
    return {"success": [{"request_range": range_body(k)} for k in (key, floor_key(key))]}


def auth_body(user: str, password: str) -> Body:
    """``/v3/auth/authenticate``: user and password in the clear (use https endpoints)."""
    return {"name": user, "password": password}


def auth_token(body: Body) -> str:
    """The token of an authenticate answer, sent as ``Authorization`` from then on."""
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise ValueError(f"etcd's authenticate answer has no token: {body!r:.200}")
    return token


def _unchanged(key: str, kv: KeyValue | None) -> Body:
    if kv is None:
        return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
    return {
        "key": b64(key),
        "target": "MOD",
        "result": "EQUAL",
        "mod_revision": str(kv.mod_revision),
    }


def _put(key: str, node: str, epoch: int, lease: int) -> Body:
    return {"key": b64(key), "value": b64(holder_value(node, epoch)), "lease": str(lease)}


def _int(body: Body, field: str) -> int:
    try:
        return int(body.get(field, 0))
    except (TypeError, ValueError):
        raise ArbiterUnavailable(f"etcd answered a non-integer {field}: {body!r}") from None


def granted(body: Body) -> tuple[int, float]:
    """(lease ID, TTL in seconds) from a lease grant answer."""
    if body.get("error"):
        raise ArbiterUnavailable(f"etcd refused the lease: {body['error']}")
    lease, ttl = _int(body, "ID"), _int(body, "TTL")
    if lease == 0 or ttl <= 0:
        raise ArbiterUnavailable(f"etcd granted no usable lease: {body!r}")
    return lease, float(ttl)


def kept_alive(body: Body) -> float:
    """The TTL a keepalive restored; 0 when the lease no longer exists."""
    result = body.get("result", body)
    if not isinstance(result, dict):
        raise ArbiterUnavailable(f"etcd answered an unreadable keepalive: {body!r}")
    return float(max(_int(result, "TTL"), 0))


def revision(body: Body) -> int:
    header = body.get("header", {})
    return _int(header, "revision") if isinstance(header, dict) else 0


def range_kv(body: Body) -> KeyValue | None:
    """The key from a range answer, or ``None`` when it does not exist."""
    kvs = body.get("kvs") or []
    if not kvs:
        return None
    kv = kvs[0]
    try:
        raw = base64.b64decode(kv.get("value", ""), validate=True).decode()
        value = json.loads(raw)
        holder, epoch = value["node"], value["epoch"]
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise ArbiterUnavailable(
            f"the arbiter key holds a value dualbeat did not write: {kv.get('value')!r} "
            "(remove it with etcdctl del KEY once no dualbeat node is active)"
        ) from None
    if not isinstance(holder, str) or not isinstance(epoch, int):
        raise ArbiterUnavailable(f"the arbiter key holds a malformed holder: {value!r}")
    return KeyValue(
        holder=holder,
        epoch=epoch,
        lease=_int(kv, "lease"),
        create_revision=_int(kv, "create_revision"),
        mod_revision=_int(kv, "mod_revision"),
    )


def txn_reads(body: Body) -> tuple[bool, KeyValue | None, KeyValue | None]:
    """(succeeded, key, floor) from a ``take_body`` or ``read_body`` answer; the key and
    floor are those its ranges read (``None``: absent, or not read)."""
    ranges = [r["response_range"] for r in body.get("responses") or [] if "response_range" in r]
    key = range_kv(ranges[0]) if ranges else None
    floor = range_kv(ranges[1]) if len(ranges) > 1 else None
    return bool(body.get("succeeded", False)), key, floor
