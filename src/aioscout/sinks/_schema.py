"""One relational schema for every record type, rendered for SQLite, MariaDB/MySQL and PostgreSQL.

Why it is derived rather than written out: a new probe adds a record type,
and its table must follow without hand-written DDL in three dialects. The
columns of a record's table are

- the key: ``run_id`` (the run, stable across ``--resume``), ``item`` (the
  engine's item number) and ``sub`` (the record's place among the records of
  one item: an ``--all-ips`` host gives one per address), the primary key the
  sinks upsert on, so a batch written twice is stored once;
- one typed column per scalar field of the dataclass (``str``, ``int``,
  ``float``, ``bool``, optional or not), in field order;
- the extra columns :data:`EXTRA_COLUMNS` names for the type (values taken
  from nested fields, such as the TLS dates as timestamps);
- ``error_kind`` and ``error_detail``;
- ``record``: the whole record as JSON (``JSON`` in MariaDB, ``JSONB`` in
  PostgreSQL, ``TEXT`` in SQLite), exactly the line a JSON Lines sink writes.

The ``run`` table has one row per run: its id, the fingerprint of what it
scans (how ``--resume`` finds it again), the command line with secrets
masked, the start and end times and the row counts.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Literal

from .._models import ErrorInfo, Record

__all__ = [
    "EXTRA_COLUMNS",
    "RUN_TABLE",
    "TABLE_NAMES",
    "Column",
    "Dialect",
    "TableSpec",
    "check_identifier",
    "parse_timestamp",
    "run_table_ddl",
    "table_spec",
]

Kind = Literal["text", "int", "float", "bool", "time"]
Dialect = Literal["sqlite", "mysql", "postgres"]

RUN_TABLE = "run"
KEY_COLUMNS = ("run_id", "item", "sub")
INDEXED = ("input", "host", "status")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_identifier(name: str, what: str = "table") -> str:
    """``name`` if it is a plain SQL identifier (letters, digits, ``_``), else ValueError."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"invalid {what} name {name!r}: use letters, digits and _")
    return name


