"""Command-line parsing for the stand-in CLIs, following the rules of the real ones.

Claude Code parses its options with commander.js, Codex with clap. Both accept `--opt value` and
`--opt=value`, take repeated options in order, and know which of their flags take no value. The
stand-ins parse argv the same way so tests assert on what was asked for (a model, allowed tools, a
schema, config overrides), never on where an SDK put it in argv.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field

# Claude Code flags that take no value (from `claude --help`); every other option takes one.
CLAUDE_BOOLEAN_FLAGS = frozenset(
    {
        "--verbose",
        "--print",
        "-p",
        "--continue",
        "-c",
        "--debug",
        "-d",
        "--include-partial-messages",
        "--include-hook-events",
        "--strict-mcp-config",
        "--fork-session",
        "--session-mirror",
        "--no-session-persistence",
        "--dangerously-skip-permissions",
        "--allow-dangerously-skip-permissions",
        "--replay-user-messages",
        "--ide",
        "--bare",
        "--disable-slash-commands",
    }
)

# Codex flags that take no value; `-c/--config` takes `key=value`.
CODEX_BOOLEAN_FLAGS = frozenset({"--oss", "--full-auto", "--dangerously-bypass-approvals-and-sandbox", "--search"})


@dataclass
class ParsedArgs:
    options: dict[str, list[str]] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    positionals: list[str] = field(default_factory=list)

    def value(self, name: str) -> str | None:
        """The last value given for an option (commander and clap both let the last one win)."""
        values = self.options.get(name)
        return values[-1] if values else None

    def values(self, name: str) -> list[str]:
        return list(self.options.get(name, []))

    def items(self, name: str) -> list[str]:
        """A list option (`--allowedTools a,b --allowedTools c` or `"a b"`): every item, in order."""
        out: list[str] = []
        for raw in self.values(name):
            out += [part for part in raw.replace(",", " ").split() if part]
        return out

    def to_json(self) -> dict:
        return {"options": self.options, "flags": sorted(self.flags), "positionals": self.positionals}


def parse_args(argv: list[str], boolean_flags: frozenset[str], aliases: dict[str, str] | None = None) -> ParsedArgs:
    aliases = aliases or {}
    parsed = ParsedArgs()
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            parsed.positionals += argv[i:]
            break
        if not token.startswith("-") or token == "-":
            parsed.positionals.append(token)
            continue
        name, eq, inline = token.partition("=")
        name = aliases.get(name, name)
        if name in boolean_flags:
            if eq:
                raise SystemExit(f"error: option '{name}' does not take a value")
            parsed.flags.add(name)
            continue
        if eq:
            value = inline
        elif i < len(argv):
            value = argv[i]
            i += 1
        else:
            raise SystemExit(f"error: option '{name}' argument missing")
        parsed.options.setdefault(name, []).append(value)
    return parsed


def parse_claude_args(argv: list[str]) -> ParsedArgs:
    return parse_args(
        argv, CLAUDE_BOOLEAN_FLAGS, {"--allowed-tools": "--allowedTools", "--disallowed-tools": "--disallowedTools"}
    )


def parse_codex_args(argv: list[str]) -> ParsedArgs:
    return parse_args(argv, CODEX_BOOLEAN_FLAGS, {"-c": "--config", "-m": "--model"})


def codex_overrides(parsed: ParsedArgs) -> dict[str, object]:
    """`-c key=value` as Codex reads it: the value is TOML, or a plain string when it does not parse as TOML."""
    out: dict[str, object] = {}
    for raw in parsed.values("--config"):
        key, sep, text = raw.partition("=")
        if not sep:
            raise SystemExit(f"error: invalid override {raw!r}: expected key=value")
        try:
            out[key.strip()] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = text
    return out
