"""A listing's filter as SQL over the entries table: the file store's index rules (`store/index.py`)."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from mova_core.model.listing import EntryFilter
from mova_core.model.search import SEARCH_SEPARATOR
from mova_core.store.pg.codec import NUL, NUL_STAND_IN, to_column

_SORT_COLUMNS = {
    "created_at": "created_ts", "age": "created_ts", "workflow_type": "workflow_type", "status": "status",
    "attempts": "attempts", "retry_count": "retry_count", "last_error": "last_error", "id": "id",
}
# The four fields a search looks in, each read up to its first NUL (stood in for in the columns).
_SEARCHED = ("id", "workflow_type", "last_error", "action_type")


def where(flt: EntryFilter) -> tuple[sql.Composable, list[Any]]:
    """The filter's conditions (ASCII case ignored where the index's LIKE ignores it) and their values."""
    parts: list[sql.Composable] = [sql.SQL("true")]
    args: list[Any] = []
    for column, value in (("status", flt.status.value if flt.status else None),
                          ("workflow_type", flt.workflow_type or None), ("user_id", flt.user_id or None)):
        if value is not None:
            parts.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            args.append(to_column(value))
    for op, when in ((">=", flt.since), ("<=", flt.until), ("<", flt.older_than)):
        if when is not None:
            parts.append(sql.SQL("created_ts " + op + " %s"))
            args.append(when.timestamp())
    if flt.fingerprint:
        parts.append(sql.SQL("fingerprint ILIKE %s"))
        args.append(like_escape(to_column(flt.fingerprint)) + "%")
    if flt.text:
        _text_condition(flt.text, parts, args)
    return sql.SQL(" AND ").join(parts), args


def counted(flt: EntryFilter) -> tuple[sql.Composable, list[Any]] | None:
    """The filter's conditions over the `entry_counts` deltas when it asks only for a status and a
    workflow type (the usual listing), else None (its total needs counting the entries)."""
    rest = (flt.user_id, flt.since, flt.until, flt.older_than, flt.fingerprint, flt.text)
    if any(rest):
        return None
    parts: list[sql.Composable] = [sql.SQL("true")]
    args: list[Any] = []
    for column, value in (("status", flt.status.value if flt.status else None),
                          ("workflow_type", flt.workflow_type or None)):
        if value is not None:
            parts.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            args.append(to_column(value))
    return sql.SQL(" AND ").join(parts), args


def _text_condition(text: str, parts: list[sql.Composable], args: list[Any]) -> None:
    needle = "%" + like_escape(text.split(NUL, 1)[0]) + "%"
    if SEARCH_SEPARATOR in text or NUL in text:
        # Text holding the separator could match across the joined fields: each field on its own.
        fields = [sql.SQL("split_part(coalesce({}, ''), %s, 1) ILIKE %s").format(sql.Identifier(c)) for c in _SEARCHED]
        parts.append(sql.SQL("({})").format(sql.SQL(" OR ").join(fields)))
        for _ in _SEARCHED:
            args += [NUL_STAND_IN, needle]
    else:
        parts.append(sql.SQL("search_text ILIKE %s"))
        args.append(needle)


def order(flt: EntryFilter) -> sql.Composable:
    """ORDER BY the filter's sort, ties by id in the same direction (as the index sorts)."""
    descending = flt.descending if flt.sort != "age" else not flt.descending  # oldest first is "descending age"
    direction = sql.SQL("DESC" if descending else "ASC")
    return sql.SQL("ORDER BY {col} {dir}, id {dir}").format(col=sql.Identifier(_SORT_COLUMNS[flt.sort]), dir=direction)


def like_escape(value: str) -> str:
    """`value` matched literally by LIKE (PostgreSQL's default escape is the backslash)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
