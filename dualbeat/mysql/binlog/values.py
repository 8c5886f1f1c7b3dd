"""Column values in one canonical, JSON-ready form, from the binary log and from a server.

Why this exists: deciding whether a lost write conflicts means comparing a row image
printed by ``mysqlbinlog -v`` with the row the active holds now, and the two speak
different dialects. The tool prints an unsigned ``BIGINT`` as ``-1 (18446744073709551615)``,
a ``FLOAT`` padded to 20 characters, a ``DATE`` as ``'2024:02:29'``, a ``TIMESTAMP`` as Unix
seconds, an ``ENUM`` as its index, a ``SET`` or ``BIT`` as ``b'0101'``, and strings as their
raw bytes in the column's character set with control bytes as ``\\xNN``; the server, asked
through ``select_expr``, answers ``HEX(col)`` for strings, ``UNIX_TIMESTAMP(col)`` for
timestamps and ``col+0`` for enums, sets, bits and years. Both are turned into one
``Value`` here, so "the row is unchanged" is plain equality.

``Value`` is ``None`` (SQL NULL), ``int``, ``float``, ``str``, ``{"hex": "..."}`` for
bytes that are not text in the column's character set, or ``{"raw": "..."}`` for a type
this module cannot compare (geometry, MariaDB's UUID/INET types): such columns are shown
but never decide a conflict. Canonical forms: exact decimals and timestamps as strings at
the column's scale; ``DATE`` as ``YYYY-MM-DD``; ``FLOAT`` as the shortest decimal that
rounds to the same single-precision value; ``ENUM`` as its label; ``SET`` as its labels
joined by commas; ``BIT`` as an integer; ``JSON`` (MySQL's type) as compact sorted JSON.

Ambiguity kept on purpose: MariaDB's tool writes a quote and a backslash inside a string
as themselves and only control bytes as ``\\xNN``, so data holding the four characters
``\\x0a`` reads as a newline. MySQL's tool escapes quote and backslash, so it is exact.
"""

from __future__ import annotations

import enum
import json
import re
import struct
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Literal, TypeAlias

__all__ = ["Column", "Family", "TableDef", "Value", "from_binlog", "from_server", "select_expr"]

Value: TypeAlias = int | float | str | dict[str, str] | None
Flavor = Literal["mysql", "mariadb"]


class Family(enum.Enum):
    INTEGER = "integer"
    FLOAT = "float"
    DOUBLE = "double"
    DECIMAL = "decimal"
    TEXT = "text"
    BINARY = "binary"
    JSON = "json"
    DATE = "date"
    TIME = "time"
    DATETIME = "datetime"
    TIMESTAMP = "timestamp"
    YEAR = "year"
    ENUM = "enum"
    SET = "set"
    BIT = "bit"
    OTHER = "other"


_FAMILIES = {
    **dict.fromkeys(("tinyint", "smallint", "mediumint", "int", "integer", "bigint"), "integer"),
    "float": "float",
    **dict.fromkeys(("double", "real", "double precision"), "double"),
    **dict.fromkeys(("decimal", "numeric", "dec", "fixed"), "decimal"),
    **dict.fromkeys(("char", "varchar", "tinytext", "text", "mediumtext", "longtext"), "text"),
    **dict.fromkeys(
        ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"), "binary"
    ),
    "json": "json",
    "date": "date",
    "time": "time",
    "datetime": "datetime",
    "timestamp": "timestamp",
    "year": "year",
    "enum": "enum",
    "set": "set",
    "bit": "bit",
}
# MySQL/MariaDB character set -> Python codec; others are shown as hex.
_CODECS = {
    "utf8mb4": "utf-8", "utf8mb3": "utf-8", "utf8": "utf-8", "ascii": "ascii",
    "latin1": "cp1252", "latin2": "iso8859-2", "latin5": "iso8859-9", "latin7": "iso8859-13",
    "cp1250": "cp1250", "cp1251": "cp1251", "cp1256": "cp1256", "cp1257": "cp1257",
    "cp850": "cp850", "cp852": "cp852", "cp866": "cp866", "greek": "iso8859-7",
    "hebrew": "iso8859-8", "koi8r": "koi8-r", "koi8u": "koi8-u", "sjis": "shift_jis",
    "cp932": "cp932", "ujis": "euc-jp", "eucjpms": "euc-jp", "gbk": "gbk", "gb2312": "gb2312",
    "gb18030": "gb18030", "big5": "big5", "euckr": "euc-kr", "tis620": "tis-620",
    "ucs2": "utf-16-be", "utf16": "utf-16-be", "utf16le": "utf-16-le", "utf32": "utf-32-be",
}  # fmt: skip
_WIDE = Context(prec=100)
_INTEGER = re.compile(r"^(-?\d+)(?: \((\d+)\))?$")
_BITS = re.compile(r"^b'([01]*)'$")
_LABEL = re.compile(r"'((?:[^']|'')*)'")
_MARIADB_ESCAPE = re.compile(rb"\\x([01][0-9a-fA-F])")
_MYSQL_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|\\|')")


