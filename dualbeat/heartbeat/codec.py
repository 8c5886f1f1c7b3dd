"""Beats to datagrams and back: framing, HMAC-SHA256, strict JSON. Pure: no sockets, no clock.

Wire format (one UDP datagram, at most ``MAX_DATAGRAM`` bytes)::

    MAGIC b"DBHB" | VERSION (1 byte) | JSON payload | HMAC-SHA256 over all before it (32 bytes)

The payload is compact JSON with sorted keys in UTF-8, one key per ``Beat`` field, enums as
their values. Why JSON and not struct packing: a field is added by adding it to ``Beat``
with a default, and both an older and a newer peer keep reading each other (unknown keys
are ignored, missing optional keys default); ``VERSION`` moves only for incompatible
changes. At 200 ms intervals a few hundred bytes of JSON cost nothing.

Order of checks in ``decode``: size, magic, version, then the MAC (``hmac.compare_digest``,
constant time), and only then the JSON parser and the field checks, so unauthenticated
bytes never reach the parser; the cluster name is compared last. Every failure is a
``Dropped`` carrying a ``DropReason``; no other exception leaves ``decode``, whatever the
bytes (a hypothesis test feeds it arbitrary and arbitrary-but-signed input).
"""

from __future__ import annotations

import dataclasses
import enum
import hmac
import json
import typing
from collections.abc import Callable
from typing import Any

from dualbeat.heartbeat.message import Beat

MAGIC = b"DBHB"
VERSION = 1
MAC_SIZE = 32
MAX_DATAGRAM = 16 * 1024
_HEADER = len(MAGIC) + 1
_DIGEST = "sha256"


class DropReason(enum.Enum):
    """Why a datagram was not turned into a beat for the agent.

    The codec gives the first seven; the receive path in ``link`` adds the last four.
    ``DUPLICATE`` is normal (one copy per link); ``BAD_SIGNATURE`` from a live peer
    usually means the two key files differ; ``OWN`` means the peer believes it is us.
    """

    TRUNCATED = "truncated"  # shorter than magic + version + MAC
    BAD_MAGIC = "bad_magic"  # not a dualbeat heartbeat at all
    BAD_VERSION = "bad_version"  # a wire format we do not speak
    BAD_SIGNATURE = "bad_signature"  # the HMAC does not verify: wrong key, forged, damaged
    GARBLED = "garbled"  # authenticated, but the payload is not a valid Beat
    OTHER_CLUSTER = "other_cluster"  # authenticated, valid, for another cluster
    OVERSIZE = "oversize"  # longer than MAX_DATAGRAM
    REPLAY = "replay"  # older than the replay window or from an older boot
    DUPLICATE = "duplicate"  # seen already (normally: its copy on another link)
    OWN = "own"  # carries our own node name
    UNKNOWN_NODE = "unknown_node"  # not from our configured peer


