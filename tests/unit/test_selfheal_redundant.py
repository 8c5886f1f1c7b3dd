"""Issue 12 item 7: what "redundant again" means to the self-heal drills, judged from each
server's view (replicating with no lag, writable, the writer table's checksum)."""

from __future__ import annotations

import pytest

from dualbeat_lab.sandbox import selfheal
from dualbeat_lab.sandbox.selfheal import Scenario, SelfHeal


class _Info:
    class _Node:
        def __init__(self, name: str) -> None:
            self.name = name

    nodes = (_Node("db1"), _Node("db2"))


@pytest.mark.parametrize(
    ("views", "expected"),
    [
        ({"db1": (True, True, "7"), "db2": (True, False, "7")}, True),
        ({"db1": (True, True, "7"), "db2": (False, False, "7")}, False),  # one way only
        ({"db1": (True, True, "7"), "db2": (True, True, "7")}, False),  # two writable
        ({"db1": (True, False, "7"), "db2": (True, False, "7")}, False),  # nobody writable
        ({"db1": (True, True, "7"), "db2": (True, False, "8")}, False),  # data differs
        ({"db1": (True, True, "7"), "db2": None}, False),  # a server down
    ],
)
def test_redundant_needs_both_ways_one_writer_and_equal_data(
    monkeypatch: pytest.MonkeyPatch,
    views: dict[str, tuple[bool, bool, str] | None],
    expected: bool,
) -> None:
    monkeypatch.setattr(selfheal, "_server_view", lambda _info, node: views[node])
    assert selfheal.redundant(_Info()) is expected  # type: ignore[arg-type]


def test_a_run_that_never_got_redundant_needed_an_operator() -> None:
    result = SelfHeal(Scenario.FREEZE, "db1", "db2", None, 0, 1)
    assert result.needed_operator
    assert result.as_json()["in_doubt_commits_on_old_active"] == 1
