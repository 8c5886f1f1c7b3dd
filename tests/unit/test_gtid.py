"""GTID set algebra: real server outputs, error messages, canonical forms, and set laws.

The property tests check every operation against a plain Python ``set`` model of the same
transactions (built from the generated text, independently of the parser), plus the algebraic laws
the fail-back logic relies on.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualbeat.core.gtid import (
    GtidParseError,
    GtidSet,
    MariadbGtidSet,
    MysqlGtidSet,
    parse_gtid_set,
)

U1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
U2 = "2174b383-5441-11e8-b90a-c80aa9429562"
U3 = "00000000-0000-0000-0000-000000000001"

# No example database: nothing written into the work tree, runs stay well under the time budget.
prop = settings(max_examples=100, deadline=None, database=None)

MysqlModel = set[tuple[str, str, int]]
MariadbModel = set[tuple[int, int]]


# --- strategies -----------------------------------------------------------------------------------


def _span(draw: st.DrawFn) -> tuple[int, int]:
    start = draw(st.integers(1, 40))
    return start, start + draw(st.integers(0, 6))


@st.composite
def mysql_text(draw: st.DrawFn) -> tuple[str, MysqlModel]:
    """Non-canonical MySQL text (mixed case, overlaps, repeated uuids, 7-7) and its model."""
    entries: list[str] = []
    model: MysqlModel = set()
    for _ in range(draw(st.integers(0, 5))):
        uuid = draw(st.sampled_from([U1, U2, U3]))
        tokens = [uuid.upper() if draw(st.booleans()) else uuid]
        tags = draw(st.lists(st.sampled_from(["", "alpha", "_b1"]), min_size=1, max_size=3))
        for tag in sorted(set(tags), key=lambda t: t != ""):  # untagged intervals come first
            if tag:
                tokens.append(tag.upper() if draw(st.booleans()) else tag)
            for _ in range(draw(st.integers(1, 3))):
                start, end = _span(draw)
                single = start == end and draw(st.booleans())
                tokens.append(str(start) if single else f"{start}-{end}")
                model.update((uuid, tag, n) for n in range(start, end + 1))
        entries.append(":".join(tokens))
    return draw(st.sampled_from([",", ", ", ",\n"])).join(entries), model


@st.composite
def mariadb_text(draw: st.DrawFn) -> tuple[str, MariadbModel]:
    """MariaDB text mixing positions, binlog_state-style repeats and ``a..b`` ranges."""
    entries: list[str] = []
    model: MariadbModel = set()
    for _ in range(draw(st.integers(0, 5))):
        domain, server = draw(st.integers(0, 3)), draw(st.integers(1, 3))
        if draw(st.booleans()):
            seq = draw(st.integers(0, 40))
            entries.append(f"{domain}-{server}-{seq}")
            model.update((domain, n) for n in range(1, seq + 1))
        else:
            start, end = _span(draw)
            entries.append(f"{domain}-{server}-{start}..{end}")
            model.update((domain, n) for n in range(start, end + 1))
    return ",".join(entries), model


mysql_sets = mysql_text().map(lambda tm: MysqlGtidSet.parse(tm[0]))
mariadb_sets = mariadb_text().map(lambda tm: MariadbGtidSet.parse(tm[0]))


def same_family(n: int) -> st.SearchStrategy[tuple[GtidSet, ...]]:
    def of(family: st.SearchStrategy[GtidSet]) -> st.SearchStrategy[tuple[GtidSet, ...]]:
        return st.lists(family, min_size=n, max_size=n).map(tuple)

    return st.one_of(of(mysql_sets), of(mariadb_sets))


# --- parsing real server output -------------------------------------------------------------------


def test_mysql_multi_uuid_with_newlines() -> None:
    text = f"{U2}:1-5,\n{U1.upper()}:1-3:5:7-9"
    gtids = MysqlGtidSet.parse(text)
    assert gtids.format() == f"{U2}:1-5,{U1}:1-3:5:7-9"
    assert gtids.count() == 5 + 3 + 1 + 3
    assert gtids.sources() == (U2, U1)


def test_mysql_tagged_84() -> None:
    gtids = MysqlGtidSet.parse(f"{U1}:1-5:Zeta:3:alpha:1-2:4, {U1}:6:alpha:3")
    assert gtids.format() == f"{U1}:1-6:alpha:1-4:zeta:3"
    assert (U1, "zeta", 3) in set(gtids)
    assert list(gtids.intervals()) == [(U1, "", 1, 6), (U1, "alpha", 1, 4), (U1, "zeta", 3, 3)]


def test_mysql_tag_only_uuid() -> None:
    assert MysqlGtidSet.parse(f"{U1}:t:1").format() == f"{U1}:t:1"


def test_mysql_iterates_gtids() -> None:
    assert list(MysqlGtidSet.parse(f"{U1}:3-4:t:9")) == [(U1, "", 3), (U1, "", 4), (U1, "t", 9)]


def test_mysql_canonical_merging() -> None:
    gtids = MysqlGtidSet.parse(f"{U1}:9-12:1-5:6:7-7:8, {U1}:20")
    assert gtids.format() == f"{U1}:1-12:20"


def test_mariadb_multi_domain() -> None:
    gtids = MariadbGtidSet.parse("1-2-5,0-1-100")
    assert gtids.format() == "0-1-100,1-2-5"
    assert gtids.position() == "0-1-100,1-2-5"
    assert gtids.domains() == (0, 1)
    assert (gtids.last_seq(0), gtids.last_seq(1), gtids.last_seq(7)) == (100, 5, 0)
    assert gtids.count() == 105


def test_mariadb_binlog_state_keeps_highest_server() -> None:
    gtids = MariadbGtidSet.parse("0-1-100,0-2-120,0-3-90")
    assert gtids.format() == "0-2-120"
    assert gtids.server_id(0) == 2
    assert gtids.server_id(5) is None


def test_mariadb_zero_seq_is_empty_domain() -> None:
    assert MariadbGtidSet.parse("0-1-0,1-1-3").format() == "1-1-3"


def test_mariadb_holes_have_explicit_form() -> None:
    diff = MariadbGtidSet.parse("0-1-100,1-2-5") - MariadbGtidSet.parse("0-1-95,1-2-2")
    assert diff.format() == "0-1-96..100,1-2-3..5"
    assert list(diff.intervals()) == [(0, 96, 100), (1, 3, 5)]
    assert list(MariadbGtidSet.parse("0-1-7..7")) == [(0, 7)]
    with pytest.raises(ValueError, match="not a position"):
        diff.position()


def test_mariadb_server_id_follows_last_seq() -> None:
    old, new = MariadbGtidSet.parse("0-1-100"), MariadbGtidSet.parse("0-2-110")
    assert (old | new).server_id(0) == 2
    assert (new | old).server_id(0) == 2
    assert (new - old).format() == "0-2-101..110"
    assert (old & new).server_id(0) == 1


@pytest.mark.parametrize("text", ["", "   ", "\n", " , "])
@pytest.mark.parametrize("family", ["mysql", "mariadb"])
def test_empty(text: str, family: str) -> None:
    gtids = parse_gtid_set(text, "mysql" if family == "mysql" else "mariadb")
    assert gtids.is_empty()
    assert not gtids
    assert gtids.count() == 0
    assert gtids.format() == str(gtids) == ""
    assert gtids == (MysqlGtidSet() if family == "mysql" else MariadbGtidSet())


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("abc", "'abc'"),
        (f"{U1}:0", "'0'"),
        (f"{U1}:5-3", "'5-3'"),
        (f"{U1}:1-5,{U2}:x-y", "'x-y'"),
        (f"{U1}:1:tag", "'tag'"),
        (f"{U1}:a:b:1", "'a'"),
        (U1, U1),
        (f"{U1}:{2**63}", str(2**63)),
        (f"{U1[:-1]}g:1", f"'{U1[:-1]}g'"),
    ],
)
def test_mysql_errors_quote_bad_part(text: str, quoted: str) -> None:
    with pytest.raises(GtidParseError, match=re.escape(quoted)):
        MysqlGtidSet.parse(text)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("0-1", "'0-1'"),
        ("x-1-2", "'x-1-2'"),
        ("0-1-100,abc", "'abc'"),
        ("0-1-5..3", "'0-1-5..3'"),
        ("0-1-0..3", "'0-1-0..3'"),
        (f"0-1-{2**64}", str(2**64)),
        (f"{2**32}-1-5", str(2**32)),
        (f"{U1}:1-5", U1),
    ],
)
def test_mariadb_errors_quote_bad_part(text: str, quoted: str) -> None:
    with pytest.raises(GtidParseError, match=re.escape(quoted)):
        MariadbGtidSet.parse(text)


def test_families_do_not_mix() -> None:
    mysql, mariadb = MysqlGtidSet.parse(f"{U1}:1"), MariadbGtidSet.parse("0-1-1")
    for op in (mysql.union, mysql.difference, mysql.intersection, mysql.issubset, mysql.is_behind):
        with pytest.raises(TypeError):
            op(mariadb)
    with pytest.raises(TypeError):
        _ = mariadb | mysql
    assert mysql != mariadb


def test_immutable_and_hashable() -> None:
    a, b = MysqlGtidSet.parse(f"{U1}:1-3"), MysqlGtidSet.parse(f"{U1}:3,{U1}:1-2")
    assert a == b
    assert len({a, b, MariadbGtidSet.parse("0-1-3")}) == 2
    with pytest.raises(AttributeError):
        a._items = ()
    assert repr(a) == f"MysqlGtidSet.parse('{U1}:1-3')"


def test_parse_gtid_set_unknown_family() -> None:
    with pytest.raises(ValueError, match="postgres"):
        parse_gtid_set("", "postgres")  # type: ignore[arg-type]


def test_errant_transactions() -> None:
    active = MysqlGtidSet.parse(f"{U1}:1-100")
    returning = MysqlGtidSet.parse(f"{U1}:1-98,{U2}:1-2")
    assert list(returning - active) == [(U2, "", 1), (U2, "", 2)]
    assert returning.is_behind(active)
    assert active.is_behind(returning)


# --- properties against a set model ---------------------------------------------------------------


@prop
@given(mysql_text(), mysql_text())
def test_mysql_matches_model(x: tuple[str, MysqlModel], y: tuple[str, MysqlModel]) -> None:
    a, b = MysqlGtidSet.parse(x[0]), MysqlGtidSet.parse(y[0])
    assert set(a) == x[1]
    assert a.count() == len(x[1])
    assert set(a | b) == x[1] | y[1]
    assert set(a - b) == x[1] - y[1]
    assert set(a & b) == x[1] & y[1]
    assert (a <= b) == (x[1] <= y[1])


@prop
@given(mariadb_text(), mariadb_text())
def test_mariadb_matches_model(x: tuple[str, MariadbModel], y: tuple[str, MariadbModel]) -> None:
    a, b = MariadbGtidSet.parse(x[0]), MariadbGtidSet.parse(y[0])
    assert set(a) == x[1]
    assert a.count() == len(x[1])
    assert set(a | b) == x[1] | y[1]
    assert set(a - b) == x[1] - y[1]
    assert set(a & b) == x[1] & y[1]
    assert (a <= b) == (x[1] <= y[1])
    for domain in a.domains():
        assert a.last_seq(domain) == max(seq for d, seq in x[1] if d == domain)


@prop
@given(same_family(2))
def test_roundtrip(pair: tuple[GtidSet, ...]) -> None:
    a, b = pair
    for value in (a, a | b, a - b, a & b):
        again = type(value).parse(value.format())
        assert again == value
        assert again.format() == value.format()
        if isinstance(value, MariadbGtidSet) and isinstance(again, MariadbGtidSet):
            assert [again.server_id(d) for d in again.domains()] == [
                value.server_id(d) for d in value.domains()
            ]


@prop
@given(mariadb_sets)
def test_mariadb_position_iff_prefixes(a: MariadbGtidSet) -> None:
    prefixes = all(start == 1 for _, start, _ in a.intervals()) and len(list(a.intervals())) == len(
        a.domains()
    )
    if prefixes:
        assert MariadbGtidSet.parse(a.position()) == a
    else:
        with pytest.raises(ValueError):
            a.position()


@prop
@given(same_family(3))
def test_union_laws(triple: tuple[GtidSet, ...]) -> None:
    a, b, c = triple
    assert a | b == b | a
    assert (a | b) | c == a | (b | c)
    assert a | a == a
    assert a & b == b & a
    assert (a & b) & c == a & (b & c)
    assert a & (b | c) == (a & b) | (a & c)


@prop
@given(same_family(2))
def test_difference_laws(pair: tuple[GtidSet, ...]) -> None:
    a, b = pair
    assert not ((a - b) & b)
    assert (a - b) | (a & b) == a
    assert a - a == type(a)()
    assert (a - b).count() == a.count() - (a & b).count()


@prop
@given(same_family(2))
def test_subset_laws(pair: tuple[GtidSet, ...]) -> None:
    a, b = pair
    assert a <= a | b
    assert a & b <= a
    assert a.issubset(a)
    assert (a <= b) == (a - b).is_empty()
    assert (a.issubset(b) and b.issubset(a)) == (a == b)
    assert a.is_behind(b) == (not b <= a)
    assert a.is_behind(b) == bool(b - a)


@prop
@given(same_family(2))
def test_count_additive_for_disjoint(pair: tuple[GtidSet, ...]) -> None:
    a, b = pair
    disjoint = b - a
    assert (a | disjoint).count() == a.count() + disjoint.count()
    assert (a | b).count() == a.count() + b.count() - (a & b).count()


def test_originated_by_keeps_only_that_servers_transactions() -> None:
    maria = MariadbGtidSet.parse("1-1-25,2-2-7") - MariadbGtidSet.parse("1-1-20,2-2-7")
    assert str(maria.originated_by("1")) == "1-1-21..25"
    assert not maria.originated_by("2")
    uuid_a, uuid_b = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "4e11fa47-71ca-11e1-9e33-c80aa9429562"
    mysql = MysqlGtidSet.parse(f"{uuid_a}:1-5,{uuid_b}:1-3")
    assert str(mysql.originated_by(uuid_b.upper())) == f"{uuid_b}:1-3"
