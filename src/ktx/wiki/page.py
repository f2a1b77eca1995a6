"""Wiki pages: flat keys, YAML frontmatter (unknown keys kept, in order), Markdown bodies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ktx.errors import KtxError
from ktx.project.yamlio import MAX_FRONTMATTER_CHARS, roundtrip_load, yaml_problem

KEY_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
REF_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*(?:-[a-z0-9_]+)*$")
WIKILINK = re.compile(r"\[\[([^\]|\n]+?)(?:\|[^\]\n]*)?\]\]")
_FRONTMATTER = re.compile(r"\A---\n(.*?)\n---\n?(.*)\Z", re.S)
USAGE_MODES = ("always", "auto", "never")
Scope = Literal["global", "user"]


class WikiError(KtxError):
    """A wiki write or read was refused; the message names the page and the reason."""


def suggest_key(bad: str) -> str:
    """`orbit/company-overview` → `orbit-company-overview`; `../secret` → `secret`."""
    text = re.sub(r"[^a-zA-Z0-9_-]+", "-", bad.strip())
    text = re.sub(r"-{2,}", "-", text).strip("-_")
    return text or "page-key"


def validate_key(key: str) -> str:
    if not KEY_PATTERN.match(key or ""):
        raise WikiError(
            f"Invalid wiki page key {key!r}: keys are flat (letters, digits, '-' and '_', no '/').",
            hint=f"Try {suggest_key(key or '')!r}.",
        )
    return key


def validate_user_id(user_id: str) -> str:
    if not user_id or ".." in user_id or "\\" in user_id or user_id.startswith(("/", ".")) or "//" in user_id:
        raise WikiError(f"Invalid user id {user_id!r}")
    if "/" in user_id:
        raise WikiError(f"Invalid user id {user_id!r}: must not contain '/'")
    return user_id


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def parse_page_text(text: str) -> tuple[dict[str, Any], str]:
    """Split a page into (frontmatter mapping, body). No frontmatter → ({}, text)."""
    match = _FRONTMATTER.match(text.replace("\r\n", "\n"))
    if not match:
        return {}, text.strip()
    from ruamel.yaml.error import YAMLError

    try:
        data = roundtrip_load(match.group(1), MAX_FRONTMATTER_CHARS)
    except YAMLError as exc:
        raise WikiError(f"Invalid frontmatter: {yaml_problem(exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WikiError("Invalid frontmatter: expected a YAML mapping")
    return data, match.group(2).strip()


def frontmatter_warnings(text: str, frontmatter: dict[str, Any]) -> list[str]:
    """What is off in a readable page: an unclosed frontmatter block, mistyped tags, an unknown usage_mode."""
    warnings = []
    if not frontmatter and text.lstrip("\ufeff").startswith("---\n") and not _FRONTMATTER.match(text):
        warnings.append("frontmatter has no closing '---'; the whole file is read as the body")
    for key in ("tags", "refs", "sl_refs"):
        value = frontmatter.get(key)
        if value is not None and not isinstance(value, str | list | tuple):
            warnings.append(f"{key}: expected a list of strings, got {value!r} (ignored)")
    mode = frontmatter.get("usage_mode")
    if mode is not None and mode not in USAGE_MODES:
        warnings.append(f"usage_mode: {mode!r} is not one of {', '.join(USAGE_MODES)} (treated as 'auto')")
    return warnings


def render_page(frontmatter: dict[str, Any], body: str) -> str:
    import io

    if not frontmatter:
        return body.strip() + "\n"
    buffer = io.StringIO()
    _yaml().dump(frontmatter, buffer)
    return f"---\n{buffer.getvalue().rstrip()}\n---\n\n{body.strip()}\n"


def _strings(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None and str(v).strip()]
    if isinstance(value, str) and value.strip():
        return [value]
    return []


@dataclass
class WikiPage:
    key: str
    scope: Scope
    path: str  # relative to the project root
    frontmatter: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    user_id: str | None = None
    warnings: list[str] = field(default_factory=list)  # readable, but something in the frontmatter is off

    @property
    def summary(self) -> str:
        value = self.frontmatter.get("summary")
        return str(value).strip() if value is not None else ""

    @property
    def tags(self) -> list[str]:
        return _strings(self.frontmatter.get("tags"))

    @property
    def refs(self) -> list[str]:
        return _strings(self.frontmatter.get("refs"))

    @property
    def sl_refs(self) -> list[str]:
        return _strings(self.frontmatter.get("sl_refs"))

    def links(self) -> list[str]:
        """Every page this one points at: `refs` plus inline `[[target]]` / `[[target|label]]`."""
        found = [m.group(1).strip() for m in WIKILINK.finditer(self.body)]
        return list(dict.fromkeys([*self.refs, *found]))

    def search_text(self) -> str:
        parts = [self.key, self.summary, self.body]
        if self.tags:
            parts.append(" ".join(self.tags))
        return "\n".join(parts)

    def to_json(self, *, include_body: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "scope": self.scope.upper(),
            "path": self.path,
            "summary": self.summary,
            "tags": self.tags,
        }
        if self.user_id:
            data["userId"] = self.user_id
        if include_body:
            data["refs"] = self.refs
            data["sl_refs"] = self.sl_refs
            data["content"] = self.body
        return data
