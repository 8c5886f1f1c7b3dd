"""GTID set algebra for MySQL and MariaDB: parse, format, union, difference, intersection.

Fail-back is decided on set differences ("what has the returning node executed that the active
lacks?"), so this module is the arithmetic behind "no silent data loss". It is pure: values are
immutable and hashable, nothing here talks to a server.

Both families reduce to one shape, *key → set of sequence numbers*, stored as merged, sorted
inclusive intervals; a single interval implementation (``_union``/``_difference``/...) serves both.

MySQL (``MysqlGtidSet``), key = (server uuid, tag)
    Text is what ``@@gtid_executed`` prints: ``uuid:1-5:7,uuid2:1-3`` (newlines/spaces after commas
    are accepted). MySQL 8.4 tags: ``uuid:1-5:tag_a:1-3:tag_b:4``; a tag (``[a-z_][a-z0-9_]{0,31}``,
    case-insensitive) applies to the intervals after it. The canonical form has lower-case uuids
    sorted, per uuid the untagged intervals first and then tags sorted, merged intervals, ``7`` for
    a single transaction, and ``""`` for the empty set.

MariaDB (``MariadbGtidSet``), key = domain id
    A MariaDB position (``gtid_binlog_pos``, ``gtid_current_pos``, ``gtid_slave_pos``) such as
    ``0-1-100,1-2-5`` does not list transactions: it says "in domain 0, everything up to seq 100".
    With ``gtid_strict_mode`` sequence numbers in a domain form a strict, gap-free order, so
    ``0-1-100`` is modelled as the *prefix* {1..100} of domain 0. That makes positions comparable
    with the same set algebra as MySQL. Differences can leave holes, so an explicit form exists for
    a non-prefix range::

        D-S-N        seqs 1..N of domain D            (the native position form)
        D-S-A..B     seqs A..B of domain D            (A >= 1; ``0-1-5..9`` is seqs 5 to 9)

    Entries for one domain are united, so ``gtid_binlog_state`` input (several server ids per
    domain) parses too. ``D-S-0`` means "nothing in D". The server id of the entry with the highest
    seq of each domain is remembered (ties: the first one) and used when formatting the domain;
    it is *provenance, not identity*: equality, hashing and every set operation look only at
    (domain, seq). Consequence: two servers that each wrote seq 101 in the same domain (split brain
    without strict mode) look identical here; compare ``server_id()`` to catch that case.
    ``parse(format(x)) == x`` holds for every value, server ids included.

Combining a MySQL set with a MariaDB set raises ``TypeError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, Literal, Self, TypeAlias, TypeVar

__all__ = [
    "GtidParseError",
    "GtidSet",
    "MariadbGtidSet",
    "MysqlGtidSet",
    "parse_gtid_set",
]

Interval: TypeAlias = tuple[int, int]
Intervals: TypeAlias = tuple[Interval, ...]
K = TypeVar("K", tuple[str, str], int)

_MYSQL_MAX_SEQ = 2**63 - 1
_MARIADB_MAX_SEQ = 2**64 - 1
_MARIADB_MAX_ID = 2**32 - 1

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I | re.A)
_TAG = re.compile(r"[a-z_][a-z0-9_]{0,31}", re.I | re.A)
_INTERVAL = re.compile(r"([0-9]+)(?:-([0-9]+))?", re.A)
_MARIADB_GTID = re.compile(r"([0-9]+)-([0-9]+)-([0-9]+)(?:\.\.([0-9]+))?", re.A)


class GtidParseError(ValueError):
    """A GTID set text that is not valid for its family; the message quotes the bad part."""


# --- the one interval implementation -------------------------------------------------------------


def _normalize(intervals: Iterable[Interval]) -> Intervals:
    """Sort and merge overlapping *and adjacent* intervals (1-5 and 6-9 are the set 1-9)."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def _union(a: Intervals, b: Intervals) -> Intervals:
    return _normalize(a + b)