@dataclass(frozen=True)
class Column:
    """One column as ``information_schema.COLUMNS`` describes it."""

    name: str
    position: int  # ORDINAL_POSITION: the @N of the binary log
    data_type: str  # DATA_TYPE, lower case
    column_type: str  # COLUMN_TYPE, e.g. "int(10) unsigned", "enum('a','b')"
    charset: str | None = None
    scale: int | None = None  # NUMERIC_SCALE, or DATETIME_PRECISION for time types
    octet_length: int | None = None  # CHARACTER_OCTET_LENGTH

    @property
    def family(self) -> Family:
        fam = Family(_FAMILIES.get(self.data_type.lower(), "other"))
        if fam is Family.TEXT and (self.charset or "").lower() == "binary":
            return Family.BINARY
        return fam

    @property
    def unsigned(self) -> bool:
        return "unsigned" in self.column_type.lower()

    @property
    def labels(self) -> tuple[str, ...]:
        """ENUM/SET members in definition order."""
        return tuple(m.replace("''", "'") for m in _LABEL.findall(self.column_type))

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "position": self.position,
            "data_type": self.data_type,
            "column_type": self.column_type,
            "charset": self.charset,
        }


@dataclass(frozen=True)
class TableDef:
    """A table's columns in ordinal order and its primary key (empty when it has none)."""

    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def same_shape(self, other: TableDef) -> bool:
        """Same column names, positions and types: a key looked up on one means the same
        row on the other, and images compare column by column."""
        mine = [(c.name, c.position, c.column_type.lower()) for c in self.columns]
        theirs = [(c.name, c.position, c.column_type.lower()) for c in other.columns]
        return mine == theirs and self.primary_key == other.primary_key


# --- canonical forms --------------------------------------------------------------------


def _scaled(text: str, scale: int | None) -> str:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return text.strip()
    if scale is not None:  # DECIMAL holds up to 65 digits: more than the default context
        value = value.quantize(Decimal(1).scaleb(-scale), context=_WIDE)
    return format(value, "f")


def _single(value: float) -> float:
    """The shortest decimal that rounds to the same IEEE single as ``value``."""
    (single,) = struct.unpack("f", struct.pack("f", value))
    for digits in range(1, 10):
        short = float(f"{single:.{digits}g}")
        if struct.unpack("f", struct.pack("f", short))[0] == single:
            return short
    return float(single)


def _text(data: bytes, column: Column) -> Value:
    codec = _CODECS.get((column.charset or "").lower())
    if column.data_type.lower() == "char":
        data = data.rstrip(b" ")  # CHAR is stored and returned without its padding
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    return {"hex": data.hex()}


def _binary(data: bytes, column: Column) -> Value:
    if column.data_type.lower() == "binary" and column.octet_length:
        data = data.ljust(column.octet_length, b"\0")  # the log drops the zero padding
    return {"hex": data.hex()}


def _json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return text


def _labels(column: Column, mask: int) -> str:
    members = column.labels
    return ",".join(m for i, m in enumerate(members) if mask >> i & 1)


def _enum(column: Column, index: int) -> str:
    members = column.labels
    return members[index - 1] if 1 <= index <= len(members) else ""


def _unquote(literal: str, flavor: Flavor) -> bytes | None:
    """The bytes of a quoted string literal as the binlog tool printed it."""
    if len(literal) < 2 or literal[0] != "'" or literal[-1] != "'":
        return None
    raw = literal[1:-1].encode("utf-8", errors="surrogateescape")
    if flavor == "mariadb":
        return _MARIADB_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), raw)

    def mysql(m: re.Match[bytes]) -> bytes:
        body = m[1]
        return bytes([int(body[1:], 16)]) if body.startswith(b"x") else body

    return _MYSQL_ESCAPE.sub(mysql, raw)


def _raw(literal: str) -> dict[str, str]:
    return {"raw": literal.encode("utf-8", "surrogateescape").decode("utf-8", "replace")}


