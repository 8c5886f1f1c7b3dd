"""The heartbeat codec: round trips, one crafted datagram per drop reason, and fuzzing."""

from __future__ import annotations

import dataclasses
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualbeat.core.roles import Health, Role
from dualbeat.heartbeat import (
    MAX_DATAGRAM,
    VERSION,
    Beat,
    Dropped,
    DropReason,
    codec,
    decode,
    encode,
)
from dualbeat.heartbeat.message import MAX_INT

KEY = b"k" * 32
OTHER_KEY = b"x" * 32
UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"


def beat(**changes: Any) -> Beat:
    base = Beat(
        cluster="orders",
        node="db1",
        boot_id=1_700_000_000_000_000_000,
        seq=1,
        sent_at=1_700_000_000.25,
        epoch=3,
        role=Role.ACTIVE,
        mysql=Health.HEALTHY,
        executed=f"{UUID}:1-100",
        received=f"{UUID}:1-101",
        vip_held=True,
        writable=True,
        yielding=False,
        maintenance=False,
    )
    return dataclasses.replace(base, **changes)


def sign(payload: bytes, key: bytes = KEY, version: int = VERSION) -> bytes:
    """A datagram around any payload, correctly signed: what only a key holder can make."""
    signed = codec.MAGIC + bytes([version]) + payload
    return signed + hmac.digest(key, signed, "sha256")


def fields_of(b: Beat) -> dict[str, Any]:
    return {k: v.value if hasattr(v, "value") else v for k, v in dataclasses.asdict(b).items()}


def sign_json(obj: object, key: bytes = KEY) -> bytes:
    return sign(json.dumps(obj).encode())


def reason(datagram: bytes, key: bytes = KEY, cluster: str = "orders") -> DropReason:
    with pytest.raises(Dropped) as info:
        decode(datagram, key, cluster=cluster)
    return info.value.reason


def test_round_trip() -> None:
    b = beat(
        promise=1.5, ack_boot=7, ack_seq=3, role=Role.STANDBY, mysql=Health.BUSY, yielding=True
    )
    assert decode(encode(b, KEY), KEY, cluster="orders") == b


def test_wire_layout() -> None:
    datagram = encode(beat(), KEY)
    assert datagram[:4] == b"DBHB"
    assert datagram[4] == VERSION == 1
    payload = datagram[5:-32]
    assert json.loads(payload) == fields_of(beat())
    assert payload == json.dumps(fields_of(beat()), sort_keys=True, separators=(",", ":")).encode()
    assert datagram[-32:] == hmac.digest(KEY, datagram[:-32], "sha256")


def test_unicode_is_utf8_not_escaped() -> None:
    datagram = encode(beat(executed="é"), KEY)
    assert "é".encode() in datagram
    assert decode(datagram, KEY, cluster="orders").executed == "é"


def test_encode_refuses_oversize_and_unencodable() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        encode(beat(executed="x" * MAX_DATAGRAM), KEY)
    with pytest.raises(ValueError):
        encode(beat(executed="\ud800"), KEY)


def test_beat_invariants() -> None:
    for bad in (
        {"seq": 0},
        {"boot_id": -1},
        {"epoch": -1},
        {"seq": MAX_INT + 1},
        {"sent_at": float("nan")},
        {"promise": float("inf")},
        {"promise": -1.0},
        {"ack_seq": -1},
    ):
        with pytest.raises(ValueError):
            beat(**bad)


@pytest.mark.parametrize(
    ("datagram", "expected"),
    [
        (b"", DropReason.TRUNCATED),
        (b"DBHB\x01" + b"\0" * 31, DropReason.TRUNCATED),
        (b"XXXX\x01" + b"\0" * 40, DropReason.BAD_MAGIC),
        (b"\x00" * (MAX_DATAGRAM + 1), DropReason.OVERSIZE),
        (sign(b"{}", version=2), DropReason.BAD_VERSION),
        (sign(b"{}", version=0), DropReason.BAD_VERSION),
        (sign(b"{}", key=OTHER_KEY), DropReason.BAD_SIGNATURE),
        (b"DBHB\x01" + b"{}" + b"\0" * 32, DropReason.BAD_SIGNATURE),
        (sign(b""), DropReason.GARBLED),
        (sign(b"{"), DropReason.GARBLED),
        (sign(b"\xff\xfe"), DropReason.GARBLED),
        (sign(b"[1, 2]"), DropReason.GARBLED),
        (sign(b"{}"), DropReason.GARBLED),
        (sign(b"[" * 10_000), DropReason.GARBLED),
        (sign(b'{"a": 1, "a": 2}'), DropReason.GARBLED),
        (encode(beat(cluster="billing"), KEY), DropReason.OTHER_CLUSTER),
    ],
)
def test_each_codec_drop_reason(datagram: bytes, expected: DropReason) -> None:
    assert reason(datagram) is expected