def parse_timestamp(value: object) -> datetime | None:
    """A record's ``YYYY-MM-DDTHH:MM:SSZ`` text as an aware UTC datetime (None if not one)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)  # a thirtieth of strptime's time
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Column:
    """A typed column: its name, kind, and how its value is read from a record."""

    name: str
    kind: Kind
    get: Callable[[Any], object]


def _tls_date(attr: str) -> Callable[[Any], object]:
    def get(record: Any) -> object:
        tls = getattr(record, "tls", None)
        return None if tls is None else parse_timestamp(getattr(tls, attr, None))

    return get


def _tls_text(attr: str) -> Callable[[Any], object]:
    def get(record: Any) -> object:
        tls = getattr(record, "tls", None)
        return None if tls is None else getattr(tls, attr, None)

    return get


# Record type name -> its table, when the name is not just the type's name less "Result".
TABLE_NAMES: dict[str, str] = {"PortResult": "ports"}

# Record type name -> typed columns taken from nested fields (the column map).
EXTRA_COLUMNS: dict[str, tuple[Column, ...]] = {
    "HttpResult": (
        Column("tls_version", "text", _tls_text("version")),
        Column("tls_subject_cn", "text", _tls_text("subject_cn")),
        Column("tls_issuer", "text", _tls_text("issuer")),
        Column("tls_not_before", "time", _tls_date("not_before")),
        Column("tls_not_after", "time", _tls_date("not_after")),
    ),
}

_SCALARS: dict[str, Kind] = {"str": "text", "int": "int", "float": "float", "bool": "bool"}

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {
        "text": "TEXT",
        "int": "INTEGER",
        "float": "REAL",
        "bool": "INTEGER",
        "time": "TEXT",
        "json": "TEXT",
        "run_id": "TEXT",
    },
    "mysql": {
        "text": "TEXT",
        "int": "BIGINT",
        "float": "DOUBLE",
        "bool": "BOOLEAN",
        "time": "DATETIME",
        "json": "JSON",
        "run_id": "VARCHAR(32) CHARACTER SET ascii",
    },
    "postgres": {
        "text": "TEXT",
        "int": "BIGINT",
        "float": "DOUBLE PRECISION",
        "bool": "BOOLEAN",
        "time": "TIMESTAMPTZ",
        "json": "JSONB",
        "run_id": "TEXT",
    },
}


# MariaDB's default character set may be latin1: results hold any text.
_TABLE_OPTIONS: dict[Dialect, str] = {
    "sqlite": "",
    "mysql": " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "postgres": "",
}


def quote(name: str, dialect: Dialect) -> str:
    """An identifier quoted for ``dialect`` (names are checked identifiers)."""
    return f"`{name}`" if dialect == "mysql" else f'"{name}"'


def _scalar_kind(annotation: object) -> Kind | None:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    parts = [p.strip() for p in str(text).split("|")]
    parts = [p for p in parts if p != "None"]
    return _SCALARS.get(parts[0]) if len(parts) == 1 else None


def _field_getter(name: str) -> Callable[[Any], object]:
    def get(record: Any) -> object:
        return getattr(record, name)

    return get


@dataclass(frozen=True)
class TableSpec:
    """The table of one record type: its default name and its typed columns."""

    record_type: type
    default_name: str
    columns: tuple[Column, ...]
    plain: int = 0  # the first ``plain`` columns are the record's own fields, in order
    _fields: Callable[[Any], tuple[object, ...]] = dataclasses.field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns[: self.plain]]
        # One C call for every plain field instead of a Python call per column.
        if len(names) > 1:
            object.__setattr__(self, "_fields", attrgetter(*names))
        else:
            object.__setattr__(self, "_fields", lambda r: tuple(getattr(r, n) for n in names))

    @property
    def names(self) -> list[str]:
        """Every column an upsert fills, in order: key, typed, error, record."""
        return [
            *KEY_COLUMNS,
            *(c.name for c in self.columns),
            "error_kind",
            "error_detail",
            "record",
        ]

    @property
    def time_positions(self) -> list[int]:
        """Where the timestamp columns are in :meth:`values` (a dialect may convert them)."""
        return [i for i, c in enumerate(self.columns) if c.kind == "time"]

    def values(self, record: Record) -> list[object]:
        """The typed and error values of ``record`` (the key and JSON are the sink's)."""
        out = list(self._fields(record))
        out += [c.get(record) for c in self.columns[self.plain :]]
        error = record.error
        if isinstance(error, ErrorInfo):
            out += [str(error.kind), error.detail]
        else:
            out += [None, None]
        return out

    def ddl(self, table: str, dialect: Dialect) -> list[str]:
        """``CREATE TABLE IF NOT EXISTS`` and its indexes for ``dialect``."""
        types = _TYPES[dialect]
        q = quote(table, dialect)
        cols = [
            f"{quote('run_id', dialect)} {types['run_id']} NOT NULL",
            f"{quote('item', dialect)} {types['int']} NOT NULL",
            f"{quote('sub', dialect)} {types['int']} NOT NULL",
            *(f"{quote(c.name, dialect)} {types[c.kind]}" for c in self.columns),
            f"{quote('error_kind', dialect)} {types['text']}",
            f"{quote('error_detail', dialect)} {types['text']}",
            f"{quote('record', dialect)} {types['json']} NOT NULL",
            f"PRIMARY KEY ({', '.join(quote(k, dialect) for k in KEY_COLUMNS)})",
        ]
        have = {c.name: c for c in self.columns}
        indexes: list[str] = []
        for name in INDEXED:
            if name not in have:
                continue
            index = quote(f"{table}_{name}_idx", dialect)
            if dialect == "mysql":
                # Declared with the table (MySQL has no CREATE INDEX IF NOT EXISTS);
                # a TEXT column is indexed by a prefix of it.
                prefix = "(255)" if have[name].kind == "text" else ""
                cols.append(f"KEY {index} ({quote(name, dialect)}{prefix})")
            else:
                indexes.append(
                    f"CREATE INDEX IF NOT EXISTS {index} ON {q} ({quote(name, dialect)})"
                )
        create = f"CREATE TABLE IF NOT EXISTS {q} ({', '.join(cols)}){_TABLE_OPTIONS[dialect]}"
        return [create, *indexes]


def table_spec(record_type: type) -> TableSpec:
    """The table of ``record_type`` (a dataclass record), from its fields and the column map.

    Example::

        spec = table_spec(HttpResult)
        spec.default_name  # 'http'
    """
    if not dataclasses.is_dataclass(record_type):
        raise TypeError(f"a SQL sink stores dataclass records, not {record_type.__name__}")
    columns: list[Column] = []
    for f in dataclasses.fields(record_type):
        kind = _scalar_kind(f.type)
        if kind is not None and f.name not in KEY_COLUMNS:
            columns.append(Column(f.name, kind, _field_getter(f.name)))
    plain = len(columns)
    columns += EXTRA_COLUMNS.get(record_type.__name__, ())
    type_name = record_type.__name__
    default = TABLE_NAMES.get(type_name) or type_name.removesuffix("Result").lower() or "results"
    return TableSpec(record_type, default, tuple(columns), plain)


def run_table_ddl(dialect: Dialect) -> list[str]:
    """The ``run`` table: one row per run (secrets masked in ``command``)."""
    types = _TYPES[dialect]
    q = quote(RUN_TABLE, dialect)
    text_key = "VARCHAR(255)" if dialect == "mysql" else types["text"]
    cols = [
        f"{quote('run_id', dialect)} {types['run_id']} NOT NULL PRIMARY KEY",
        f"{quote('fingerprint', dialect)} {text_key}",
        f"{quote('results_table', dialect)} {text_key}",
        f"{quote('command', dialect)} {types['text']}",
        f"{quote('started', dialect)} {types['time']}",
        f"{quote('ended', dialect)} {types['time']}",
        f"{quote('record_type', dialect)} {text_key}",
        f"{quote('row_count', dialect)} {types['int']}",
        f"{quote('error_count', dialect)} {types['int']}",
    ]
    index = quote(f"{RUN_TABLE}_fingerprint_idx", dialect)
    on = f"({quote('fingerprint', dialect)})"
    if dialect == "mysql":
        cols.append(f"KEY {index} {on}")
        return [f"CREATE TABLE IF NOT EXISTS {q} ({', '.join(cols)}){_TABLE_OPTIONS[dialect]}"]
    return [
        f"CREATE TABLE IF NOT EXISTS {q} ({', '.join(cols)}){_TABLE_OPTIONS[dialect]}",
        f"CREATE INDEX IF NOT EXISTS {index} ON {q} {on}",
    ]


def placeholders(dialect: Dialect, count: int, start: int = 1) -> str:
    """``?, ?`` / ``%s, %s`` / ``$1, $2`` for ``count`` parameters."""
    if dialect == "sqlite":
        return ", ".join("?" * count)
    if dialect == "mysql":
        return ", ".join(["%s"] * count)
    return ", ".join(f"${i}" for i in range(start, start + count))


def upsert_sql(table: str, names: Sequence[str], dialect: Dialect) -> str:
    """An INSERT of one row that replaces the row with the same key (the idempotent write)."""
    q = quote(table, dialect)
    cols = ", ".join(quote(n, dialect) for n in names)
    rest = [n for n in names if n not in KEY_COLUMNS]
    values = placeholders(dialect, len(names))
    if dialect == "postgres":
        values = ", ".join(
            f"${i}::jsonb" if n == "record" else f"${i}" for i, n in enumerate(names, 1)
        )
    head = f"INSERT INTO {q} ({cols}) VALUES ({values})"
    if dialect == "mysql":
        sets = ", ".join(f"{quote(n, dialect)} = VALUES({quote(n, dialect)})" for n in rest)
        return f"{head} ON DUPLICATE KEY UPDATE {sets}"
    keys = ", ".join(quote(k, dialect) for k in KEY_COLUMNS)
    sets = ", ".join(f"{quote(n, dialect)} = excluded.{quote(n, dialect)}" for n in rest)
    return f"{head} ON CONFLICT ({keys}) DO UPDATE SET {sets}"