class Dropped(Exception):
    """A datagram was rejected; ``reason`` says why, ``detail`` helps a human debug it."""

    def __init__(self, reason: DropReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


def encode(beat: Beat, key: bytes) -> bytes:
    """The signed datagram for ``beat``; ValueError if it would exceed ``MAX_DATAGRAM``.

    Strings that UTF-8 cannot encode (lone surrogates) are a ValueError too.
    """
    fields = {name: getattr(beat, name) for name in _NAMES}
    for name in _ENUMS:
        fields[name] = fields[name].value
    payload = _ENCODER.encode(fields).encode("utf-8")
    signed = MAGIC + bytes([VERSION]) + payload
    datagram = signed + hmac.digest(key, signed, _DIGEST)
    if len(datagram) > MAX_DATAGRAM:
        raise ValueError(
            f"heartbeat of {len(datagram)} bytes exceeds {MAX_DATAGRAM}: "
            "are the GTID sets carrying hundreds of server UUIDs?"
        )
    return datagram


def decode(datagram: bytes, key: bytes, *, cluster: str) -> Beat:
    """The Beat in ``datagram`` if it is authentic, well formed and ours; else ``Dropped``."""
    if len(datagram) > MAX_DATAGRAM:
        raise Dropped(DropReason.OVERSIZE, f"{len(datagram)} bytes")
    if len(datagram) < _HEADER + MAC_SIZE:
        raise Dropped(DropReason.TRUNCATED, f"{len(datagram)} bytes")
    if datagram[: len(MAGIC)] != MAGIC:
        raise Dropped(DropReason.BAD_MAGIC)
    if datagram[len(MAGIC)] != VERSION:
        raise Dropped(DropReason.BAD_VERSION, f"version {datagram[len(MAGIC)]}")
    signed, mac = datagram[:-MAC_SIZE], datagram[-MAC_SIZE:]
    if not hmac.compare_digest(mac, hmac.digest(key, signed, _DIGEST)):
        raise Dropped(DropReason.BAD_SIGNATURE)
    beat = _parse(signed[_HEADER:])
    if beat.cluster != cluster:
        raise Dropped(DropReason.OTHER_CLUSTER, f"cluster {beat.cluster!r}")
    return beat


# ---------------------------------------------------------------- payload <-> Beat


def _garbled(name: str, what: str, value: object) -> Dropped:
    return Dropped(DropReason.GARBLED, f"{name}: expected {what}, got {value!r:.60}")


def _str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise _garbled(name, "a string", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _garbled(name, "valid Unicode", value) from None
    return value


def _int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _garbled(name, "an integer", value)
    return value


def _float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _garbled(name, "a number", value)
    return float(value)


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _garbled(name, "true or false", value)
    return value


def _enum(cls: type[enum.Enum]) -> Callable[[str, object], object]:
    values = {member.value: member for member in cls}

    def parse(name: str, value: object) -> object:
        if not isinstance(value, str) or value not in values:
            raise _garbled(name, f"one of {sorted(values)}", value)
        return values[value]

    return parse


_PARSERS: dict[object, Callable[[str, object], object]] = {
    str: _str,
    int: _int,
    float: _float,
    bool: _bool,
}


def _schema(cls: type[Any]) -> tuple[tuple[str, Callable[[str, object], object], bool], ...]:
    """(name, parser, required) for each field of ``cls``; fails at import for a new type."""
    hints = typing.get_type_hints(cls)
    schema = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            parser = _enum(kind)
        elif kind in _PARSERS:
            parser = _PARSERS[kind]
        else:
            raise TypeError(f"codec has no parser for {cls.__name__}.{f.name} of type {kind!r}")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        schema.append((f.name, parser, required))
    return tuple(schema)


_SCHEMA = _schema(Beat)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return obj


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number a heartbeat may carry")


# What ``encode`` and ``_parse`` need per beat, built once: the field names (sorted, so the
# payload's keys come out sorted as before), the enum-valued ones (written as their
# values), and the JSON encoder and decoder with their options (``json.dumps`` and
# ``json.loads`` build a new one on every call that passes options).
_HINTS = typing.get_type_hints(Beat)
_NAMES = tuple(sorted(f.name for f in dataclasses.fields(Beat)))
_ENUMS = tuple(
    name
    for name in _NAMES
    if isinstance(_HINTS[name], type) and issubclass(_HINTS[name], enum.Enum)
)
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def _parse(payload: bytes) -> Beat:
    """The Beat in an authenticated payload, or Dropped(GARBLED)."""
    try:
        obj = _DECODER.decode(payload.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise Dropped(DropReason.GARBLED, f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise _garbled("payload", "a JSON object", obj)
    values: dict[str, Any] = {}
    for name, parser, required in _SCHEMA:
        if name in obj:
            values[name] = parser(name, obj[name])
        elif required:
            raise Dropped(DropReason.GARBLED, f"{name}: missing")
    try:
        return Beat(**values)
    except ValueError as exc:
        raise Dropped(DropReason.GARBLED, str(exc)) from None
