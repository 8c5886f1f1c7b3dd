"""The promise on the wire: our beats echo the peer's and promise only while the core says
so; the peer's promise is anchored on our own send time of the beat it echoes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dualbeat.agent import beats, statefile
from dualbeat.core.durable import Durable
from dualbeat.core.roles import Role
from dualbeat.core.state import Evidence, NodeState, PeerView
from tests.unit.core_driver import peer_beat
from tests.unit.test_heartbeat_codec import beat


def test_peer_promise_counts_from_our_send_time_of_the_echoed_beat() -> None:
    sent = beats.SentTimes()
    sent.sent(41, 100.0)
    sent.sent(42, 100.2)
    promise = beat(promise=1.5, ack_boot=7, ack_seq=41)
    assert sent.promise_until(promise, boot_id=7) == 101.5


def test_no_promise_from_another_boot_an_unknown_beat_or_a_zero_promise() -> None:
    sent = beats.SentTimes(keep=2)
    for seq, at in ((1, 1.0), (2, 2.0), (3, 3.0)):
        sent.sent(seq, at)
    assert sent.promise_until(beat(promise=1.5, ack_boot=6, ack_seq=3), boot_id=7) is None
    assert sent.promise_until(beat(promise=1.5, ack_boot=7, ack_seq=1), boot_id=7) is None
    assert sent.promise_until(beat(promise=0.0, ack_boot=7, ack_seq=3), boot_id=7) is None
    assert sent.promise_until(beat(promise=1.5, ack_boot=7, ack_seq=3), boot_id=7) == 4.5


def test_outgoing_beat_echoes_the_peer_and_promises_only_when_promising() -> None:
    heard = dataclasses.replace(peer_beat(Role.ACTIVE, node="db1"), boot_id=9)
    state = NodeState(role=Role.STANDBY, peer=PeerView(beat=heard, seq=17))
    quiet = beats.outgoing("orders", "db2", state, 3, promise=1.5)
    assert (quiet.ack_boot, quiet.ack_seq, quiet.promise) == (9, 17, 0.0)
    promising = dataclasses.replace(state, evidence=Evidence(promising=True))
    assert beats.outgoing("orders", "db2", promising, 4, promise=1.5).promise == 1.5


def test_incoming_beat_carries_its_seq_and_our_anchored_promise() -> None:
    got = beats.incoming(beat(seq=5, promise=1.5), "mariadb", promise_until=12.0, our_boot=0)
    assert got.seq == 5 and got.promise_until == 12.0


def test_state_file_keeps_the_high_water_mark(tmp_path: Path) -> None:
    durable = Durable(epoch=3, highest_seen=3, high_water="0-1-20,0-2-5")
    statefile.save(tmp_path, durable)
    assert statefile.load(tmp_path) == durable
