"""The etcd arbiter against a real etcd: the witness namespace of the sandbox, reached from
the db1 and db2 namespaces exactly as the agents reach it."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from dualbeat.arbiter import Arbiter, ArbiterUnavailable, open_arbiter
from dualbeat.config import ArbiterConfig
from dualbeat_lab.sandbox import faults, lab

from .conftest import STATE
from .labtools import inside, wait_for

pytestmark = pytest.mark.integration

TTL = 2.0
TIMEOUT = 0.5


@pytest.fixture(scope="module")
def witness_lab() -> Iterator[lab.LabInfo]:
    lab.down(STATE)
    info = lab.up(STATE, lambda msg: print(msg, file=sys.stderr), arbiter=True)
    yield info
    faults.heal_all(info.lab)
    lab.down(STATE)


@pytest.fixture
def cfg(witness_lab: lab.LabInfo) -> ArbiterConfig:
    """A fresh key per test, so no test sees another's lease."""
    return ArbiterConfig(
        endpoints=witness_lab.arbiter_endpoints,
        key=f"/dualbeat/test-{uuid.uuid4().hex[:8]}/active",
        ttl=TTL,
        timeout=TIMEOUT,
    )


@pytest.fixture
def db1(cfg: ArbiterConfig) -> Iterator[Arbiter]:
    arbiter = open_arbiter(cfg)
    yield arbiter
    arbiter.close()


@pytest.fixture
def db2(cfg: ArbiterConfig) -> Iterator[Arbiter]:
    arbiter = open_arbiter(cfg)
    yield arbiter
    arbiter.close()


def holder(node: str, arbiter: Arbiter) -> str | None:
    with inside(node):
        return arbiter.view().holder


def test_one_node_acquires_the_other_is_refused_release_frees(db1: Arbiter, db2: Arbiter) -> None:
    with inside("db1"):
        before = time.monotonic()
        grant = db1.acquire("db1", 7)
        after = time.monotonic()
    assert grant is not None and (grant.holder, grant.epoch, grant.ttl) == ("db1", 7, TTL)
    assert before + TTL <= grant.valid_until <= after + TTL
    with inside("db2"):
        assert db2.acquire("db2", 8) is None
        view = db2.view()
    assert (view.holder, view.epoch) == ("db1", 7)
    with inside("db1"):
        db1.release()
        db1.release()  # idempotent
    assert holder("db2", db2) is None
    with inside("db2"):
        taken = db2.acquire("db2", 8)
    assert taken is not None and taken.holder == "db2"
    assert holder("db1", db1) == "db2"


def test_a_released_epoch_is_never_granted_to_the_other_node(db1: Arbiter, db2: Arbiter) -> None:
    """Releasing the key deletes it with its epoch; the floor beside it keeps that epoch,
    so db2 (which may never have heard of db1's term) is refused at it and told it."""
    with inside("db1"):
        assert db1.acquire("db1", 1) is not None
        db1.release()
    with inside("db2"):
        assert db2.acquire("db2", 1) is None
        view = db2.view()
        assert (view.holder, view.epoch) == (None, 1)
        grant = db2.acquire("db2", 2)
    assert grant is not None and (grant.holder, grant.epoch) == ("db2", 2)
    with inside("db1"):
        assert db1.acquire("db1", 2) is None
        assert (db1.view().holder, db1.view().epoch) == ("db2", 2)


def test_lease_expiry_frees_the_key_after_ttl(db1: Arbiter, db2: Arbiter) -> None:
    with inside("db1"):
        grant = db1.acquire("db1", 1)
    assert grant is not None
    wait_for(lambda: holder("db2", db2) is None, TTL + 3, "the unrenewed key to expire")
    # etcd never frees it before the holder's conservative deadline.
    assert time.monotonic() >= grant.valid_until
    with inside("db1"):
        assert db1.renew() is None
    with inside("db2"):
        assert db2.acquire("db2", 2) is not None


def test_renewal_keeps_the_key_past_several_ttls(db1: Arbiter, db2: Arbiter) -> None:
    with inside("db1"):
        grant = db1.acquire("db1", 3)
    assert grant is not None
    end = time.monotonic() + 2.5 * TTL
    while time.monotonic() < end:
        time.sleep(TTL / 3)
        with inside("db1"):
            renewed = db1.renew()
        assert renewed is not None and renewed.valid_until > grant.valid_until
        grant = renewed
        assert holder("db2", db2) == "db1"
    with inside("db2"):
        assert db2.acquire("db2", 4) is None


def test_a_restarted_holder_reattaches_and_the_old_handle_loses_it(
    cfg: ArbiterConfig, db1: Arbiter
) -> None:
    with inside("db1"):
        assert db1.acquire("db1", 5) is not None
        restarted = open_arbiter(cfg)
        try:
            grant = restarted.acquire("db1", 6)
            assert grant is not None and grant.epoch == 6
            assert restarted.view().epoch == 6
            assert db1.renew() is None  # the key moved to the new lease
            assert restarted.renew() is not None
        finally:
            restarted.close()


def test_etcd_down_is_arbiter_unavailable_quickly(witness_lab: lab.LabInfo, db1: Arbiter) -> None:
    with inside("db1"):
        assert db1.acquire("db1", 9) is not None
    faults.stop_witness(witness_lab.lab)
    try:
        with inside("db1"):
            for call in (db1.view, db1.renew, lambda: db1.acquire("db1", 10)):
                started = time.monotonic()
                with pytest.raises(ArbiterUnavailable, match="etcd gave no answer"):
                    call()
                assert time.monotonic() - started < 3 * TIMEOUT
    finally:
        faults.start_witness(witness_lab.lab)


def test_unreachable_etcd_times_out_within_the_budget(
    witness_lab: lab.LabInfo, db1: Arbiter
) -> None:
    faults.isolate(witness_lab.lab, "witness")
    try:
        with inside("db1"):
            started = time.monotonic()
            with pytest.raises(ArbiterUnavailable, match="timed out"):
                db1.view()
            assert time.monotonic() - started < 3 * TIMEOUT
    finally:
        faults.heal_all(witness_lab.lab)
    with inside("db1"):
        assert db1.view().holder is None
