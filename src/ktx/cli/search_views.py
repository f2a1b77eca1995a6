"""Shared CLI pieces for searchable lists: `ktx wiki [query]`, `ktx sl [query]`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from typer.core import TyperGroup

from ktx.cli.output import OutputMode, console, emit_json, glyphs, list_envelope

_VALUE_OPTIONS = {"--user-id", "--limit", "--output", "-o", "--connection-id"}


class QueryOrSubcommandGroup(TyperGroup):
    """`ktx wiki revenue` means `ktx wiki search revenue`; bare `ktx wiki` means `ktx wiki list`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = None
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                break
            if arg.startswith("-"):
                i += 2 if arg in _VALUE_OPTIONS else 1
                continue
            first = arg
            break
        if first is None:
            if not any(a in ("--help", "-h") for a in args):
                args = ["list", *args]
        elif first not in self.commands:
            args = ["search", *args]
        return super().parse_args(ctx, args)


def emit_rows(
    *,
    command: str,
    items: Sequence[Mapping[str, Any]],
    mode: OutputMode,
    plain: Callable[[Mapping[str, Any]], list[str]],
    group: Callable[[Mapping[str, Any]], str],
    title: Callable[[Mapping[str, Any]], str],
    detail: Callable[[Mapping[str, Any]], str],
    noun: tuple[str, str],
    ranked: bool,
    empty: tuple[str, str],
) -> None:
    """JSON envelope, TSV lines, or a grouped pretty list with rank badges."""
    if mode is OutputMode.JSON:
        emit_json(list_envelope(command, items))
        return
    if not items:
        sys.stderr.write(f"{empty[0]}\n{empty[1]}\n")
        return
    if mode is OutputMode.PLAIN:
        for item in items:
            sys.stdout.write("\t".join(c.replace("\t", " ").replace("\n", " ") for c in plain(item)) + "\n")
        return
    from rich.text import Text

    g = glyphs()
    out = console()
    out.print(Text(command, style="bold"))
    groups: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
    for rank, item in enumerate(items, start=1):
        groups.setdefault(group(item), []).append((rank, item))
    for name, rows in groups.items():
        out.print(Text(f"\n{name} ({len(rows)} {noun[0] if len(rows) == 1 else noun[1]})", style="bold cyan"))
        for rank, item in rows:
            line = Text("  ")
            if ranked:
                line.append(f"#{rank} ", style="magenta")
            line.append(title(item), style="bold")
            extra = detail(item)
            if extra:
                line.append(f" {g.dash} {extra}", style="")
            if ranked and "score" in item:
                line.append(f"  {item['score']:.4f}", style="dim")
            out.print(line)
    out.print(Text(f"\n{len(items)} {noun[0] if len(items) == 1 else noun[1]}", style="dim"))
