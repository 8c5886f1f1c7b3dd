"""Fuzz targets and structure-aware mutators for the heartbeat codec and the config loader.

Shared by the hypothesis tests next to this file (modest example counts, in every run)
and ``bench/fuzz.py`` (a million inputs). Each ``check_*`` function feeds one input to
the code under test and raises ``AssertionError`` when an oracle fails; any exception
other than the documented ones (``Dropped`` from the codec, ``ConfigError`` from the
loader) escapes as a crash. Each returns a short outcome label, for the tallies.

Oracles:

* codec, unsigned input (random bytes, or a valid datagram mutated without the key): it
  is dropped, unless it is byte-for-byte a datagram we signed, which must decode to the
  beat we signed: **zero accepted forgeries**;
* codec, datagrams signed with a wrong key (another key, a key one bit off, a prefix of
  the key): always ``bad_signature``;
* codec, mutated payloads *signed with the key* (what a buggy or newer peer could send):
  a Beat or a drop, and a Beat that comes out re-encodes to a datagram that decodes to
  the same Beat (no value the codec accepts is one it cannot send);
* config, mutated documents (values of the wrong type, missing and unknown keys, odd
  strings, nested tables) and mutated text: a ``Config`` or a ``ConfigError`` whose
  message starts with the source name (the operator is told which file).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import json
import math
import random
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dualbeat.config import Config, loads
from dualbeat.core.roles import Health, Role
from dualbeat.errors import ConfigError
from dualbeat.heartbeat import Beat, Dropped, decode, encode
from dualbeat.heartbeat.codec import MAC_SIZE, MAGIC, VERSION
from tests.unit.test_config import BASE

KEY = bytes(range(32))
CLUSTER = "orders"
CODEC_DROPS = frozenset(
    {
        "truncated",
        "bad_magic",
        "bad_version",
        "bad_signature",
        "garbled",
        "other_cluster",
        "oversize",
    }
)


def beat(rng: random.Random) -> Beat:
    """A valid beat with varied field values."""
    uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
    return Beat(
        cluster=CLUSTER,
        node=rng.choice(["db1", "db2", "n\u00e9", "x" * rng.randrange(1, 60)]),
        boot_id=rng.randrange(0, 2**63),
        seq=rng.randrange(1, 2**63),
        sent_at=rng.uniform(0, 2e9),
        epoch=rng.randrange(0, 2**63),
        role=rng.choice(list(Role)),
        mysql=rng.choice(list(Health)),
        executed=f"{uuid}:1-{rng.randrange(1, 10**9)}",
        received=rng.choice(["", f"0-1-{rng.randrange(1, 10**6)},1-2-3"]),
        vip_held=rng.random() < 0.5,
        writable=rng.random() < 0.5,
        yielding=rng.random() < 0.1,
        maintenance=rng.random() < 0.1,
        maintenance_version=rng.randrange(0, 2**63),
        promise=rng.choice([0.0, rng.uniform(0, 60)]),
        ack_boot=rng.randrange(0, 2**63),
        ack_seq=rng.randrange(0, 2**63),
        wants_takeover=rng.random() < 0.1,
        lag=rng.randrange(-1, 10**6),
    )


def sign(payload: bytes, key: bytes = KEY, version: int = VERSION) -> bytes:
    signed = MAGIC + bytes([version]) + payload
    return signed + hmac.digest(key, signed, "sha256")


# --- byte-level mutation -------------------------------------------------------------------


def mutate_bytes(rng: random.Random, data: bytes, donor: bytes = b"") -> bytes:
    """1-4 edits: bit flip, byte set, insert, delete, truncate, extend, splice from ``donor``,
    or the MAC of ``donor`` put in place of ours."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif op == 2:
            out[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and out:
            del out[pos : pos + rng.randint(1, 8)]
        elif op == 4:
            del out[rng.randrange(len(out) + 1) :]
        elif op == 5:
            out += rng.randbytes(rng.randint(1, 64))
        elif op == 6 and donor:
            i = rng.randrange(len(donor))
            out[pos:pos] = donor[i : i + rng.randint(1, 32)]
        elif op == 7 and donor and len(out) >= MAC_SIZE:
            out[-MAC_SIZE:] = donor[-MAC_SIZE:]
        elif op == 8 and out:
            i = rng.randrange(len(out))
            out[i] = rng.choice([0, 0x7F, 0x80, 0xFF, ord('"'), ord("\\"), ord("{")])
    return bytes(out)


# --- JSON-level mutation (structure-aware) ------------------------------------------------

_ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2**63 - 1, 2**63, -(2**63), 2**64, 10**30, 0.5, -0.0, 1e308,
    "", "x", "\u0000", "\ud800", "\U0001f600", "active", "healthy", "a" * 5000,
    [], [1], {}, {"a": 1}, [[[[[]]]]],
]  # fmt: skip


def odd_value(rng: random.Random) -> Any:
    if rng.random() < 0.7:
        return rng.choice(_ODD_VALUES)
    return rng.choice(
        [rng.randrange(-(2**70), 2**70), rng.uniform(-1e300, 1e300), rng.randbytes(8).hex()]
    )


