"""Normalized query text as the engines' statistics store it, made parseable.

pg_stat_statements replaces constants with `$1`, `$2`, …, so a typed literal `date '2025-01-01'` becomes `date $1`
— which is not SQL any parser accepts. MySQL's statement digests use `?` (and `(...)` for a collapsed IN list),
ClickHouse's normalized queries `?`. What ktx learns from history (tables, columns per clause, joins) never needs
the constants, so each placeholder becomes a plain literal and a typed placeholder (`date $1`, `interval ?`)
becomes one literal, outside quoted strings and identifiers.
"""

from __future__ import annotations

import re

_TYPED = r"(?:date|time|timestamp|timestamptz|interval|datetime)"
_PLACEHOLDER = r"(?:\$\d+|\?)"
_TYPED_PLACEHOLDER = re.compile(rf"\b{_TYPED}\s+{_PLACEHOLDER}", re.IGNORECASE)
_DOLLAR = re.compile(r"\$\d+")
_QUESTION = re.compile(r"\?")
_COLLAPSED_LIST = re.compile(r"\(\s*\.\.\.\s*\)")
# Quoted strings and identifiers ('…', "…", `…`) and dollar-quoted bodies are left alone.
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|\$\$.*?\$\$", re.DOTALL)


def has_placeholders(sql: str) -> bool:
    return bool(_DOLLAR.search(sql) or "?" in sql or "(...)" in sql)


def fill_placeholders(sql: str, dialect: str) -> str:
    """The text with every placeholder a literal `0` (typed ones included); `?` only outside PostgreSQL, where it
    is a JSON operator and pg_stat_statements never writes it."""
    out: list[str] = []
    position = 0
    for quoted in _QUOTED.finditer(sql):
        out.append(_fill(sql[position : quoted.start()], dialect))
        out.append(quoted.group(0))
        position = quoted.end()
    out.append(_fill(sql[position:], dialect))
    return "".join(out)


def _fill(text: str, dialect: str) -> str:
    postgres = dialect in ("postgres", "postgresql", "redshift")
    text = _COLLAPSED_LIST.sub("(0)", text)
    if postgres:
        text = _TYPED_PLACEHOLDER.sub(lambda m: "0" if "$" in m.group(0) else m.group(0), text)
        return _DOLLAR.sub("0", text)
    text = _TYPED_PLACEHOLDER.sub("0", text)
    return _QUESTION.sub("0", _DOLLAR.sub("0", text))
