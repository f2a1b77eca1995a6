"""Scan queries rendered once per shape, then filled with quoted names.

Building and rendering a sqlglot tree costs tens of milliseconds for a 20-column profile query, and a scan runs
thousands of them. The tree is still the source of the SQL: it is built and rendered once per (dialect, shape)
with placeholder identifiers, and each query substitutes identifiers and literals that sqlglot itself quoted for
the dialect, in one pass (a substituted value is never scanned again, so a name cannot smuggle a placeholder).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

PLACEHOLDER = re.compile(r"ktx__ph__\w+?__")


class Placeholder(str):
    """A name that stands for a value filled in later (a real column may be called anything, even this)."""


def placeholder(name: str) -> Placeholder:
    return Placeholder(f"ktx__ph__{name}__")


_TEMPLATES: dict[tuple[Any, ...], str] = {}
_local = threading.local()


def render_template(key: tuple[Any, ...], build: Callable[[], Any], dialect: str) -> str:
    """The rendered SQL of `build()` for `dialect`, cached under `key` (the query's shape)."""
    cache_key = (dialect, *key)
    text = _TEMPLATES.get(cache_key)
    if text is None:
        if len(_TEMPLATES) > 4096:
            _TEMPLATES.clear()
        text = _TEMPLATES[cache_key] = build().sql(dialect=dialect)
    return text


def _generator(dialect: str) -> Any:
    """One sqlglot generator per dialect and thread: rendering a single name through `.sql()` builds one each time."""
    cache = getattr(_local, "generators", None)
    if cache is None:
        cache = _local.generators = {}
    generator = cache.get(dialect)
    if generator is None:
        from sqlglot.dialects.dialect import Dialect

        generator = cache[dialect] = Dialect.get_or_raise(dialect).generator()
    return generator


def fill(template: str, values: dict[str, str]) -> str:
    """Replace each placeholder with its already-rendered SQL fragment."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(0)[len("ktx__ph__") : -2]
        return values[name]

    return PLACEHOLDER.sub(sub, template)


def ident(name: str, dialect: str) -> str:
    from sqlglot import exp

    return _generator(dialect).generate(exp.to_identifier(name, quoted=True))


def literal(text: str, dialect: str) -> str:
    from sqlglot import exp

    return _generator(dialect).generate(exp.Literal.string(text))


def table(schema: str | None, name: str, catalog: str | None, dialect: str) -> str:
    from sqlglot import exp

    return _generator(dialect).generate(
        exp.Table(
            this=exp.to_identifier(name, quoted=True),
            db=exp.to_identifier(schema, quoted=True) if schema else None,
            catalog=exp.to_identifier(catalog, quoted=True) if catalog else None,
        )
    )