def mutate_fields(rng: random.Random, fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        name = rng.choice(list(out) or ["cluster"])
        if op == 0:
            out[name] = copy.deepcopy(odd_value(rng))
        elif op == 1:
            out.pop(name, None)
        elif op == 2:
            out[rng.choice(["extra", "future_field", name + "_"])] = copy.deepcopy(odd_value(rng))
        else:
            other = rng.choice(list(out) or [name])
            out[name], out[other] = out.get(other), out.get(name)
    return out


def payload_of(fields: dict[str, Any], rng: random.Random) -> bytes:
    """Fields as JSON text, sometimes non-canonical (spaces, escapes, a duplicate key, NaN)."""
    text = json.dumps(fields, sort_keys=rng.random() < 0.5, ensure_ascii=rng.random() < 0.5)
    variant = rng.randrange(6)
    if variant == 0 and fields:
        key = rng.choice(list(fields))
        text = text[:-1] + f', "{key}": {json.dumps(odd_value(rng))}}}'
    elif variant == 1:
        text = text.replace("0", "NaN", 1)
    elif variant == 2:
        text = " " + text + "\n"
    return text.encode("utf-8", errors="surrogatepass")


def fields_of(b: Beat) -> dict[str, Any]:
    return {
        f.name: getattr(b, f.name).value
        if hasattr(getattr(b, f.name), "value")
        else getattr(b, f.name)
        for f in dataclasses.fields(b)
    }


# --- codec checks --------------------------------------------------------------------------


def _decode(data: bytes, key: bytes = KEY) -> Beat | str:
    try:
        return decode(data, key, cluster=CLUSTER)
    except Dropped as exc:
        assert exc.reason.value in CODEC_DROPS, f"codec gave link-level reason {exc.reason}"
        return exc.reason.value


def check_unsigned(data: bytes, original: bytes | None = None, beat_: Beat | None = None) -> str:
    """Bytes an attacker made without the key: dropped unless identical to ``original``."""
    got = _decode(data)
    if isinstance(got, Beat):
        assert original is not None and data == original, f"FORGERY ACCEPTED: {data!r:.200}"
        assert got == beat_, "the signed datagram decoded to another beat"
        return "accepted_identical"
    return got


def hmac_key_block(key: bytes) -> bytes:
    """The block HMAC-SHA256 really uses for ``key`` (RFC 2104): hashed when longer than 64
    bytes, then zero-padded to 64. Keys with the same block are the same key: ``K`` and
    ``K + b"\0"`` sign alike, which is HMAC's design, not a forgery."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    return key.ljust(64, b"\0")


def check_wrong_key(b: Beat, key: bytes) -> str:
    got = _decode(encode(b, key))
    if hmac_key_block(key) == hmac_key_block(KEY):
        assert got == b, "a key equivalent under HMAC must sign like the key itself"
        return "hmac_equivalent_key"
    assert got == "bad_signature", f"datagram signed with a wrong key gave {got!r}"
    return got


def check_signed(payload: bytes, version: int = VERSION) -> str:
    """A payload signed with the key: a Beat (which must survive a round trip) or a drop."""
    got = _decode(sign(payload, version=version))
    if isinstance(got, str):
        return got
    assert got.cluster == CLUSTER
    for name in ("sent_at", "promise"):
        assert math.isfinite(getattr(got, name))
    again = _decode(encode(got, KEY))
    assert again == got, f"accepted beat does not survive a round trip: {got!r:.200}"
    return "accepted_signed"


# --- config --------------------------------------------------------------------------------

# The unit tests' valid configuration is the fuzzer's seed.
CONFIG = BASE


def config_files(directory: Path) -> str:
    """Write the key and password files into ``directory``; the config text naming them."""
    key = directory / "hb.key"
    key.write_bytes(bytes(range(32)))
    key.chmod(0o600)
    pw = directory / "mysql.pass"
    pw.write_text("pw\n")
    pw.chmod(0o600)
    return CONFIG.format(dir=directory)


def toml_value(value: Any) -> str:
    """``value`` as a TOML value (inline tables and arrays): enough to render any document."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items())
            + "}"
        )
    if value is None:
        return '""'
    return json.dumps(str(value))


def render(doc: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(str(k))} = {toml_value(v)}\n" for k, v in doc.items())


_CONFIG_ODD: list[Any] = [
    "", "0", "-1s", "1.5", "200", "0ms", "1e9s", "nan", "10.1.0.11", "10.1.0.100/33", "/nope",
    "::1", "db1", "eth0" * 10, "\u0000", 0, -5, 2**63, 1.5, float("nan"), float("inf"), True,
    [], ["db1"], {}, {"name": "db3"}, [{"name": "db3", "address": "10.1.0.13"}],
]  # fmt: skip


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def mutate_config(rng: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    """1-3 edits of a parsed config: replace, delete or add a key anywhere in the tree."""
    out: dict[str, Any] = json.loads(json.dumps(doc))
    for _ in range(rng.randint(1, 3)):
        paths = _paths(out)
        if not paths:
            break
        path = rng.choice(paths)
        parent: Any = out
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        op = rng.randrange(3)
        # a copy: the pools hold lists and dicts that must not end up inside themselves
        value = copy.deepcopy(rng.choice(_CONFIG_ODD) if rng.random() < 0.8 else odd_value(rng))
        if op == 0:
            parent[last] = value
        elif op == 1:
            del parent[last]
        elif isinstance(parent, dict):
            parent[rng.choice(["extra", "keepalive", "deadtime", "port", str(last) + "x"])] = value
        else:
            parent.append(value)
    return out


def check_config(text: str, source: Path = Path("fuzz.toml")) -> str:
    """Load ``text``: a Config, or a ConfigError naming ``source``; anything else escapes."""
    try:
        config = loads(text, source)
    except ConfigError as exc:
        assert str(exc).startswith(str(source)), f"error does not name the file: {exc}"
        return "config_error"
    assert isinstance(config, Config)
    return "loaded"


def base_config(directory: Path) -> dict[str, Any]:
    return tomllib.loads(config_files(directory))


Check = Callable[[random.Random], str]
