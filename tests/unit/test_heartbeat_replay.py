"""The replay window over (boot_id, seq): new, duplicate, reordered, replayed, restarted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualbeat.heartbeat import DropReason, ReplayWindow

DUP, REPLAY = DropReason.DUPLICATE, DropReason.REPLAY


def test_first_beat_is_accepted_whatever_it_is() -> None:
    w = ReplayWindow()
    assert (w.boot_id, w.highest) == (None, 0)
    assert w.check(7, 500) is None
    assert (w.boot_id, w.highest) == (7, 500)


def test_in_order_then_duplicate_copy_from_another_link() -> None:
    w = ReplayWindow()
    for seq in range(1, 10):
        assert w.check(1, seq) is None
        assert w.check(1, seq) is DUP
    assert w.highest == 9


def test_reordering_between_links_within_the_window() -> None:
    w = ReplayWindow()
    assert w.check(1, 10) is None
    assert w.check(1, 8) is None
    assert w.check(1, 9) is None
    assert w.check(1, 8) is DUP
    assert w.check(1, 10) is DUP
    assert w.highest == 10


def test_window_edges() -> None:
    w = ReplayWindow()
    assert w.check(1, 100) is None
    assert w.check(1, 100 - 63) is None  # the oldest seq still inside a 64-wide window
    assert w.check(1, 100 - 63) is DUP
    assert w.check(1, 100 - 64) is REPLAY  # just outside
    assert w.check(1, 1) is REPLAY


def test_window_slides_forward_and_forgets() -> None:
    w = ReplayWindow()
    assert w.check(1, 1) is None
    assert w.check(1, 3) is None  # 2 lost on every link so far
    assert w.check(1, 66) is None  # shift 63: 3 is now at the far edge, 2 just outside
    assert w.check(1, 3) is DUP
    assert w.check(1, 2) is REPLAY
    assert w.check(1, 66 + 64) is None  # a gap wider than the window clears the bitmap
    assert w.check(1, 66 + 1) is None  # inside the window again, and never seen
    assert w.check(1, 66 + 1) is DUP
    assert w.check(1, 66) is REPLAY


def test_restart_resets_and_older_boot_is_a_replay() -> None:
    w = ReplayWindow()
    assert w.check(1, 1000) is None
    assert w.check(2, 1) is None  # the peer restarted: seq starts again
    assert (w.boot_id, w.highest) == (2, 1)
    assert w.check(2, 1) is DUP
    assert w.check(1, 1001) is REPLAY  # a recorded beat of the previous boot
    assert w.check(1, 1000) is REPLAY


def test_custom_size_and_invalid_size() -> None:
    w = ReplayWindow(size=1)
    assert w.check(1, 5) is None
    assert w.check(1, 5) is DUP
    assert w.check(1, 4) is REPLAY
    with pytest.raises(ValueError):
        ReplayWindow(size=0)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 300)), max_size=200))
def test_against_a_model(events: list[tuple[int, int]]) -> None:
    """Each verdict agrees with a set-based model of the rules, which keeps everything."""
    w = ReplayWindow()
    newest: int | None = None
    accepted: set[tuple[int, int]] = set()
    highest = 0
    for boot, seq in events:
        if newest is None or boot > newest:
            expected = None
            newest, highest = boot, seq
        elif boot < newest:
            expected = REPLAY
        elif seq > highest:
            expected, highest = None, seq
        elif seq <= highest - 64:
            expected = REPLAY
        elif (boot, seq) in accepted:
            expected = DUP
        else:
            expected = None
        if expected is None:
            accepted.add((boot, seq))
        assert w.check(boot, seq) is expected, (boot, seq)
        assert (w.boot_id, w.highest) == (newest, highest)
