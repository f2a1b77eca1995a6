"""`ktx status --validate` without validating again what was already validated: a ktx.yaml's issues are a pure
function of its bytes and of the code that checks them, so the answer for the same bytes and the same code is read
back from `.ktx/cache/config-check.json` instead of importing pydantic and building the config's validators (over
half of the command's time). Every other command validates ktx.yaml in full, as before."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ktx
from ktx.errors import KtxError
from ktx.filestamp import add_files, add_package
from ktx.project.location import CONFIG_FILE, KTX_DIR

CACHE_FILE = "cache/config-check.json"
FORMAT = 1

_CODE: Any = None


@dataclass(frozen=True)
class ConfigCheck:
    ok: bool
    issues: list[dict[str, Any]]


def check_config(root: Path) -> ConfigCheck:
    """The issues of `root`'s ktx.yaml (errors and warnings, as `ConfigIssue.to_json` gives them) and whether it
    is valid."""
    try:
        data = (root / CONFIG_FILE).read_bytes()
    except FileNotFoundError:
        raise KtxError(f"No ktx.yaml found in {root}") from None
    key = _key(data)
    cache = root / KTX_DIR / CACHE_FILE
    known = _read(cache, key)
    if known is not None:
        return known
    from ktx.project.project import validate_config_bytes

    validation = validate_config_bytes(data)
    result = ConfigCheck(validation.ok, [issue.to_json() for issue in validation.issues])
    _write(cache, key, result)
    return result


def _key(data: bytes) -> str:
    digest = _code_digest().copy()
    digest.update(b"\0")
    digest.update(data)
    return digest.hexdigest()


def _code_digest() -> Any:
    """ktx's version, the files of the code that reads and validates ktx.yaml (the project package, its config
    models, the driver registry they name), and the installed pydantic and ruamel.yaml (an upgrade rewrites the
    files stamped), read once per process."""
    global _CODE
    if _CODE is None:
        digest = hashlib.sha256(f"{FORMAT}|{ktx.__version__}".encode())
        add_package(digest, "pydantic", ["__init__.py", "version.py"])
        add_package(digest, "ruamel.yaml", ["__init__.py"])
        package = Path(ktx.__file__).parent
        project, config = package / "project", package / "project" / "config"
        code = [
            *project.glob("*.py"),
            *config.glob("*.py"),
            package / "errors.py",
            package / "warehouse" / "registry.py",
        ]
        add_files(digest, package, code)
        _CODE = digest
    return _CODE


def _read(cache: Path, key: str) -> ConfigCheck | None:
    try:
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("key") == key and isinstance(stored.get("ok"), bool) and isinstance(stored.get("issues"), list):
            return ConfigCheck(stored["ok"], stored["issues"])
    except (OSError, ValueError, AttributeError):
        pass  # absent, unreadable or not ours: validate
    return None


def _write(cache: Path, key: str, result: ConfigCheck) -> None:
    """Keep the answer for next time; a project ktx cannot write to is still checked, only not remembered."""
    from ktx.project.files import atomic_write

    with contextlib.suppress(OSError):
        atomic_write(cache, json.dumps({"key": key, "ok": result.ok, "issues": result.issues}))