def test_dropped_carries_reason_and_detail() -> None:
    with pytest.raises(Dropped) as info:
        decode(b"short", KEY, cluster="orders")
    assert info.value.reason is DropReason.TRUNCATED
    assert str(info.value) == "truncated: 5 bytes"
    assert str(Dropped(DropReason.OWN)) == "own"


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("seq", "1"),
        ("seq", True),
        ("seq", 1.0),
        ("seq", 0),
        ("seq", -5),
        ("boot_id", 2**64),
        ("boot_id", int("9" * 4000)),
        ("epoch", None),
        ("sent_at", "now"),
        ("sent_at", False),
        ("role", "leader"),
        ("role", 1),
        ("mysql", ["healthy"]),
        ("executed", 7),
        ("node", "\ud800"),
        ("vip_held", 1),
        ("writable", "true"),
        ("promise", "later"),
    ],
)
def test_wrong_field_is_garbled(change: str, value: object) -> None:
    obj = fields_of(beat())
    obj[change] = value
    with pytest.raises(Dropped) as info:
        decode(sign_json(obj), KEY, cluster="orders")
    assert info.value.reason is DropReason.GARBLED
    assert change in info.value.detail


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_are_garbled(constant: bytes) -> None:
    payload = json.dumps(fields_of(beat())).encode()
    crafted = payload.replace(b'"sent_at": 1700000000.25', b'"sent_at": ' + constant)
    assert crafted != payload
    assert reason(sign(crafted)) is DropReason.GARBLED


def test_missing_required_field_is_garbled() -> None:
    obj = fields_of(beat())
    del obj["epoch"]
    with pytest.raises(Dropped, match="epoch: missing"):
        decode(sign_json(obj), KEY, cluster="orders")


def test_newer_peer_extra_fields_ignored_and_optional_fields_default() -> None:
    obj = fields_of(beat())
    obj["lease_holder"] = {"from": "a future version"}
    del obj["promise"]
    assert decode(sign_json(obj), KEY, cluster="orders") == beat()


def test_integer_accepted_for_float_fields() -> None:
    obj = fields_of(beat())
    obj["sent_at"] = 17
    got = decode(sign_json(obj), KEY, cluster="orders")
    assert got.sent_at == 17.0
    assert isinstance(got.sent_at, float)


def test_forged_with_wrong_key() -> None:
    forged = encode(beat(role=Role.ACTIVE, epoch=99), OTHER_KEY)
    assert reason(forged) is DropReason.BAD_SIGNATURE


def test_every_single_bit_flip_is_caught_before_the_parser() -> None:
    datagram = encode(beat(), KEY)
    early = {DropReason.BAD_MAGIC, DropReason.BAD_VERSION, DropReason.BAD_SIGNATURE}
    for i in range(len(datagram) * 8):
        flipped = bytearray(datagram)
        flipped[i // 8] ^= 1 << (i % 8)
        assert reason(bytes(flipped)) in early, i


def test_schema_refuses_a_field_type_without_parser() -> None:
    @dataclasses.dataclass
    class Future:
        when: complex

    with pytest.raises(TypeError, match=r"Future\.when"):
        codec._schema(Future)


# ---------------------------------------------------------------- property tests

names = st.text(min_size=1, max_size=30)
beats = st.builds(
    Beat,
    cluster=names,
    node=names,
    boot_id=st.integers(0, MAX_INT),
    seq=st.integers(1, MAX_INT),
    sent_at=st.floats(allow_nan=False, allow_infinity=False),
    epoch=st.integers(0, MAX_INT),
    role=st.sampled_from(Role),
    mysql=st.sampled_from(Health),
    executed=st.text(max_size=200),
    received=st.text(max_size=200),
    vip_held=st.booleans(),
    writable=st.booleans(),
    yielding=st.booleans(),
    maintenance=st.booleans(),
    promise=st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    ack_boot=st.integers(0, MAX_INT),
    ack_seq=st.integers(0, MAX_INT),
)


@given(beats)
def test_valid_beats_round_trip(b: Beat) -> None:
    assert decode(encode(b, KEY), KEY, cluster=b.cluster) == b


@given(st.binary(max_size=MAX_DATAGRAM + 64))
def test_arbitrary_bytes_only_ever_drop(data: bytes) -> None:
    with pytest.raises(Dropped):
        decode(data, KEY, cluster="orders")


@given(st.binary(max_size=2048))
def test_arbitrary_signed_payloads_only_ever_drop_or_decode(payload: bytes) -> None:
    try:
        decode(sign(payload), KEY, cluster="orders")
    except Dropped as drop:
        assert drop.reason is DropReason.GARBLED


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from([f.name for f in dataclasses.fields(Beat)]), json_values))
def test_signed_json_with_wrong_values_only_ever_drops_or_decodes(changes: dict[str, Any]) -> None:
    obj = {**fields_of(beat()), **changes}
    try:
        got = decode(sign(json.dumps(obj).encode()), KEY, cluster="orders")
    except Dropped as drop:
        assert drop.reason in {DropReason.GARBLED, DropReason.OTHER_CLUSTER}
    else:
        assert decode(encode(got, KEY), KEY, cluster="orders") == got
