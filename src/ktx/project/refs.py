"""Secret references in ktx.yaml: `env:NAME`, `file:PATH`, or a literal.

References are resolved only at the moment a value is used, and resolved values
never travel back into messages: errors name the variable or file, not the secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ktx.errors import KtxError

ENV_PREFIX = "env:"
FILE_PREFIX = "file:"


class SecretReferenceError(KtxError):
    """A referenced secret could not be read."""


@dataclass(frozen=True)
class Reference:
    kind: str  # "env" | "file" | "literal"
    target: str  # variable name, file path, or "" for literals

    def describe(self) -> str:
        """A safe, printable description of where the value comes from."""
        if self.kind == "env":
            return f"env: {self.target}"
        if self.kind == "file":
            return f"file: {self.target}"
        return "inline value"


def parse_reference(value: str) -> Reference:
    text = value.strip()
    if text.startswith(ENV_PREFIX):
        return Reference("env", text[len(ENV_PREFIX) :].strip())
    if text.startswith(FILE_PREFIX):
        return Reference("file", text[len(FILE_PREFIX) :].strip())
    return Reference("literal", "")


def is_reference(value: object) -> bool:
    return isinstance(value, str) and parse_reference(value).kind != "literal"


def reference_file_path(target: str, base_dir: Path | None = None) -> Path:
    """`~` expands to HOME; relative paths resolve against the project directory when known."""
    path = Path(os.path.expanduser(target))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def resolve_reference(
    value: str | None,
    *,
    field: str,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> str | None:
    """Resolve a config string. Unset or empty env values are `None`; a missing file is an error."""
    if value is None:
        return None
    env = os.environ if env is None else env
    ref = parse_reference(value)
    if ref.kind == "env":
        if not ref.target:
            raise SecretReferenceError(f"{field}: `env:` reference has no variable name")
        resolved = env.get(ref.target, "").strip()
        return resolved or None
    if ref.kind == "file":
        if not ref.target:
            raise SecretReferenceError(f"{field}: `file:` reference has no path")
        path = reference_file_path(ref.target, base_dir)
        try:
            resolved = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise SecretReferenceError(
                f"{field}: secret file not found: {path}",
                hint=f"Create the file or point {field} at another `file:` or `env:` reference.",
            ) from None
        except OSError as exc:
            raise SecretReferenceError(f"{field}: cannot read secret file {path}: {exc.strerror}") from None
        return resolved or None
    return value.strip() or None


def require_reference(
    value: str | None,
    *,
    field: str,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> str:
    """Like `resolve_reference`, but a missing value is an error that says where it was looked for."""
    resolved = resolve_reference(value, field=field, env=env, base_dir=base_dir)
    if resolved is None:
        where = parse_reference(value).describe() if value else "not set"
        raise SecretReferenceError(f"{field} is missing ({where})")
    return resolved