def _intersection(a: Intervals, b: Intervals) -> Intervals:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _difference(a: Intervals, b: Intervals) -> Intervals:
    out: list[Interval] = []
    j = 0
    for start, end in a:
        while j < len(b) and b[j][1] < start:
            j += 1
        cur, k = start, j
        while k < len(b) and b[k][0] <= end:
            if b[k][0] > cur:
                out.append((cur, b[k][0] - 1))
            cur = max(cur, b[k][1] + 1)
            k += 1
        if cur <= end:
            out.append((cur, end))
    return tuple(out)


def _count(intervals: Intervals) -> int:
    return sum(end - start + 1 for start, end in intervals)


def _combine(
    a: Mapping[K, Intervals],
    b: Mapping[K, Intervals],
    op: Callable[[Intervals, Intervals], Intervals],
) -> dict[K, Intervals]:
    """Apply an interval operation key by key; keys left empty are dropped."""
    out: dict[K, Intervals] = {}
    for key in a.keys() | b.keys():
        result = op(a.get(key, ()), b.get(key, ()))
        if result:
            out[key] = result
    return out


def _entries(text: str) -> Iterator[str]:
    """Comma-separated entries, whitespace (servers print ``,\\n``) and empty entries ignored."""
    for raw in text.split(","):
        entry = raw.strip()
        if entry:
            yield entry


def _seq(text: str, what: str, entry: str, maximum: int) -> int:
    value = int(text)
    if value > maximum:
        raise GtidParseError(f"{what} {text} in {entry!r} is larger than {maximum}")
    return value


# --- the shared value type ------------------------------------------------------------------------


class _GtidSetBase(Generic[K]):
    """Immutable mapping key → non-empty merged intervals, with the set operators on top.

    Operands are typed ``GtidSet``, not ``Self``: callers mostly hold values of the union type
    (the family is known from configuration at run time), and a ``Self`` parameter would force
    them to narrow before every operation. A family mismatch is a ``TypeError`` at run time.
    """

    __slots__ = ("_items",)
    _items: tuple[tuple[K, Intervals], ...]

    def __init__(self, items: Mapping[K, Intervals] | None = None) -> None:
        """``Cls()`` is the empty set; others come from ``parse`` and the operators (intervals
        passed here must already be merged: this constructor is not a parser)."""
        canonical = tuple(sorted((k, v) for k, v in (items or {}).items() if v))
        object.__setattr__(self, "_items", canonical)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def format(self) -> str:
        raise NotImplementedError

    def _derive(self, other: Self, items: dict[K, Intervals]) -> Self:
        return type(self)(items)

    def _same(self, other: object) -> Self:
        if type(other) is not type(self) or not isinstance(other, type(self)):
            raise TypeError(f"cannot combine {type(self).__name__} with {type(other).__name__}")
        return other

    def _apply(self, other: GtidSet, op: Callable[[Intervals, Intervals], Intervals]) -> Self:
        same = self._same(other)
        return self._derive(same, _combine(dict(self._items), dict(same._items), op))

    def union(self, other: GtidSet) -> Self:
        return self._apply(other, _union)

    def difference(self, other: GtidSet) -> Self:
        """Transactions in self and not in other: the errant set when other is the active."""
        return self._apply(other, _difference)

    def intersection(self, other: GtidSet) -> Self:
        return self._apply(other, _intersection)

    def issubset(self, other: GtidSet) -> bool:
        same = self._same(other)
        return not _combine(dict(self._items), dict(same._items), _difference)

    def is_behind(self, other: GtidSet) -> bool:
        """True if other has transactions self lacks (self may *also* have some other lacks)."""
        same = self._same(other)
        return bool(_combine(dict(same._items), dict(self._items), _difference))

    def is_empty(self) -> bool:
        return not self._items

    def count(self) -> int:
        """Number of transactions in the set."""
        return sum(_count(intervals) for _, intervals in self._items)

    __or__ = union
    __sub__ = difference
    __and__ = intersection
    __le__ = issubset

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _GtidSetBase) or type(other) is not type(self):
            return False
        return self._items == other._items

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._items))

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"{type(self).__name__}.parse({self.format()!r})"


# --- MySQL ----------------------------------------------------------------------------------------