def from_binlog(literal: str, column: Column, flavor: Flavor) -> Value:
    """The canonical value of a ``@N=literal`` the binlog tool printed for ``column``."""
    text = literal.strip()
    if text == "NULL":
        return None
    fam = column.family
    try:
        if fam in (Family.TEXT, Family.BINARY, Family.JSON):
            data = _unquote(text, flavor)
            if data is None:
                return _raw(literal)
            if fam is Family.TEXT:
                return _text(data, column)
            if fam is Family.BINARY:
                return _binary(data, column)
            return _json(data.decode("utf-8", "replace"))
        if fam is Family.INTEGER:
            m = _INTEGER.match(text)
            if m is None:
                return _raw(literal)
            return int(m[2]) if column.unsigned and m[2] else int(m[1])
        if fam in (Family.SET, Family.BIT, Family.ENUM):
            bits = _BITS.match(text)
            number = int(bits[1] or "0", 2) if bits else int(text)
            if fam is Family.SET:
                return _labels(column, number)
            return _enum(column, number) if fam is Family.ENUM else number
        return _scalar(text, fam, column)
    except ValueError:
        return _raw(literal)


def _scalar(text: str, fam: Family, column: Column) -> Value:
    unquoted = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text
    match fam:
        case Family.FLOAT:
            return _single(float(text))
        case Family.DOUBLE:
            return float(text)
        case Family.DECIMAL | Family.TIMESTAMP:
            return _scaled(text, column.scale)
        case Family.YEAR:
            return int(text)
        case Family.DATE:
            return unquoted.replace(":", "-")
        case Family.TIME | Family.DATETIME:
            return unquoted
        case _:
            return _raw(text)


# --- the server side -----------------------------------------------------------------------


def quote_ident(name: str) -> str:
    """A backquoted identifier for a statement with arguments: embedded backquotes are
    doubled, and so is ``%`` (PyMySQL interpolates ``%`` whenever arguments are given)."""
    return "`" + name.replace("`", "``").replace("%", "%%") + "`"


def select_expr(column: Column) -> str:
    """The SELECT expression whose result ``from_server`` turns into the same ``Value``
    as the binary log's literal for that column."""
    col = quote_ident(column.name)
    match column.family:
        case Family.TEXT | Family.BINARY:
            return f"HEX({col})"
        case Family.TIMESTAMP:
            return f"UNIX_TIMESTAMP({col})"
        case Family.ENUM | Family.SET | Family.BIT | Family.YEAR:
            return f"{col}+0"
        case Family.DATE | Family.TIME | Family.DATETIME | Family.JSON | Family.DECIMAL:
            return f"CAST({col} AS CHAR)"
        case Family.OTHER:
            return f"HEX({col})"
        case _:
            return col


def from_server(raw: object, column: Column) -> Value:
    """The canonical value of what ``select_expr(column)`` returned (via PyMySQL)."""
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    fam = column.family
    try:
        match fam:
            case Family.TEXT:
                return _text(bytes.fromhex(text), column)
            case Family.BINARY:
                return _binary(bytes.fromhex(text), column)
            case Family.JSON:
                return _json(text)
            case Family.INTEGER | Family.YEAR | Family.BIT:
                return int(text)
            case Family.ENUM:
                return _enum(column, int(text))
            case Family.SET:
                return _labels(column, int(text))
            case _:  # numbers, dates and times: as the binlog's unquoted literal reads
                return _scalar(text, fam, column)
    except ValueError:
        return {"raw": text}


def comparable(value: Value) -> bool:
    """False for a value this module cannot compare (``{"raw": ...}``)."""
    return not (isinstance(value, dict) and "raw" in value)


def key_arg(value: Value) -> object:
    """A canonical key value as a statement argument (bytes for hex, else as is)."""
    if isinstance(value, dict) and "hex" in value:
        return bytes.fromhex(value["hex"])
    return value


def placeholder(column: Column) -> str:
    """The SQL expression that turns a canonical value passed by ``key_arg`` back into
    the column's own value: a plain ``%s`` wherever the server converts it natively
    (integers, strings in their character set, dates, ENUM and SET labels, BIT numbers),
    ``FROM_UNIXTIME(%s)`` for the Unix seconds of a ``TIMESTAMP``."""
    return "FROM_UNIXTIME(%s)" if column.family is Family.TIMESTAMP else "%s"


def key_predicate(column: Column) -> str:
    """The ``WHERE`` term matching a canonical key value passed by ``key_arg``, on the
    plain column so that the index is used."""
    return f"{quote_ident(column.name)} = {placeholder(column)}"
