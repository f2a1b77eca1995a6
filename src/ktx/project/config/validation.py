"""Validating parsed ktx.yaml: unknown keys warn (with a did-you-mean), bad values are errors with their path."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

import ktx.project.config.base as base
import ktx.project.config.connections as connections
import ktx.project.config.sections as sections
from ktx.project.config.base import DRIVERS
from ktx.project.config.root import KtxConfig

# --- validation -----------------------------------------------------------------------------

MAX_UNKNOWN_REPORTED = 50
UNKNOWN_FIELD_FIX = "Unknown to this ktx version; it is ignored. Delete it from ktx.yaml when convenient."


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    message: str
    severity: Literal["error", "warning"]
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "message": self.message, "severity": self.severity}
        if self.fix:
            data["fix"] = self.fix
        return data


@dataclass
class ConfigValidation:
    config: KtxConfig | None
    issues: list[ConfigIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors

    @property
    def errors(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "warning"]


def _clean_loc(data: Any, loc: tuple[Any, ...]) -> list[str | int]:
    """Map pydantic's error location onto the YAML path (`connections.wh.port`).

    Pydantic adds segments that are not keys: union member names, the discriminator
    tag of a connection, `[key]` for dict-key errors. Walking the data drops them.
    """
    parts: list[str | int] = []
    node: Any = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, dict):
            if part not in node and part == node.get("driver"):
                continue  # discriminator tag of a connection entry
            parts.append("schema" if part == "schema_" else part)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            parts.append(part)
            node = node[part] if part < len(node) else None
        # anything else is a union-member label under a scalar value
    return parts


def _dotted(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _delete_path(data: Any, parts: list[str | int]) -> None:
    node = data
    for part in parts[:-1]:
        node = node[part]
    del node[parts[-1]]


def _error_issue(data: Any, err: dict[str, Any]) -> ConfigIssue:
    parts = _clean_loc(data, err["loc"])
    path = _dotted(parts)
    kind = err["type"]
    if kind == "union_tag_invalid":
        tag = err["ctx"]["tag"]
        return ConfigIssue(
            f"{path}.driver",
            f"Unsupported {path}.driver: {tag}",
            "error",
            fix=f"Use one of: {', '.join(DRIVERS)}.",
        )
    if kind == "union_tag_not_found":
        return ConfigIssue(
            f"{path}.driver",
            f"{path} has no `driver` field",
            "error",
            fix=f"Add `driver:` with one of: {', '.join(DRIVERS)}.",
        )
    if kind == "literal_error" and parts and parts[-1] in ("backend", "driver"):
        return ConfigIssue(path, f"Unsupported {path}: {err.get('input')}", "error")
    if kind == "missing":
        return ConfigIssue(path, f"{path}: required field is missing", "error")
    if kind == "string_pattern_mismatch" and len(parts) == 2 and parts[0] == "connections":
        return ConfigIssue(
            path,
            f"{path}: connection id must start with a letter or digit and use only letters, digits, '_' and '-'",
            "error",
        )
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return ConfigIssue(path, f"{path}: {message}" if path else message, "error")


def validate_config_data(raw: Any) -> ConfigValidation:
    """Validate parsed ktx.yaml data: unknown keys warn and are dropped, bad values are errors."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return ConfigValidation(None, [ConfigIssue("", "ktx.yaml must contain a YAML object", "error")])
    data = copy.deepcopy(_plain(raw))
    warnings: list[ConfigIssue] = []
    hidden = 0
    # Each pass strips the unknown keys pydantic reported; nested unknowns surface once parents validate.
    for _ in range(16):
        try:
            config = KtxConfig.model_validate(data)
            if hidden:
                more = f"… and {hidden} more unknown field(s) (ignored)"
                warnings.append(ConfigIssue("", more, "warning", fix=UNKNOWN_FIELD_FIX))
            return ConfigValidation(config, warnings + _unknown_connection_keys(config))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        extras = [e for e in errors if e["type"] == "extra_forbidden"]
        if not extras:
            return ConfigValidation(None, warnings + _merge_by_path([_error_issue(data, e) for e in errors]))
        for err in extras:
            parts = _clean_loc(data, err["loc"])
            path = _dotted(parts)
            if len(warnings) >= MAX_UNKNOWN_REPORTED:
                hidden += 1  # a file of thousands of unknown keys is reported in one line, not thousands
                continue
            hint = _did_you_mean(str(parts[-1]) if parts else "", top_level=len(parts) == 1)
            warnings.append(
                ConfigIssue(
                    path, f"Unsupported {path}: unknown field (ignored){hint}", "warning", fix=UNKNOWN_FIELD_FIX
                )
            )
        for err in sorted(extras, key=lambda e: len(e["loc"]), reverse=True):
            _delete_path(data, _clean_loc(data, err["loc"]))
    raise AssertionError("config validation did not converge")


def _unknown_connection_keys(config: KtxConfig) -> list[ConfigIssue]:
    """Connection entries accept extra keys (driver options ktx passes on), so a misspelt `pth:` or `schemass:`
    would silently drop the scan scope: each key the entry's driver does not know is a warning, with did-you-mean."""
    issues = []
    for connection_id, entry in config.connections.items():
        extra = getattr(entry, "model_extra", None) or {}
        known = sorted({f.alias or name for name, f in type(entry).model_fields.items()})
        driver = getattr(entry, "driver", "?")
        for key in extra:
            path = f"connections.{connection_id}.{key}"
            close = _close_match(key, known)
            hint = f" — did you mean '{close}'?" if close else f" (a {driver} connection takes: {', '.join(known)})"
            issues.append(
                ConfigIssue(
                    path,
                    f"Unsupported {path}: unknown key for a {driver} connection (ignored){hint}",
                    "warning",
                    fix=UNKNOWN_FIELD_FIX,
                )
            )
    return issues


def _close_match(key: str, names: list[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
    if close:
        return close[0]
    # `schema:` on a driver that takes `schemas:`: a singular/plural slip is a near miss too
    for name in names:
        if name.rstrip("s") == key.rstrip("s"):
            return name
    return None


def _did_you_mean(key: str, *, top_level: bool) -> str:
    """` — did you mean 'collections'?` for a near miss of a known key."""
    import difflib

    if top_level:
        names = [f.alias or name for name, f in KtxConfig.model_fields.items()]
    else:
        names = sorted(
            {
                f.alias or name
                for model in _config_models()
                for name, f in model.model_fields.items()
                if not name.startswith("_")
            }
        )
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
    return f" — did you mean '{close[0]}'?" if close else ""


def _config_models() -> list[type[BaseModel]]:
    found = (v for m in (base, sections, connections) for v in vars(m).values())
    return [v for v in (*found, KtxConfig) if isinstance(v, type) and issubclass(v, BaseModel) and v is not BaseModel]


def _merge_by_path(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """One issue per path: a union reports one error per member, which reads as alternatives."""
    merged: dict[str, ConfigIssue] = {}
    for issue in issues:
        prior = merged.get(issue.path)
        if prior is None:
            merged[issue.path] = issue
            continue
        extra = issue.message.removeprefix(f"{issue.path}: ")
        merged[issue.path] = ConfigIssue(issue.path, f"{prior.message}; or {extra}", "error", prior.fix)
    return list(merged.values())


def _plain(value: Any) -> Any:
    """Convert ruamel's commented containers into plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
