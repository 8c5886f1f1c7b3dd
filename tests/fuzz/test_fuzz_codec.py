"""Structure-aware fuzzing of the heartbeat codec in the normal suite (hypothesis drives the
seeds of the mutators in ``targets``; ``bench/fuzz.py`` runs the same checks a million times)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from dualbeat.heartbeat import encode
from dualbeat.heartbeat.codec import VERSION
from tests.fuzz import targets

seeds = st.integers(min_value=0, max_value=2**64)


@settings(max_examples=400)
@given(seeds)
def test_mutated_signed_datagrams_are_dropped_unless_identical(seed: int) -> None:
    rng = random.Random(seed)
    b, donor = targets.beat(rng), targets.beat(rng)
    original = encode(b, targets.KEY)
    mutated = targets.mutate_bytes(rng, original, encode(donor, targets.KEY))
    outcome = targets.check_unsigned(mutated, original, b)
    assert (outcome == "accepted_identical") == (mutated == original)


@settings(max_examples=200)
@given(seeds, st.binary(min_size=0, max_size=64))
def test_beats_signed_with_any_other_key_are_bad_signatures(seed: int, key: bytes) -> None:
    rng = random.Random(seed)
    if targets.hmac_key_block(key) == targets.hmac_key_block(targets.KEY):
        key = b"x" + key
    assert targets.check_wrong_key(targets.beat(rng), key) == "bad_signature"


def test_keys_equal_under_hmac_padding_sign_alike() -> None:
    """Documented, not a forgery: HMAC zero-pads short keys, so K and K + NUL are one key."""
    b = targets.beat(random.Random(0))
    assert targets.check_wrong_key(b, targets.KEY + b"\0\0") == "hmac_equivalent_key"


def test_a_key_one_bit_off_is_a_bad_signature() -> None:
    rng = random.Random(0)
    for i in range(len(targets.KEY) * 8):
        key = bytearray(targets.KEY)
        key[i // 8] ^= 1 << (i % 8)
        assert targets.check_wrong_key(targets.beat(rng), bytes(key)) == "bad_signature"


@settings(max_examples=400)
@given(seeds)
def test_mutated_payloads_signed_with_the_key_decode_or_drop(seed: int) -> None:
    rng = random.Random(seed)
    fields = targets.mutate_fields(rng, targets.fields_of(targets.beat(rng)))
    outcome = targets.check_signed(targets.payload_of(fields, rng))
    assert outcome in targets.CODEC_DROPS | {"accepted_signed"}


def test_the_mutators_reach_every_outcome() -> None:
    """A fuzzer that never gets past the MAC, or never gets a mutant accepted, tests little."""
    rng = random.Random(1)
    seen = set()
    for _ in range(3000):
        b = targets.beat(rng)
        signed = encode(b, targets.KEY)
        seen.add(targets.check_unsigned(targets.mutate_bytes(rng, signed), signed, b))
        fields = targets.mutate_fields(rng, targets.fields_of(b))
        seen.add(targets.check_signed(targets.payload_of(fields, rng)))
    seen.add(targets.check_signed(b"{}", version=VERSION + 1))
    assert {"truncated", "bad_magic", "bad_version", "bad_signature", "garbled"} <= seen
    assert {"accepted_signed", "other_cluster"} <= seen
