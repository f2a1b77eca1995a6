"""dbt, projected deterministically (no LLM) onto the target warehouse's scanned manifest.

What a dbt project's YAML says lands in the `_schema` entries of the tables its models and sources build, under
the `dbt` provenance key, so a database rescan keeps it and people's overlays stay untouched:

- model, source and column descriptions → `descriptions.dbt` (`{{ doc('…') }}` resolved from `{% docs %}` blocks);
- `unique` / `not_null` tests → `constraints.dbt` (both on one column make it the grain when the scan found no key);
- `accepted_values` → `enum_values.dbt`, also named in the column's description (so search finds them);
- `relationships` tests → joins (`source: manual`) when both ends resolve to scanned tables and columns;
- model tags → `tags.dbt`; source freshness → `freshness.dbt`.

A model with no scanned table, an ambiguous one, a test pointing at an unknown model, Jinja ktx cannot resolve and
YAML that does not parse are each one warning; the rest is projected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ktx.errors import KtxError

DOC_BLOCK = re.compile(r"{%-?\s*docs\s+([\w.]+)\s*-?%}(.*?){%-?\s*enddocs\s*-?%}", re.S)
DOC_CALL = re.compile(r"{{\s*doc\(\s*['\"]([\w.]+)['\"]\s*\)\s*}}")
JINJA = re.compile(r"{{.*?}}|{%.*?%}", re.S)
REF = re.compile(r"ref\(\s*['\"](?:[\w-]+['\"]\s*,\s*['\"])?([\w.-]+)['\"]\s*\)")
SOURCE_REF = re.compile(r"source\(\s*['\"]([\w.-]+)['\"]\s*,\s*['\"]([\w.-]+)['\"]\s*\)")
MAX_FILE_BYTES = 5_000_000


@dataclass
class DbtNode:
    kind: str  # model | seed | snapshot | source
    name: str  # model name, or "<source>.<table>"
    identifier: str
    schema: str | None
    description: str = ""
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → {description, tests: [...]}
    tags: list[str] = field(default_factory=list)
    freshness: dict[str, Any] | None = None
    loaded_at_field: str | None = None
    file: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # folder `+meta` under the node's own, plus `+docs`


@dataclass
class DbtProject:
    name: str
    nodes: list[DbtNode] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # relative path → text (the staged YAML)


def load_yaml_file(path: Path, rel: str, warnings: list[str]) -> Any:
    """A source YAML file, or None with a warning naming it (too large, or not valid YAML)."""
    from ruamel.yaml.constructor import DuplicateKeyError

    from ktx.project.yamlio import safe_load, safe_load_last_wins, yaml_problem

    if path.stat().st_size > MAX_FILE_BYTES:
        warnings.append(f"dbt_file_too_large:{rel}: over {MAX_FILE_BYTES // 1_000_000} MB; skipped")
        return None
    try:
        text = path.read_text(encoding="utf-8")
        try:
            return safe_load(text)
        except DuplicateKeyError:
            # dbt reads YAML with PyYAML, where a repeated key's last value wins: read it the same way, say so.
            data, repeated = safe_load_last_wins(text)
            for key, line in repeated:
                warnings.append(
                    f"dbt_yaml_duplicate_key:{rel}: `{key}` repeats on line {line}; the last one wins, as in dbt"
                )
            return data
    except Exception as exc:  # malformed YAML: one warning naming the file, the rest goes on
        warnings.append(f"dbt_yaml_invalid:{rel}: {yaml_problem(exc) if hasattr(exc, 'problem') else exc}")
        return None


def _tests(column: dict[str, Any]) -> list[Any]:
    return list(column.get("data_tests") or column.get("tests") or [])


def read_project(root: Path) -> DbtProject:
    """Parse `dbt_project.yml`, `{% docs %}` blocks and every YAML under the model and seed paths."""
    from ktx.sources.files import inside, source_files, subfolder

    project_file = next((root / n for n in ("dbt_project.yml", "dbt_project.yaml") if (root / n).is_file()), None)
    if project_file is None:
        raise KtxError(f"{root} is not a dbt project (no dbt_project.yml).")
    if not inside(project_file, root):
        raise KtxError(f"{project_file} is a symlink to a file outside the dbt project; ktx does not read it.")
    warnings: list[str] = []
    config = load_yaml_file(project_file, project_file.name, warnings) or {}
    if not isinstance(config, dict):
        raise KtxError(f"{project_file.name} is not a YAML mapping.")
    name = str(config.get("name") or root.name)
    project = DbtProject(name, warnings=warnings)
    paths = [str(p) for p in (config.get("model-paths") or config.get("source-paths") or ["models"])]
    snapshot_paths = [str(p) for p in config.get("snapshot-paths") or ["snapshots"]]
    paths += [str(p) for p in config.get("seed-paths") or ["seeds"]] + snapshot_paths
    docs: dict[str, str] = {}
    yaml_files: list[Path] = []
    yaml_rels: dict[Path, str] = {}
    # Seeds (a CSV each) and snapshots (`{% snapshot name %}` blocks) are nodes `ref()` reaches even when no YAML
    # describes them.
    built: dict[str, tuple[str, str]] = {}
    for folder in dict.fromkeys(paths):
        base = subfolder(root, folder, "dbt", warnings, f"dbt_project.yml path '{folder}'")
        if base is None:
            continue
        for path, rel in source_files(root, base, (".md", ".yml", ".yaml", ".csv", ".sql"), "dbt", warnings):
            if path.suffix == ".csv":
                built.setdefault(path.stem, ("seed", rel))
            elif path.suffix == ".sql":
                if folder not in snapshot_paths:
                    continue  # model SQL is not read; only snapshot blocks name nodes
                head = path.read_text(encoding="utf-8", errors="replace")[:MAX_SNAPSHOT_SCAN]
                for match in SNAPSHOT_BLOCK.finditer(head):
                    built.setdefault(match.group(1), ("snapshot", rel))
            elif path.suffix == ".md":
                for match in DOC_BLOCK.finditer(path.read_text(encoding="utf-8", errors="replace")):
                    docs[match.group(1)] = match.group(2).strip()
            elif path not in yaml_rels:
                yaml_files.append(path)
                yaml_rels[path] = rel
    default_schema = _project_schema(config, name)
    for path in yaml_files:
        rel = yaml_rels[path]
        data = load_yaml_file(path, rel, project.warnings)
        if data is None:
            continue
        project.files[rel] = path.read_text(encoding="utf-8", errors="replace")
        if not isinstance(data, dict):
            continue
        described = [("model", m) for m in data.get("models") or []]
        described += [("seed", m) for m in data.get("seeds") or []] + [
            ("snapshot", m) for m in data.get("snapshots") or []
        ]
        for kind, model in described:
            if not isinstance(model, dict) or not model.get("name"):
                continue
            cfg = model.get("config") or {}
            levels = _folder_levels(config, name, kind, rel, paths)
            node = DbtNode(
                kind,
                str(model["name"]),
                str(cfg.get("alias") or model.get("alias") or model["name"]),
                cfg.get("schema") or model.get("schema") or default_schema,
                _text(model.get("description"), docs, rel, project.warnings),
                tags=list(
                    dict.fromkeys(
                        [
                            *_folder_tags(levels),
                            *(str(t) for t in _as_list(cfg.get("tags") or model.get("tags"))),
                        ]
                    )
                ),
                file=rel,
                meta=_node_meta(_folder_meta(levels), model, cfg),
            )
            node.columns = _columns(model, docs, rel, project.warnings)
            project.nodes.append(node)
        for source in data.get("sources") or []:
            if not isinstance(source, dict) or not source.get("name"):
                continue
            for table in source.get("tables") or []:
                if not isinstance(table, dict) or not table.get("name"):
                    continue
                node = DbtNode(
                    "source",
                    f"{source['name']}.{table['name']}",
                    str(table.get("identifier") or table["name"]),
                    source.get("schema") or source["name"],
                    _text(table.get("description") or source.get("description"), docs, rel, project.warnings),
                    freshness=table.get("freshness") or source.get("freshness"),
                    loaded_at_field=table.get("loaded_at_field") or source.get("loaded_at_field"),
                    file=rel,
                    meta=_node_meta(_node_meta({}, source, source.get("config")), table, table.get("config")),
                )
                node.columns = _columns(table, docs, rel, project.warnings)
                project.nodes.append(node)
    named = {n.name for n in project.nodes}
    for node_name, (kind, rel) in sorted(built.items()):
        if node_name not in named:
            project.nodes.append(DbtNode(kind, node_name, node_name, default_schema, file=rel))
    _apply_manifest(root, project)
    return project


MANIFEST_MAX_BYTES = 200_000_000
COMPILED_KINDS = ("model", "seed", "snapshot")


def _apply_manifest(root: Path, project: DbtProject) -> None:
    """`target/manifest.json` (what `dbt parse`/`dbt compile` wrote) is authoritative for the names a node is
    built under — alias and schema after the project's macros and configs ran — and names nodes no YAML
    describes; the YAML stays the source of descriptions and tests."""
    import json

    from ktx.sources.files import inside

    path = root / "target" / "manifest.json"
    if not path.is_file():
        return
    if not inside(path, root):
        project.warnings.append("dbt_path_outside:target/manifest.json: a symlink outside the project; not read")
        return
    if path.stat().st_size > MANIFEST_MAX_BYTES:
        project.warnings.append("dbt_file_too_large:target/manifest.json: over 200 MB; not read")
        return
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        nodes = [n for n in (manifest.get("nodes") or {}).values() if isinstance(n, dict)]
    except (ValueError, AttributeError) as exc:
        project.warnings.append(f"dbt_yaml_invalid:target/manifest.json: not a dbt manifest ({exc})")
        return
    by_name = {(n.kind, n.name): n for n in project.nodes}
    for entry in nodes:
        kind, name = str(entry.get("resource_type") or ""), str(entry.get("name") or "")
        if kind not in COMPILED_KINDS or not name:
            continue
        identifier = str(entry.get("alias") or entry.get("identifier") or name)
        schema = entry.get("schema")
        node = by_name.get((kind, name))
        if node is None:
            node = DbtNode(
                kind, name, identifier, schema, str(entry.get("description") or "").strip(), file="target/manifest.json"
            )
            node.tags = [str(t) for t in entry.get("tags") or []]
            project.nodes.append(node)
            by_name[(kind, name)] = node
        else:
            node.identifier, node.schema = identifier, schema or node.schema


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _folder_levels(config: dict[str, Any], project: str, kind: str, rel: str, paths: list[str]) -> list[dict[str, Any]]:
    """The blocks of dbt_project.yml's `models:` / `seeds:` / `snapshots:` config that apply to a file: the project's,
    then each folder's down to the file's own (`models: {shop: {marts: {+tags: [finance]}}}` applies to every model
    under models/marts/), as dbt applies folder config."""
    block = config.get({"model": "models", "seed": "seeds", "snapshot": "snapshots"}.get(kind, "models")) or {}
    node = block.get(project) if isinstance(block, dict) else None
    if not isinstance(node, dict):
        return []
    parts = Path(rel).parent.parts
    for base in paths:  # the path inside its model/seed/snapshot folder
        base_parts = Path(base).parts
        if parts[: len(base_parts)] == base_parts:
            parts = parts[len(base_parts) :]
            break
    levels = [node]
    for part in parts:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            break
        levels.append(node)
    return levels


def _folder_tags(levels: list[dict[str, Any]]) -> list[str]:
    """`+tags` accumulate down the folders."""
    return [str(t) for level in levels for t in _as_list(level.get("+tags") or level.get("tags"))]


def _folder_meta(levels: list[dict[str, Any]]) -> dict[str, Any]:
    """`+meta` merges down the folders (a deeper key wins); `+docs` (`show`, `node_color`) is kept under `docs`."""
    meta: dict[str, Any] = {}
    for level in levels:
        value = level.get("+meta")
        if isinstance(value, dict):
            meta.update(value)
        docs = level.get("+docs")
        if isinstance(docs, dict):
            meta["docs"] = {**(meta.get("docs") or {}), **docs}
    return meta


def _node_meta(folder: dict[str, Any], item: dict[str, Any], cfg: Any) -> dict[str, Any]:
    """What dbt's `meta` holds for a node: folder config first, then the node's `meta:` and `config: {meta:}`."""
    cfg = cfg if isinstance(cfg, dict) else {}
    meta = dict(folder)
    for value in (item.get("meta"), cfg.get("meta")):
        if isinstance(value, dict):
            meta.update(value)
    for value in (item.get("docs"), cfg.get("docs")):
        if isinstance(value, dict):
            meta["docs"] = {**(meta.get("docs") or {}), **value}
    return {str(k): v for k, v in meta.items()}


SNAPSHOT_BLOCK = re.compile(r"{%-?\s*snapshot\s+([A-Za-z_][\w]*)\s*-?%}")
MAX_SNAPSHOT_SCAN = 200_000


def _project_schema(config: dict[str, Any], name: str) -> str | None:
    models = config.get("models") or {}
    block = models.get(name) if isinstance(models, dict) else None
    if isinstance(block, dict):
        value = block.get("+schema") or block.get("schema")
        return str(value) if value else None
    return None


def _text(value: Any, docs: dict[str, str], rel: str, warnings: list[str]) -> str:
    if not isinstance(value, str):
        return ""

    def doc(match: re.Match[str]) -> str:
        key = match.group(1).split(".")[-1]
        if key in docs:
            return docs[key]
        warnings.append(f"dbt_doc_missing:{rel}: doc('{match.group(1)}') has no docs block")
        return ""

    text = DOC_CALL.sub(doc, value)
    if JINJA.search(text):
        warnings.append(f"dbt_jinja_unresolved:{rel}: {JINJA.search(text).group(0)[:60]} left out of a description")
        text = JINJA.sub("", text)
    return " ".join(text.split())


def _columns(node: dict[str, Any], docs: dict[str, str], rel: str, warnings: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for column in node.get("columns") or []:
        if isinstance(column, dict) and column.get("name"):
            out[str(column["name"])] = {
                "description": _text(column.get("description"), docs, rel, warnings),
                "tests": _tests(column),
                "meta": _node_meta({}, column, column.get("config")),
            }
    return out


@dataclass
class Projection:
    entries: dict[str, dict[str, Any]]  # manifest source key → its new entry
    joins: list[tuple[str, dict[str, Any]]]  # (source key, join) written from relationships tests
    matched: dict[str, str]  # dbt node name → manifest source key
    warnings: list[str]


def _test_name(test: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(test, str):
        return test.split(".")[-1], {}
    if isinstance(test, dict) and test:
        name, args = next(iter(test.items()))
        args = args if isinstance(args, dict) else {}
        return str(name).split(".")[-1], dict(args.get("arguments") or args)
    return "", {}


def match_tables(
    nodes: list[DbtNode], entries: dict[str, dict[str, Any]], code: str = "dbt_model"
) -> tuple[dict[str, str], list[str]]:
    """Node → manifest key by table identifier, the node's schema breaking ties; `<code>_unmatched` and
    `<code>_ambiguous` warnings for the rest."""
    by_identifier: dict[str, list[tuple[str, str | None]]] = {}
    for key, entry in entries.items():
        table = str(entry.get("table") or "")
        parts = [p.strip('"`[]') for p in table.split(".")]
        by_identifier.setdefault(parts[-1].lower(), []).append((key, parts[-2].lower() if len(parts) > 1 else None))
    matched, warnings = {}, []
    for node in nodes:
        hits = by_identifier.get(node.identifier.lower(), [])
        if len(hits) > 1 and node.schema:
            schema = node.schema.lower()
            hits = [h for h in hits if h[1] == schema or (h[1] or "").endswith("_" + schema)] or hits
        if len(hits) == 1:
            matched[node.name] = hits[0][0]
        elif not hits:
            warnings.append(
                f"{code}_unmatched:{node.name}: no scanned table named {node.identifier}"
                " (run `ktx ingest <warehouse>` after dbt builds it); not projected"
            )
        else:
            warnings.append(
                f"{code}_ambiguous:{node.name}: {len(hits)} scanned tables are named {node.identifier}; not projected"
            )
    return matched, warnings


def project(
    dbt: DbtProject,
    entries: dict[str, dict[str, Any]],
    previous_joins: list[tuple[str, dict[str, Any]]],
    duplicated: dict[tuple[str, str], str] | None = None,
) -> Projection:
    """New manifest entries with the dbt keys replaced (removed where dbt no longer says anything)."""
    import copy

    matched, warnings = match_tables(dbt.nodes, entries)
    warnings = dbt.warnings + warnings
    out = {}
    nodes_by_key = {matched[n.name]: n for n in dbt.nodes if n.name in matched}
    model_keys = {n.name: matched[n.name] for n in dbt.nodes if n.name in matched}
    previous = {(k, j.get("to"), j.get("on")) for k, j in previous_joins}
    joins: list[tuple[str, dict[str, Any]]] = []
    for key, entry in entries.items():
        new = copy.deepcopy(entry)
        node = nodes_by_key.get(key)
        _drop_dbt(new)
        new["joins"] = [j for j in new.get("joins") or [] if (key, j.get("to"), j.get("on")) not in previous]
        if node is not None:
            if node.description:
                new.setdefault("descriptions", {})["dbt"] = node.description
            if node.tags:
                new.setdefault("tags", {})["dbt"] = node.tags
            if node.meta:
                new.setdefault("meta", {})["dbt"] = node.meta
            if node.freshness:
                new.setdefault("freshness", {})["dbt"] = {
                    "raw": node.freshness,
                    "loaded_at_field": node.loaded_at_field,
                }
            columns = {str(c.get("name")).lower(): c for c in new.get("columns") or []}
            for name, info in node.columns.items():
                column = columns.get(name.lower())
                if column is None:
                    warnings.append(f"dbt_column_unmatched:{node.name}.{name}: not a column of {entry.get('table')}")
                    continue
                constraints: dict[str, bool] = {}
                values: list[str] = []
                for test in info["tests"]:
                    test_name, args = _test_name(test)
                    if test_name in ("unique", "not_null"):
                        constraints[test_name] = True
                    elif test_name == "accepted_values" and isinstance(args.get("values"), list):
                        values = [str(v) for v in args["values"]]
                    elif test_name == "relationships":
                        join = _relationship(
                            key, column["name"], args, model_keys, entries, node.name, warnings, duplicated or {}
                        )
                        if join is not None:
                            joins.append((key, join))
                description = info["description"]
                if values:
                    description = (description + " " if description else "") + f"Accepted values: {', '.join(values)}."
                if description:
                    column.setdefault("descriptions", {})["dbt"] = description
                if constraints:
                    column.setdefault("constraints", {})["dbt"] = constraints
                if values:
                    column.setdefault("enum_values", {})["dbt"] = values
                if info.get("meta"):
                    column.setdefault("meta", {})["dbt"] = info["meta"]
        out[key] = new
    for key, join in joins:
        existing = out[key].setdefault("joins", [])
        same = [j for j in existing if j.get("to") == join["to"] and _norm(j.get("on", "")) == _norm(join["on"])]
        if not same:
            existing.append(join)
        for found in same:
            if found.get("source") == "inferred":
                found["source"] = "manual"  # the scan found it from the data; dbt's test says a person declared it
    for entry in out.values():
        if not entry.get("joins"):
            entry.pop("joins", None)
    return Projection(out, joins, matched, warnings)


def _norm(on: str) -> str:
    return re.sub(r"\s+", " ", on.strip().lower())


def _relationship(
    key: str,
    column: str,
    args: dict[str, Any],
    model_keys: dict[str, str],
    entries: dict[str, dict[str, Any]],
    node: str,
    warnings: list[str],
    duplicated: dict[tuple[str, str], str],
) -> dict[str, Any] | None:
    target_text, field_name = str(args.get("to") or ""), str(args.get("field") or "")
    ref = REF.search(target_text)
    src = SOURCE_REF.search(target_text)
    target_name = ref.group(1) if ref else (f"{src.group(1)}.{src.group(2)}" if src else None)
    target = model_keys.get(target_name or "")
    if target is None:
        warnings.append(
            f"dbt_ref_unresolved:{node}.{column}: relationships test to {target_text or '?'} has no scanned table"
        )
        return None
    target_columns = {str(c.get("name")).lower(): str(c.get("name")) for c in entries[target].get("columns") or []}
    real = target_columns.get(field_name.lower())
    if real is None:
        warnings.append(f"dbt_ref_unresolved:{node}.{column}: {target_name} has no column {field_name or '?'}")
        return None
    evidence = duplicated.get((target, real.lower()))
    if evidence is not None:
        # dbt only tests that every value exists there; a many-to-one join also needs it unique there, and the
        # scan saw repeats. Joined as many-to-one it would multiply rows (an answer of 12 instead of 3).
        warnings.append(
            f"dbt_relationship_not_unique:{node}.{column}: {target}.{real} is not unique in the data ({evidence}); "
            "the join was not written — review it, and declare it yourself in an overlay if it is right"
        )
        return None
    return {"to": target, "on": f"{key}.{column} = {target}.{real}", "relationship": "many_to_one", "source": "manual"}


def _drop_dbt(entry: dict[str, Any]) -> None:
    for key in ("descriptions", "tags", "freshness", "meta"):
        block = entry.get(key)
        if isinstance(block, dict):
            block.pop("dbt", None)
            if not block:
                entry.pop(key)
    for column in entry.get("columns") or []:
        for key in ("descriptions", "constraints", "enum_values", "meta"):
            block = column.get(key)
            if isinstance(block, dict):
                block.pop("dbt", None)
                if not block:
                    column.pop(key)
