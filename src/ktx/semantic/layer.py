"""Where a connection's semantic layer lives and its compiled engine: what the per-process `Services` needs,
with no dependency on the capabilities built on top (semantic.service imports this, never the reverse)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ktx.errors import KtxError
from ktx.warehouse.registry import DRIVER_DIALECTS

if TYPE_CHECKING:  # the compiler pulls in sqlglot: `layer_connections` alone must not pay for it
    from ktx.semantic.compiler import SemanticEngine
    from ktx.semantic.loader import LoadedLayer


def layer_dir(root: Path, connection_id: str) -> Path:
    return root / "semantic-layer" / connection_id


def layer_connections(root: Path) -> list[str]:
    base = root / "semantic-layer"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def existing_layer_dir(root: Path, connection_id: str) -> Path:
    folder = layer_dir(root, connection_id)
    if not folder.is_dir():
        raise KtxError(
            f"No semantic layer for connection '{connection_id}' (expected {folder}).",
            hint=(
                "Run `ktx ingest <connection>` to scan a warehouse into semantic-layer/<connection>/, or add source "
                "YAML there by hand."
            ),
        )
    return folder


def dialect_for(driver: str | None) -> str:
    return DRIVER_DIALECTS.get((driver or "").lower(), "postgres")


def build_engine(
    root: Path, connection_id: str, driver: str | None, *, ambiguous_paths: str = "refuse"
) -> tuple[SemanticEngine, LoadedLayer]:
    import copy

    from ktx.semantic.cache import load_engine

    engine, layer = load_engine(root, existing_layer_dir(root, connection_id), connection_id, dialect_for(driver))
    engine = copy.copy(engine)  # the loaded one is shared within the process
    engine.ambiguous_paths = ambiguous_paths  # a setting of the project, not of the cached layer
    return engine, layer


@contextmanager
def layer_with_changes(root: Path, connection_id: str, changes: dict[str, str | None]) -> Iterator[Path]:
    """A temporary copy of the connection's layer folder with `changes` applied (project-relative paths under
    semantic-layer/<connection>/; None deletes): what the layer will be once they are written, to load and check
    before anything touches the project."""
    import shutil
    import tempfile

    prefix = f"semantic-layer/{connection_id}"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / connection_id
        if layer_dir(root, connection_id).is_dir():
            shutil.copytree(layer_dir(root, connection_id), copy)
        else:
            copy.mkdir()
        for rel, text in changes.items():
            target = copy / Path(rel).relative_to(prefix)
            if text is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        yield copy