class MysqlGtidSet(_GtidSetBase[tuple[str, str]]):
    """A MySQL GTID set; a GTID is (uuid, tag or "", seqno >= 1)."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> Self:
        acc: dict[tuple[str, str], list[Interval]] = {}
        for entry in _entries(text):
            uuid, *tokens = (token.strip() for token in entry.split(":"))
            if not _UUID.fullmatch(uuid):
                raise GtidParseError(f"invalid server uuid {uuid!r} in MySQL GTID entry {entry!r}")
            if not tokens:
                raise GtidParseError(f"MySQL GTID entry {entry!r} has no intervals")
            tag, tag_used = "", True
            for token in tokens:
                if match := _INTERVAL.fullmatch(token):
                    start = _seq(match[1], "sequence number", entry, _MYSQL_MAX_SEQ)
                    end = (
                        start if match[2] is None else _seq(match[2], "end", entry, _MYSQL_MAX_SEQ)
                    )
                    if start < 1:
                        raise GtidParseError(f"interval {token!r} in {entry!r}: GTIDs start at 1")
                    if end < start:
                        raise GtidParseError(
                            f"interval {token!r} in {entry!r} ends before it starts"
                        )
                    acc.setdefault((uuid.lower(), tag), []).append((start, end))
                    tag_used = True
                elif _TAG.fullmatch(token):
                    if not tag_used:
                        raise GtidParseError(f"tag {tag!r} in {entry!r} has no intervals")
                    tag, tag_used = token.lower(), False
                else:
                    raise GtidParseError(f"invalid interval or tag {token!r} in {entry!r}")
            if not tag_used:
                raise GtidParseError(f"tag {tag!r} in {entry!r} has no intervals")
        return cls({key: _normalize(intervals) for key, intervals in acc.items()})

    def format(self) -> str:
        groups: dict[str, list[str]] = {}
        for (uuid, tag), intervals in self._items:
            parts = groups.setdefault(uuid, [uuid])
            if tag:
                parts.append(tag)
            parts.extend(str(s) if s == e else f"{s}-{e}" for s, e in intervals)
        return ",".join(":".join(parts) for parts in groups.values())

    def originated_by(self, origin: str) -> Self:
        """The transactions written by the server whose ``server_uuid`` is ``origin``."""
        return type(self)({k: iv for k, iv in self._items if k[0] == origin.lower()})

    def sources(self) -> tuple[str, ...]:
        """Server uuids present in the set, sorted."""
        return tuple(dict.fromkeys(uuid for (uuid, _), _ in self._items))

    def intervals(self) -> Iterator[tuple[str, str, int, int]]:
        """(uuid, tag, first, last) for each merged interval, in canonical order."""
        for (uuid, tag), intervals in self._items:
            for start, end in intervals:
                yield uuid, tag, start, end

    def __iter__(self) -> Iterator[tuple[str, str, int]]:
        """Every GTID as (uuid, tag, seqno); meant for small sets such as errant transactions."""
        for uuid, tag, start, end in self.intervals():
            for seqno in range(start, end + 1):
                yield uuid, tag, seqno


# --- MariaDB --------------------------------------------------------------------------------------


class MariadbGtidSet(_GtidSetBase[int]):
    """A MariaDB GTID set: per domain, a set of seqs (normally a prefix 1..N, see module doc)."""

    __slots__ = ("_servers",)
    _servers: tuple[tuple[int, int], ...]

    def __init__(
        self, items: Mapping[int, Intervals] | None = None, servers: Mapping[int, int] | None = None
    ) -> None:
        super().__init__(items)
        known = servers or {}
        object.__setattr__(self, "_servers", tuple((d, known.get(d, 0)) for d, _ in self._items))

    @classmethod
    def parse(cls, text: str) -> Self:
        acc: dict[int, list[Interval]] = {}
        last: dict[int, tuple[int, int]] = {}  # domain -> (highest seq, its server id)
        for entry in _entries(text):
            match = _MARIADB_GTID.fullmatch(entry)
            if not match:
                raise GtidParseError(
                    f"invalid MariaDB GTID {entry!r}: expected domain-server-seq (like 0-1-100)"
                    " or domain-server-first..last"
                )
            domain = _seq(match[1], "domain id", entry, _MARIADB_MAX_ID)
            server = _seq(match[2], "server id", entry, _MARIADB_MAX_ID)
            first = _seq(match[3], "sequence number", entry, _MARIADB_MAX_SEQ)
            if match[4] is None:
                start, end = 1, first
                if end == 0:
                    continue  # "D-S-0": nothing executed in this domain yet
            else:
                start, end = first, _seq(match[4], "sequence number", entry, _MARIADB_MAX_SEQ)
                if start < 1:
                    raise GtidParseError(
                        f"range {entry!r} starts at 0: sequence numbers start at 1"
                    )
                if end < start:
                    raise GtidParseError(f"range {entry!r} ends before it starts")
            acc.setdefault(domain, []).append((start, end))
            if domain not in last or end > last[domain][0]:
                last[domain] = (end, server)
        items = {domain: _normalize(intervals) for domain, intervals in acc.items()}
        return cls(items, {domain: server for domain, (_, server) in last.items()})

    def _derive(self, other: Self, items: dict[int, Intervals]) -> Self:
        """Keep the server id of the operand whose last seq is the result's (left one first)."""
        mine, theirs = dict(self._servers), dict(other._servers)
        servers: dict[int, int] = {}
        for domain, intervals in items.items():
            top = intervals[-1][1]
            if self.last_seq(domain) == top or (domain in mine and other.last_seq(domain) != top):
                servers[domain] = mine[domain]
            else:
                servers[domain] = theirs[domain]
        return type(self)(items, servers)

    def format(self) -> str:
        servers = dict(self._servers)
        return ",".join(
            f"{domain}-{servers[domain]}-{end}"
            if start == 1
            else f"{domain}-{servers[domain]}-{start}..{end}"
            for domain, intervals in self._items
            for start, end in intervals
        )

    def position(self) -> str:
        """The native ``D-S-N,...`` position; ValueError if a domain has holes."""
        for domain, intervals in self._items:
            if len(intervals) != 1 or intervals[0][0] != 1:
                raise ValueError(
                    f"GTID set {self.format()!r} is not a position: domain {domain} is not a prefix"
                )
        return self.format()

    def domains(self) -> tuple[int, ...]:
        return tuple(domain for domain, _ in self._items)

    def last_seq(self, domain: int) -> int:
        """Highest seq of the domain, 0 if the set has nothing in it (as in ``D-S-0``)."""
        return dict(self._items).get(domain, ((0, 0),))[-1][1]

    def originated_by(self, origin: str) -> Self:
        """The domains whose last transaction was written by server ``origin`` (a server
        id): on a standby, what it wrote itself, as opposed to what it applied from the
        active (whose own latest writes may simply be newer than its last heartbeat)."""
        keep = {d: iv for d, iv in self._items if dict(self._servers).get(d) == int(origin)}
        return type(self)(keep, dict(self._servers))

    def server_id(self, domain: int) -> int | None:
        """Server id remembered for the domain's last seq; None if the domain is absent."""
        return dict(self._servers).get(domain)

    def intervals(self) -> Iterator[tuple[int, int, int]]:
        """(domain, first, last) for each merged interval, in canonical order."""
        for domain, intervals in self._items:
            for start, end in intervals:
                yield domain, start, end

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """Every transaction as (domain, seq); meant for small sets such as a difference."""
        for domain, start, end in self.intervals():
            for seq in range(start, end + 1):
                yield domain, seq


GtidSet: TypeAlias = MysqlGtidSet | MariadbGtidSet


def parse_gtid_set(text: str, family: Literal["mysql", "mariadb"]) -> GtidSet:
    """Parse server output for the given server family."""
    if family == "mysql":
        return MysqlGtidSet.parse(text)
    if family == "mariadb":
        return MariadbGtidSet.parse(text)
    raise ValueError(f"unknown server family {family!r} (expected 'mysql' or 'mariadb')")


def parse_reported(text: str, family: str | None) -> GtidSet | None:
    """A GTID set another component reported (a probe, the peer's heartbeat), or None when
    the family is not known yet or the text does not parse: an unreadable position is
    "unknown", never a reason to stop deciding."""
    if not text or family not in ("mysql", "mariadb"):
        return None
    try:
        return parse_gtid_set(text, family)  # type: ignore[arg-type]
    except GtidParseError:
        return None
