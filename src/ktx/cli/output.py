"""Output modes shared by every command: pretty (rich), plain (TSV) and json envelopes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TextIO

from ktx.errors import UsageError
from ktx.terminal import color_enabled, console  # noqa: F401 - shared with setup


class OutputMode(StrEnum):
    PRETTY = "pretty"
    PLAIN = "plain"
    JSON = "json"


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false")


def resolve_output_mode(
    json_flag: bool = False,
    output: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout_isatty: bool | None = None,
) -> OutputMode:
    """`--json` → `--output` → `KTX_OUTPUT` → truthy `CI` → plain; TTY → pretty; else plain."""
    env = os.environ if env is None else env
    if json_flag:
        return OutputMode.JSON
    if output is not None:
        try:
            return OutputMode(output.strip().lower())
        except ValueError:
            raise UsageError(f"Invalid --output value: {output} (use pretty, plain or json)") from None
    if env.get("KTX_OUTPUT"):
        try:
            return OutputMode(env["KTX_OUTPUT"].strip().lower())
        except ValueError:
            raise UsageError(f"Invalid KTX_OUTPUT value: {env['KTX_OUTPUT']} (use pretty, plain or json)") from None
    if _truthy(env.get("CI")):
        return OutputMode.PLAIN
    isatty = sys.stdout.isatty() if stdout_isatty is None else stdout_isatty
    return OutputMode.PRETTY if isatty else OutputMode.PLAIN


def supports_unicode(env: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("TERM") == "linux":
        return False
    encoding = getattr(stream or sys.stdout, "encoding", None) or ""
    return "utf" in encoding.lower()


@dataclass(frozen=True)
class Glyphs:
    ok: str
    warn: str
    fail: str
    skip: str
    dot: str
    dash: str

    def for_status(self, status: str) -> str:
        return {"ok": self.ok, "pass": self.ok, "warn": self.warn, "fail": self.fail}.get(status, self.skip)


UNICODE_GLYPHS = Glyphs("✓", "⚠", "✗", "-", "·", "—")
ASCII_GLYPHS = Glyphs("ok", "!", "x", "-", "|", "-")


def glyphs(stream: TextIO | None = None) -> Glyphs:
    return UNICODE_GLYPHS if supports_unicode(stream=stream) else ASCII_GLYPHS


def emit_json(value: Any, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def list_envelope(command: str, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"kind": "list", "data": {"items": list(items)}, "meta": {"command": command}}


@dataclass(frozen=True)
class Column:
    """One field of a list row. `plain=None` prints the bare value in TSV, a string is a prefix,
    `False` leaves the column out of TSV. Optional columns with empty values are skipped."""

    key: str
    header: str
    plain: str | bool | None = None
    optional: bool = False
    format: Callable[[Any], str] | None = None

    def text(self, row: Mapping[str, Any]) -> str:
        value = row.get(self.key)
        if value is None:
            return ""
        return self.format(value) if self.format else str(value)


def _tsv_cell(text: str) -> str:
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def emit_list(
    *,
    command: str,
    items: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    mode: OutputMode,
    noun: tuple[str, str] = ("item", "items"),
    empty_message: str | None = None,
    empty_hint: str | None = None,
) -> None:
    """Render a list in the selected mode (B.7): JSON envelope, TSV lines, or a rich table."""
    if mode is OutputMode.JSON:
        emit_json(list_envelope(command, items))
        return
    if not items:
        if empty_message:
            sys.stderr.write(empty_message + "\n")
            if empty_hint:
                sys.stderr.write(empty_hint + "\n")
        return
    if mode is OutputMode.PLAIN:
        for row in items:
            cells = []
            for col in columns:
                if col.plain is False:
                    continue
                text = col.text(row)
                if col.optional and not text:
                    continue
                prefix = col.plain if isinstance(col.plain, str) else ""
                cells.append(prefix + _tsv_cell(text))
            sys.stdout.write("\t".join(cells) + "\n")
        return
    from rich.table import Table

    table = Table(title=command, title_justify="left", title_style="bold", box=None, pad_edge=False)
    for col in columns:
        table.add_column(col.header, overflow="fold")
    for row in items:
        table.add_row(*(col.text(row) for col in columns))
    out = console()
    out.print(table)
    out.print(f"{len(items)} {noun[0] if len(items) == 1 else noun[1]}", style="dim")


def _row_cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value).replace("\t", " ").replace("\n", " ")


def emit_result_rows(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], mode: OutputMode, *, footer: str, note: str | None = None
) -> None:
    """Query rows for people: TSV (NULL as an empty cell) in plain mode, an aligned table and footer in pretty."""
    if mode is OutputMode.PLAIN:
        lines = ["\t".join(headers)] + ["\t".join("" if v is None else _row_cell(v) for v in row) for row in rows]
        sys.stdout.write("\n".join(lines) + "\n")
        if note:
            sys.stderr.write(note + "\n")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*("NULL" if v is None else _row_cell(v) for v in row))
    out = console()
    out.print(table)
    out.print(footer, style="dim")
    if note:
        out.print(note, style="yellow")
