"""MetricFlow, projected deterministically (no LLM) into the target warehouse's semantic layer.

Semantic models become generated overlays (`semantic-layer/<warehouse>/metricflow/<source>.yaml`) on the scanned
tables their `model: ref('…')` (or `node_relation`) names: the primary entity is the grain, foreign → primary
entity pairs are joins (both columns checked against the scan), dimensions with an expression are computed
columns, measures are `agg(expr)` measures, and every metric becomes a measure under its own name — simple metrics
(their `filter` templates rewritten to segments or filters), ratios and derived metrics (also across semantic
models). Cumulative and conversion metrics have no equivalent here: each gets a wiki page and a report entry.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ktx.errors import KtxError
from ktx.semantic.grains import GRANULARITIES
from ktx.semantic.model import parse_window

TEMPLATE = re.compile(
    r"{{\s*(Dimension|TimeDimension|Entity|Metric)\(\s*['\"]([\w]+)['\"]\s*(?:,\s*['\"]([\w]+)['\"])?([^)]*)\)\s*}}"
)
ENTITY_PATH = re.compile(r"^\s*,\s*entity_path\s*=\s*\[([^\]]*)\]\s*$")
GRAINS = GRANULARITIES
MANIFEST = "semantic_manifest.json"
REF = re.compile(r"ref\(\s*['\"]([\w.-]+)['\"]\s*\)")
AGGREGATES = {
    "sum": "sum({e})",
    "count": "count({e})",
    "count_distinct": "count(distinct {e})",
    "average": "avg({e})",
    "avg": "avg({e})",
    "min": "min({e})",
    "max": "max({e})",
    "median": "median({e})",
    "sum_boolean": "sum(case when {e} then 1 else 0 end)",
}


@dataclass
class Model:
    name: str
    table: str  # identifier the model builds
    description: str = ""
    primary: tuple[str, str] | None = None  # (entity name, column expr)
    foreign: list[tuple[str, str]] = field(default_factory=list)
    unique: list[tuple[str, str]] = field(default_factory=list)  # unique/natural entities: joinable like a primary
    entity: str | None = None  # `primary_entity:`, when the model declares one without a primary column
    dimensions: dict[str, dict[str, Any]] = field(default_factory=dict)
    measures: dict[str, dict[str, Any]] = field(default_factory=dict)
    agg_time: str | None = None
    file: str = ""
    relation: str | None = None  # `node_relation` schema.alias, when the model names one


@dataclass
class MetricFlowProject:
    models: dict[str, Model] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    # (table identifier, date column, granularity) of each time spine the project declares
    time_spines: list[tuple[str, str, str]] = field(default_factory=list)
    # time spine table (lower-case) → its custom granularities as (name, column)
    custom_grains: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # the objects as written (semantic models by name, `_file` naming where), for dbt's own checks
    raw_models: dict[str, dict[str, Any]] = field(default_factory=dict)
    project_configuration: dict[str, Any] | None = None
    from_manifest: bool = False
    refused: dict[str, str] = field(default_factory=dict)  # metric → why dbt itself would not answer it
    # model → the warehouse table it reads, set by `project()` (a metric filter's sub-query reads it directly)
    relations: dict[str, str] = field(default_factory=dict)
    # (model, column lower-cased) of entity keys the data shows are not unique, set by `project()`
    not_unique: set[tuple[str, str]] = field(default_factory=set)


def read_project(root: Path) -> MetricFlowProject:
    from ktx.sources.dbt import MAX_FILE_BYTES

    out = MetricFlowProject()
    raw_models = out.raw_models
    from ktx.sources.files import source_files

    manifest = next((p for p in (root / "target" / MANIFEST, root / MANIFEST) if p.is_file()), None)
    if manifest is not None and _read_manifest(manifest, root, out, raw_models):
        _checked(out)
        return out
    for path, rel in source_files(root, root, (".yml", ".yaml"), "metricflow", out.warnings):
        if path.stat().st_size > MAX_FILE_BYTES:
            out.warnings.append(f"metricflow_file_too_large:{rel}: over 5 MB; skipped")
            continue
        documents = _documents(path, rel, out.warnings, root)
        found = False
        for data in documents:
            # dbt schema files list them (dbt-core converts those before MetricFlow sees them); MetricFlow's own
            # files hold one per document.
            models = [
                *((m, "dbt") for m in data.get("semantic_models") or []),
                *([(data["semantic_model"], "metricflow")] if "semantic_model" in data else []),
            ]
            metrics = [
                *((m, "dbt") for m in data.get("metrics") or []),
                *([(data["metric"], "metricflow")] if "metric" in data else []),
            ]
            if isinstance(data.get("project_configuration"), dict):
                out.project_configuration = {**data["project_configuration"], "_file": rel}
            spines = _time_spines(data)
            out.time_spines += [t for t in spines if t not in out.time_spines]
            for table, grains in _custom_grains(data).items():
                out.custom_grains.setdefault(table, []).extend(g for g in grains if g not in out.custom_grains[table])
            found = found or bool(spines)
            for model, style in models:
                if isinstance(model, dict) and model.get("name"):
                    raw_models[str(model["name"])] = {**model, "_file": rel, "_style": style}
                    found = True
            for metric, style in metrics:
                if isinstance(metric, dict) and metric.get("name"):
                    out.metrics.append({**metric, "_file": rel, "_style": style})
                    found = True
        if found:
            out.files[rel] = path.read_text(encoding="utf-8", errors="replace")
    if not raw_models and not out.metrics:
        raise KtxError(f"{root} holds no MetricFlow semantic_models or metrics.")
    _checked(out)
    return out


def _checked(out: MetricFlowProject) -> None:
    """dbt's own checks (metricflow_check): objects it cannot parse are left out, metrics it rejects refused."""
    from ktx.sources.metricflow_check import check_project

    result = check_project(out)
    out.warnings += result.warnings
    for name in result.invalid_models:
        out.raw_models.pop(name, None)
    out.refused = {**result.invalid_metrics, **result.refused_metrics}
    for name, raw in out.raw_models.items():
        out.models[name] = _model(name, _extended(raw, out.raw_models, set()))
    _proxy_metrics(out)


def _proxy_metrics(out: MetricFlowProject) -> None:
    """A measure with `create_metric: true` is also a simple metric of its name, as MetricFlow's loader makes it
    (a compiled semantic_manifest.json already lists them)."""
    named = {str(m.get("name")) for m in out.metrics}
    for model in out.models.values():
        for name, measure in model.measures.items():
            if measure.get("create_metric") is True and name not in named:
                proxy: dict[str, Any] = {"name": name, "type": "simple", "type_params": {"measure": name}}
                if measure.get("description"):
                    proxy["description"] = measure["description"]
                out.metrics.append({**proxy, "_file": model.file, "_style": "proxy"})
                named.add(name)


def _read_manifest(path: Path, root: Path, out: MetricFlowProject, raw_models: dict[str, dict[str, Any]]) -> bool:
    """`semantic_manifest.json` (what `dbt parse` writes, MetricFlow's own input): the compiled project, read in
    place of the YAML when it parses. Its filters are `{where_filters: [{where_sql_template}]}` and its windows
    `{count, granularity}`; both are read as the YAML spellings."""
    import json

    from ktx.sources.dbt import MAX_FILE_BYTES

    rel = str(path.relative_to(root))
    if path.stat().st_size > 20 * MAX_FILE_BYTES:
        out.warnings.append(f"metricflow_file_too_large:{rel}: over 100 MB; the YAML files are read instead")
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        out.warnings.append(f"metricflow_manifest_invalid:{rel}: {exc}; the YAML files are read instead")
        return False
    if not isinstance(data, dict) or not isinstance(data.get("semantic_models"), list):
        out.warnings.append(
            f"metricflow_manifest_invalid:{rel}: no semantic_models list; the YAML files are read instead"
        )
        return False
    for model in data["semantic_models"]:
        if isinstance(model, dict) and model.get("name"):
            raw_models[str(model["name"])] = {**model, "_file": rel}
    out.metrics = [{**m, "_file": rel} for m in data.get("metrics") or [] if isinstance(m, dict) and m.get("name")]
    out.time_spines = _time_spines(data)
    out.custom_grains = _custom_grains(data)
    if isinstance(data.get("project_configuration"), dict):
        out.project_configuration = {**data["project_configuration"], "_file": rel}
    out.files[rel] = path.read_text(encoding="utf-8", errors="replace")
    out.from_manifest = True
    return True


def _time_spines(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Time spines as MetricFlow's project configuration (both its forms) or a dbt model's `time_spine:` name them."""
    out = []
    config = data.get("project_configuration") if isinstance(data.get("project_configuration"), dict) else {}
    for item in config.get("time_spine_table_configurations") or []:
        if isinstance(item, dict) and item.get("location") and item.get("column_name"):
            table = str(item["location"]).rsplit(".", 1)[-1]
            out.append((table, str(item["column_name"]), str(item.get("grain") or "day").lower()))
    for item in config.get("time_spines") or []:
        relation, column = item.get("node_relation") or {}, item.get("primary_column") or {}
        if isinstance(item, dict) and relation.get("alias") and column.get("name"):
            grain = str(column.get("time_granularity") or "day").lower()
            out.append((str(relation["alias"]), str(column["name"]), grain))
    for model in data.get("models") or []:
        spine = model.get("time_spine") if isinstance(model, dict) else None
        if isinstance(spine, dict) and spine.get("standard_granularity_column"):
            column = str(spine["standard_granularity_column"])
            grain = next(
                (
                    str(c.get("granularity")).lower()
                    for c in model.get("columns") or []
                    if isinstance(c, dict) and c.get("name") == column and c.get("granularity")
                ),
                "day",
            )
            out.append((str(model.get("name")), column, grain))
    return out


def _custom_grains(data: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Custom granularities of each time spine (`custom_granularities: [{name, column_name}]`, the column named
    like the granularity when not given), from MetricFlow's project configuration or a dbt model's `time_spine:`."""
    out: dict[str, list[tuple[str, str]]] = {}

    def add(table: str, items: Any) -> None:
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("name"):
                grain = (str(item["name"]), str(item.get("column_name") or item["name"]))
                out.setdefault(table.lower(), []).append(grain)

    config = data.get("project_configuration") if isinstance(data.get("project_configuration"), dict) else {}
    for item in config.get("time_spines") or []:
        relation = (item.get("node_relation") or {}) if isinstance(item, dict) else {}
        if relation.get("alias"):
            add(str(relation["alias"]), item.get("custom_granularities"))
    for model in data.get("models") or []:
        spine = model.get("time_spine") if isinstance(model, dict) else None
        if isinstance(spine, dict):
            add(str(model.get("name")), spine.get("custom_granularities"))
    return out


def _documents(path: Path, rel: str, warnings: list[str], root: Path) -> list[dict[str, Any]]:
    """The mappings of a YAML file, one per document: a file may list `semantic_models:`/`metrics:` or hold one
    `semantic_model:`/`metric:` per `---` document, as MetricFlow's own projects do."""
    from ktx.project.yamlio import safe_load_all, yaml_problem
    from ktx.sources.dbt import load_yaml_file
    from ktx.sources.files import inside

    text = path.read_text(encoding="utf-8", errors="replace")
    target = _text_symlink(path, text)
    if target is not None:
        # A symlink checked out without symlink support (git's core.symlinks=false) is a file holding its target.
        if not target.is_file() or not inside(target, root):
            warnings.append(
                f"metricflow_unreadable:{rel}: holds only the path {text.strip()!r} (a symlink checked out as a "
                "file?) and that file is not in the project; skipped"
            )
            return []
        path, text = target, target.read_text(encoding="utf-8", errors="replace")
    if "\n---" not in text and not text.startswith("---"):
        data = load_yaml_file(path, rel, warnings)
        return [data] if isinstance(data, dict) else []
    try:
        return [d for d in safe_load_all(text) if isinstance(d, dict)]
    except Exception as exc:  # one bad file is a warning naming it; the rest is read
        warnings.append(f"dbt_yaml_invalid:{rel}: {yaml_problem(exc) if hasattr(exc, 'problem') else exc}")
        return []


def _text_symlink(path: Path, text: str) -> Path | None:
    line = text.strip()
    if "\n" in line or ":" in line or " " in line or not line.endswith((".yml", ".yaml")):
        return None
    return (path.parent / line).resolve()


def _extended(raw: dict[str, Any], models: dict[str, dict[str, Any]], seen: set[str]) -> dict[str, Any]:
    """`extends: <model>`: entities, dimensions and measures of the parent unless redefined."""
    parent_name = raw.get("extends")
    if not parent_name or parent_name not in models or parent_name in seen:
        return raw
    parent = _extended(models[parent_name], models, seen | {raw["name"]})
    merged = {**parent, **{k: v for k, v in raw.items() if k not in ("entities", "dimensions", "measures")}}
    for key in ("entities", "dimensions", "measures"):
        own = {i.get("name"): i for i in raw.get(key) or []}
        merged[key] = [i for i in parent.get(key) or [] if i.get("name") not in own] + list(own.values())
    return merged


def _model(name: str, raw: dict[str, Any]) -> Model:
    ref = REF.search(str(raw.get("model") or ""))
    relation = raw.get("node_relation") or {}
    table = str(relation.get("alias") or (ref.group(1) if ref else name))
    model = Model(name, table, str(raw.get("description") or "").strip(), file=raw.get("_file", ""))
    if relation.get("alias"):
        schema = str(relation.get("schema_name") or "")
        if schema.startswith("$") or "{{" in schema:
            schema = ""  # a template (`$source_schema`) the project fills at deploy time: match by the alias
        model.relation = ".".join(p for p in (schema, str(relation["alias"])) if p)
    for entity in raw.get("entities") or []:
        expr = str(entity.get("expr") or entity.get("name"))
        if entity.get("type") == "primary" and model.primary is None:
            model.primary = (str(entity["name"]), expr)
        elif entity.get("type") in ("unique", "natural"):
            model.unique.append((str(entity["name"]), expr))
        elif entity.get("type") == "foreign":
            model.foreign.append((str(entity["name"]), expr))
    if raw.get("primary_entity"):
        # A model with no primary column still names the entity its rows are (`booking`): filters use it.
        model.entity = str(raw["primary_entity"])
    for dim in raw.get("dimensions") or []:
        model.dimensions[str(dim["name"])] = dim
    for measure in raw.get("measures") or []:
        model.measures[str(measure["name"])] = measure
    model.agg_time = (raw.get("defaults") or {}).get("agg_time_dimension")
    return model


@dataclass
class Projection:
    files: dict[str, str]  # relative path → text (overlays and wiki pages)
    matched: dict[str, str]  # semantic model → source key
    unmapped: list[dict[str, str]]
    warnings: list[str]


def _aggregate(measure: dict[str, Any], warnings: list[str], where: str) -> str | None:
    agg = str(measure.get("agg") or "").lower()
    expr = str(measure.get("expr") if measure.get("expr") is not None else measure.get("name"))
    if agg == "percentile":
        params = measure.get("agg_params") or {}
        p = params.get("percentile")
        if p is None:
            warnings.append(f"metricflow_measure_invalid:{where}: percentile without agg_params.percentile")
            return None
        approximate, discrete = params.get("use_approximate_percentile"), params.get("use_discrete_percentile")
        if approximate and discrete:
            warnings.append(
                f"metricflow_measure_unsupported:{where}: an approximate discrete percentile (MetricFlow answers it "
                "on few engines); not projected"
            )
            return None
        if approximate:  # the engine's estimate, as MetricFlow asks for it (DuckDB's approx_quantile, …)
            return f"approx_percentile({expr}, {float(p)})"
        if discrete:
            return f"percentile_disc({float(p)}) within group (order by {expr})"
        return f"percentile_cont({float(p)}) within group (order by {expr})"
    template = AGGREGATES.get(agg)
    if template is None:
        warnings.append(f"metricflow_measure_invalid:{where}: aggregation {agg or '?'} is not supported")
        return None
    return template.format(e=expr)


def project(
    mf: MetricFlowProject,
    entries: dict[str, dict[str, Any]],
    warehouse: str,
    connection_id: str,
    duplicated: dict[tuple[str, str], str] | None = None,
) -> Projection:
    from ktx.project.yamlio import dump_yaml
    from ktx.sources.dbt import DbtNode, match_tables

    nodes = [DbtNode("model", m.name, m.table, None) for m in mf.models.values()]
    matched, notes = match_tables(nodes, entries, "metricflow_model")
    warnings = list(mf.warnings)
    entries = dict(entries)
    standalone: set[str] = set()
    for model in mf.models.values():
        if model.name in matched:
            continue
        if not model.relation:
            warnings += [n for n in notes if n.split(":")[1] == model.name]
            continue
        # No scanned table, but the model says where its rows live: a standalone source over that relation, with
        # the columns the model itself names (dimensions, entities and bare measure expressions).
        key = model.name if model.name not in entries else f"{model.name}_metricflow"
        entries[key] = {"table": model.relation, "columns": _declared_columns(model)}
        matched[model.name] = key
        standalone.add(model.name)
        warnings.append(
            f"metricflow_model_standalone:{model.name}: no scanned table {model.relation}; written as a standalone "
            "source from the model's own columns (run `ktx ingest <warehouse>` to scan it)"
        )
    columns = {
        key: {str(c.get("name")).lower(): str(c.get("name")) for c in entry.get("columns") or []}
        for key, entry in entries.items()
    }
    mf.relations = {name: str(entries[key].get("table") or key) for name, key in matched.items() if key in entries}
    mf.not_unique = {(name, col) for name, key in matched.items() for (k, col) in (duplicated or {}) if k == key}
    # Several models may key the same entity (listings_latest and lux_listing_mapping both by `listing`).
    keyed: dict[str, list[tuple[Model, str]]] = {}
    for m in mf.models.values():
        for entity, expr in ([m.primary] if m.primary else []) + m.unique:
            keyed.setdefault(entity, []).append((m, expr))
    by_entity: dict[str, list[Model]] = {entity: [m for m, _ in found] for entity, found in keyed.items()}
    for m in mf.models.values():
        if m.entity and m not in by_entity.get(m.entity, []):
            by_entity.setdefault(m.entity, []).append(m)
    measure_owner = {mn: m for m in mf.models.values() for mn in m.measures}
    overlays: dict[str, dict[str, Any]] = {}
    for model in mf.models.values():
        key = matched.get(model.name)
        if key is None:
            continue
        cols = columns[key]
        overlay: dict[str, Any] = {"name": key}
        if model.description:
            overlay["descriptions"] = {"metricflow": model.description}
        if model.primary and model.primary[1].lower() in cols:
            overlay["grain"] = [cols[model.primary[1].lower()]]
        computed = []
        for dim_name, dim in model.dimensions.items():
            expr = dim.get("expr")
            if expr and dim_name.lower() not in cols:
                kind = "time" if dim.get("type") == "time" else "string"
                if "=" in str(expr) or " is " in str(expr).lower():
                    kind = "boolean"
                computed.append({"name": dim_name, "type": kind, "expr": str(expr)})
        natural = _natural_grains(model, cols)
        for column in computed:
            if natural.get(column["name"].lower()):
                column["natural_granularity"] = natural.pop(column["name"].lower())
        if computed:
            overlay["columns"] = computed
        if natural:
            overlay["column_overrides"] = [
                {"name": cols[c], "natural_granularity": g} for c, g in natural.items() if c in cols
            ]
        agg_time = model.agg_time
        if agg_time and (agg_time.lower() in cols or any(c["name"] == agg_time for c in computed)):
            overlay["default_time_dimension"] = {"column": cols.get(agg_time.lower(), agg_time)}
        joins = []
        targets = [(fk, expr, t, t_expr) for fk, expr in model.foreign for t, t_expr in keyed.get(fk, [])]
        for entity, expr, target, target_expr in targets:
            target_key = matched.get(target.name)
            if target_key is None or target_key == key:
                continue
            own, their = cols.get(expr.lower()), columns[target_key].get(target_expr.lower())
            if own is None or their is None:
                warnings.append(
                    f"metricflow_join_unchecked:{model.name}.{entity}: column missing in the scan; not joined"
                )
                continue
            evidence = (duplicated or {}).get((target_key, their.lower()))
            if evidence is not None:  # a primary entity must be unique; the data says otherwise
                warnings.append(
                    f"metricflow_join_not_unique:{model.name}.{entity}: {target_key}.{their} is not unique in the "
                    f"data ({evidence}); not joined many-to-one — review the entity"
                )
                continue
            joins.append({"to": target_key, "on": f"{own} = {target_key}.{their}", "relationship": "many_to_one"})
        if joins:
            overlay["joins"] = joins
        measures = []
        first_with: dict[str, tuple[str, str | None]] = {}  # aggregate SQL → the first measure computing it
        for name, measure in model.measures.items():
            expr = _aggregate(measure, warnings, f"{model.name}.{name}")
            if not expr:
                continue
            item = {"name": name, "expr": expr}
            if measure.get("description"):
                item["description"] = str(measure["description"]).strip()
            if measure.get("non_additive_dimension"):
                rule, problem = _non_additive(measure["non_additive_dimension"], model, cols)
                if problem:
                    # Summed over every day a balance would be wrong: not projected rather than answered wrong.
                    warnings.append(f"metricflow_measure_unsupported:{model.name}.{name}: {problem}; not projected")
                    continue
                item["non_additive"] = rule
            own_time = measure.get("agg_time_dimension") or model.agg_time
            if own_time and own_time != model.agg_time and str(own_time).lower() in cols:
                # `booking_payments` is `booking_value` placed in time by `paid_at`: the same aggregate, another
                # number per period, so a measure in its own right.
                item["time_dimension"] = cols[str(own_time).lower()]
            first = first_with.get(expr)
            if "non_additive" in item:
                pass  # the same aggregate read on one day only: a number of its own
            elif first is None:
                first_with[expr] = (name, own_time)
            elif first[1] == own_time and first[0].lower() not in cols:
                # The same number under another name: a name for the first. (Not when the first's name is also a
                # column: a formula would read the column, not the measure.)
                item["expr"] = first[0]
            measures.append(item)
        overlay["measures"] = measures
        overlay["_columns"] = set(cols) | {c["name"].lower() for c in computed}
        overlays[model.name] = overlay
    spine_files = _spine_overlays(mf, entries, warehouse, connection_id, overlays, matched, warnings)
    unmapped: list[dict[str, str]] = []
    pages: dict[str, str] = {}
    metric_home: dict[str, str] = {}  # metric → semantic model whose overlay holds it
    pending = list(mf.metrics)
    for _ in range(len(pending) + 1):  # ratios and derived metrics may refer to metrics defined later
        later = []
        for metric in pending:
            refused = mf.refused.get(metric["name"])
            outcome = (
                f"dbt rejects it: {refused}"
                if refused
                else _metric(metric, mf, overlays, metric_home, measure_owner, by_entity, matched, warnings)
            )
            if outcome == "later":
                later.append(metric)
            elif outcome is not None:
                unmapped.append({"metric": metric["name"], "type": str(metric.get("type")), "reason": outcome})
                pages[f"wiki/global/metricflow-{_slug(metric['name'])}.md"] = _fallback_page(
                    metric, outcome, connection_id
                )
        if not later or len(later) == len(pending):
            for metric in later:
                warnings.append(
                    f"metricflow_metric_unresolved:{metric['name']}: refers to metrics or measures that do not exist"
                )
                reason = "it refers to metrics or measures that do not exist (or were not projected)"
                unmapped.append({"metric": metric["name"], "type": str(metric.get("type")), "reason": reason})
            break
        pending = later
    files = {}
    for overlay in overlays.values():
        overlay.pop("_columns", None)
        for measure in overlay["measures"]:
            measure.pop("_claimed", None)
            measure.pop("_measure", None)
    for model_name, generated in overlays.items():
        document = generated
        if model_name in standalone:
            entry = entries[generated["name"]]
            kinds = {"TIMESTAMP": "time", "DOUBLE": "number"}
            declared = [{"name": c["name"], "type": kinds.get(c["type"], "string")} for c in entry["columns"]]
            computed = generated.get("columns", [])
            rest = {k: v for k, v in generated.items() if k not in ("name", "columns")}
            document = {"name": generated["name"], "table": entry["table"], **rest, "columns": declared + computed}
            document.setdefault("grain", [declared[0]["name"]] if declared else [])
        rel = f"semantic-layer/{warehouse}/metricflow/{document['name']}.yaml"
        header = f"# Written by `ktx ingest {connection_id}` from MetricFlow semantic model {model_name}; rewritten on every run.\n"
        files[rel] = header + dump_yaml(document)
    files.update(pages)
    files.update(spine_files)
    return Projection(files, {m: matched[m] for m in overlays}, unmapped, warnings)


def _spine_overlays(
    mf: MetricFlowProject,
    entries: dict[str, dict[str, Any]],
    warehouse: str,
    connection_id: str,
    overlays: dict[str, dict[str, Any]],
    matched: dict[str, str],
    warnings: list[str],
) -> dict[str, str]:
    """Mark the scanned table of each time spine the project declares (hour grain or coarser) as the layer's
    calendar, so cumulative and offset metrics have every period, also those without rows."""
    from ktx.project.yamlio import dump_yaml

    files: dict[str, str] = {}
    by_table: dict[str, str] = {}
    for key, entry in entries.items():
        by_table.setdefault(str(entry.get("table") or key).rsplit(".", 1)[-1].lower(), key)
    for table, column, grain in mf.time_spines:
        if grain not in GRAINS:
            continue  # finer than a second (milliseconds…): the layer counts in seconds or coarser
        key = by_table.get(table.lower())
        if key is None:
            warnings.append(
                f"metricflow_time_spine_unmatched:{table}: no scanned table; cumulative and offset metrics are "
                "refused until the warehouse scan has it"
            )
            continue
        columns = {str(c.get("name")).lower(): str(c.get("name")) for c in entries[key].get("columns") or []}
        if column.lower() not in columns:
            warnings.append(f"metricflow_time_spine_unmatched:{table}: no column {column} in the scan")
            continue
        spine: dict[str, Any] = {"column": columns[column.lower()], "granularity": grain}
        custom = []
        for name, custom_column in mf.custom_grains.get(table.lower(), []):
            if custom_column.lower() not in columns:
                warnings.append(
                    f"metricflow_custom_granularity_unmatched:{table}.{name}: no column {custom_column} in the scan"
                )
                continue
            found = columns[custom_column.lower()]
            custom.append({"name": name, **({"column": found} if found != name else {})})
        if custom:
            spine["custom_granularities"] = custom
        model = next((m for m, k in matched.items() if k == key and m in overlays), None)
        if model is not None:
            overlays[model]["time_spine"] = spine
            continue
        rel = f"semantic-layer/{warehouse}/metricflow/{key}.yaml"
        header = (
            f"# Written by `ktx ingest {connection_id}`: the project's time spine {table}; rewritten on every run.\n"
        )
        files[rel] = header + dump_yaml({"name": key, "time_spine": spine})
    return files


def _natural_grains(model: Model, cols: dict[str, str]) -> dict[str, str]:
    """Column (lower-case) → the `time_granularity` MetricFlow declares for it where finer than a day (an hourly
    `archived_at`): its windows and offsets then read an hourly spine. A day is the layer's default."""
    out: dict[str, str] = {}
    for name, dim in model.dimensions.items():
        grain = str((dim.get("type_params") or {}).get("time_granularity") or "").lower()
        if dim.get("type") != "time" or grain in ("", *GRAINS[GRAINS.index("day") :]):  # a day or coarser: the default
            continue
        column = str(dim.get("expr") or name).lower()
        out[column if column in cols else name.lower()] = grain
    return out


def _non_additive(raw: Any, model: Model, cols: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
    """MetricFlow's `non_additive_dimension` as the layer's `non_additive` (columns checked against the scan)."""
    if not isinstance(raw, dict) or not raw.get("name"):
        return None, "non_additive_dimension without a name"
    dim = model.dimensions.get(str(raw["name"])) or {}
    column = cols.get(str(dim.get("expr") or raw["name"]).lower())
    if column is None:
        return None, f"non_additive_dimension {raw['name']} is not a scanned column"
    choose = str(raw.get("window_choice") or "min").lower()
    if choose not in ("min", "max"):
        return None, f"window_choice {choose} is not min or max"
    entities = {e: x for e, x in [*([model.primary] if model.primary else []), *model.unique, *model.foreign]}
    per = []
    for grouping in raw.get("window_groupings") or []:
        found = cols.get(str(entities.get(str(grouping), grouping)).lower())
        if found is None:
            return None, f"window grouping {grouping} is not an entity column of the model"
        per.append(found)
    rule: dict[str, Any] = {"column": column, "choose": choose}
    if per:
        rule["per"] = per
    return rule, None


def _declared_columns(model: Model) -> list[dict[str, Any]]:
    columns: dict[str, dict[str, Any]] = {}
    for _, expr in ([model.primary] if model.primary else []) + model.foreign:
        if re.fullmatch(r"\w+", expr):
            columns.setdefault(expr, {"name": expr, "type": "VARCHAR"})
    for name, dim in model.dimensions.items():
        if not dim.get("expr"):
            columns.setdefault(name, {"name": name, "type": "TIMESTAMP" if dim.get("type") == "time" else "VARCHAR"})
    for measure in model.measures.values():
        expr = str(measure.get("expr") or measure.get("name"))
        if re.fullmatch(r"[a-zA-Z_]\w*", expr):
            columns.setdefault(expr, {"name": expr, "type": "DOUBLE"})
    return list(columns.values())


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "metric"


def _fallback_page(metric: dict[str, Any], reason: str, connection_id: str) -> str:
    from ktx.project.yamlio import dump_yaml
    from ktx.wiki.page import render_page

    definition = {k: v for k, v in metric.items() if not k.startswith("_")}
    body = (
        f"# {metric.get('label') or metric['name']}\n\n{str(metric.get('description') or '').strip()}\n\n"
        f"This {metric.get('type')} metric from MetricFlow (`{connection_id}`, {metric.get('_file')}) has no "
        f"semantic-layer equivalent in ktx: {reason}. Its definition:\n\n```yaml\n{dump_yaml(definition).strip()}\n```\n"
    )
    return render_page(
        {"summary": f"MetricFlow {metric.get('type')} metric {metric['name']}", "tags": ["metricflow", "metric"],
         "source": "metricflow", "usage_mode": "auto"},
        body,
    )  # fmt: skip


def _filter(
    text: str,
    home: Model,
    overlay: dict[str, Any],
    segment_name: str,
    by_entity: dict[str, list[Model]],
    matched: dict[str, str],
    time_column: str | None = None,
    mf: MetricFlowProject | None = None,
    measure_owner: dict[str, Model] | None = None,
) -> tuple[str | None, str | None, str | None]:
    """A MetricFlow filter → (segment name, filter SQL, problem). Same-model dimensions become a segment."""
    problem = None
    same_model = True
    # (home column, (table, its entity column, aggregate)) of each `{{ Metric(...) }}`
    metric_values: list[tuple[str, tuple[str, str, str]]] = []

    def reference(match: re.Match[str]) -> str:
        nonlocal problem, same_model
        kind = match.group(1)
        entity, _, dim = match.group(2).partition("__")
        if kind == "Metric":
            found = _metric_value(match.group(0), match.group(2), home, mf, measure_owner or {})
            if isinstance(found, str):
                problem = found
                return match.group(0)
            metric_values.append(found)
            return f"ktx_metric_value_{len(metric_values) - 1}"
        extra = match.group(4) or ""
        if extra.strip():
            # `entity_path=['listing']`: the entities MetricFlow joins through before the named one. Any other
            # argument (a date part, a grain by keyword) changes the reading: refused, never dropped.
            through = ENTITY_PATH.match(extra)
            if through is None or kind != "Dimension":
                problem = f"filter {match.group(0)!r} passes arguments that are not understood"
                return match.group(0)
            path = [p.strip().strip("'\"") for p in through.group(1).split(",") if p.strip()]
            found = _multi_hop([*path, *match.group(2).split("__")], home, by_entity, matched, mf)
            if found.startswith("problem:"):
                problem = found.removeprefix("problem:")
                return match.group(0)
            same_model = False
            return found
        if match.group(2) == "metric_time":
            # The home model's own time axis, at the grain the filter names.
            column = time_column or home.agg_time
            if not column:
                problem = "filter refers to metric_time, but the model has no agg_time_dimension"
                return match.group(0)
            column = str((home.dimensions.get(column) or {}).get("expr") or column)
            grain = match.group(3)
            return f"date_trunc('{grain}', {column})" if grain in GRAINS else column
        if kind == "Entity":
            # `{{ Entity('listing') }}` is the entity's key column: the home model's own when it carries the
            # entity, else the key of the model that owns it.
            own = [e for e in [home.primary, *home.unique, *home.foreign] if e and e[0] == match.group(2)]
            if own:
                return own[0][1]
            owner = next((m for m in by_entity.get(match.group(2)) or [] if m.primary), None)
            if owner is None or owner.primary is None:
                problem = f"filter refers to entity {match.group(2)}, which no semantic model keys"
                return match.group(0)
            same_model = False
            return f"{matched.get(owner.name, owner.name)}.{owner.primary[1]}"
        if "__" in dim and dim.split("__")[-1] not in GRAINS:
            # `listing__user__home_state`: the user of the row's listing. The layer's joins may reach users by
            # another path (the booking's own guest), so the path MetricFlow means is written out.
            found = _multi_hop(match.group(2).split("__"), home, by_entity, matched, mf)
            if found.startswith("problem:"):
                problem = found.removeprefix("problem:")
                return match.group(0)
            same_model = False
            return found
        if "__" in dim:  # `booking__ds__day`: a time dimension at a grain
            problem = f"filter refers to {match.group(2)}, a dimension at a grain, which is not expressed yet"
            return match.group(0)
        owners = by_entity.get(entity) or []
        owner = next((m for m in owners if dim in m.dimensions), owners[0] if owners else None)
        if owner is None or not dim:
            problem = f"filter refers to {match.group(2)}, which names no entity's dimension"
            return match.group(0)
        if owner.name == home.name:
            return dim
        same_model = False
        return f"{matched.get(owner.name, owner.name)}.{dim}"

    sql = TEMPLATE.sub(reference, text)
    if problem:
        return None, None, problem
    if metric_values:
        compared = METRIC_COMPARISON.fullmatch(sql.strip())
        if len(metric_values) > 1 or compared is None:
            return (
                None,
                None,
                (
                    f"filter {text.strip()!r} compares a metric's value other than with one number; only "
                    "`{{ Metric(...) }} <op> <number>` is expressed"
                ),
            )
        column, (table, key, value) = metric_values[0]
        # The entities whose value passes, as MetricFlow joins the per-entity value and filters on it: an entity
        # without rows has no value and never passes, inside the sub-query or not.
        sql = (
            f"{column} IN (SELECT {key} FROM {table} AS ktx_metric GROUP BY {key} "
            f"HAVING {value} {compared.group(1)} {compared.group(2)})"
        )
    if "{{" in sql:
        # A template this projection does not read: written through, it would be a broken or wrong filter.
        return None, None, f"filter {text.strip()!r} uses a template that is not understood"
    if same_model:
        segments = [s for s in overlay.setdefault("segments", []) if s["name"] != segment_name]
        overlay["segments"] = [*segments, {"name": segment_name, "expr": sql}]
        return segment_name, None, None
    return None, sql, None


def _multi_hop(
    path: list[str], home: Model, by_entity: dict[str, list[Model]], matched: dict[str, str], mf: Any
) -> str:
    """`listing__user__home_state` from `home` as MetricFlow joins it — home's listing → the listings model's
    user → that model's home_state — as a scalar sub-query over the tables along the path, correlated on home's
    column: NULL where a key has no match, as MetricFlow's left joins give. "problem:…" when it cannot be said."""
    what = "__".join(path)
    *entities, dim = path
    relations: dict[str, str] = mf.relations if mf is not None else {}
    not_unique: set[tuple[str, str]] = mf.not_unique if mf is not None else set()

    def key_of(model: Model, entity: str) -> str | None:
        found = [e for e in [model.primary, *model.unique] if e and e[0] == entity]
        return found[0][1] if found else None

    hops: list[tuple[Model, str, str]] = []  # (model reached, its key column, the previous model's column)
    current = home
    for index, entity in enumerate(entities):
        own = _entity_column(current, entity)
        if own is None:
            return f"problem:filter refers to {what}, but {current.name} has no entity {entity}"
        after = entities[index + 1] if index + 1 < len(entities) else None
        owners = [m for m in by_entity.get(entity) or [] if key_of(m, entity) and m is not current]
        wanted = [m for m in owners if (_entity_column(m, after) if after else dim in m.dimensions)]
        if len(wanted) != 1:
            need = f"entity {after}" if after else f"dimension {dim}"
            if not wanted:
                return f"problem:filter refers to {what}, but no semantic model keyed by {entity} has {need}"
            names = ", ".join(m.name for m in wanted)
            return f"problem:filter refers to {what}: {len(wanted)} semantic models keyed by {entity} have {need} ({names})"
        hops.append((wanted[0], str(key_of(wanted[0], entity)), own))
        current = wanted[0]
    for target, key, _ in hops:
        if target.name not in relations:
            return f"problem:filter refers to {what}, through {target.name}, which matched no table"
        if (target.name, key.lower()) in not_unique:
            return f"problem:filter refers to {what}, through {target.name}.{key}, which is not unique in the data"
    aliases = [f"ktx_hop_{i + 1}" for i in range(len(hops))]
    column = _qualified(str((current.dimensions.get(dim) or {}).get("expr") or dim), aliases[-1])
    if column is None:
        return f"problem:filter refers to {what}, whose expression does not parse"
    sql = f"FROM {relations[hops[0][0].name]} AS {aliases[0]}"
    for i in range(1, len(hops)):
        sql += f" JOIN {relations[hops[i][0].name]} AS {aliases[i]} ON {aliases[i - 1]}.{hops[i][2]} = {aliases[i]}.{hops[i][1]}"
    home_ref = f"{matched.get(home.name, home.name)}.{hops[0][2]}"
    return f"(SELECT {column} {sql} WHERE {aliases[0]}.{hops[0][1]} = {home_ref})"


def _qualified(expr: str, alias: str) -> str | None:
    """A dimension's expression with its columns read from `alias` (`country` → `ktx_hop_2.country`)."""
    if re.fullmatch(r"\w+", expr):
        return f"{alias}.{expr}"
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(expr)
    except sqlglot.errors.ParseError:
        return None
    for column in tree.find_all(exp.Column):
        column.set("table", exp.to_identifier(alias))
    return tree.sql()


METRIC_COMPARISON = re.compile(r"ktx_metric_value_0\s*(>=|<=|<>|!=|=|>|<)\s*(-?\d+(?:\.\d+)?)")
GROUP_BY_ENTITY = re.compile(r"\[\s*['\"](\w+)['\"]\s*\]")


def _metric_value(
    template: str, metric_name: str, home: Model, mf: MetricFlowProject | None, measure_owner: dict[str, Model]
) -> tuple[str, tuple[str, str, str]] | str:
    """`{{ Metric('bookings', ['listing']) }}` in a filter of `home`: (home's column for the entity, (the table
    the metric reads, its column for the entity, the metric's aggregate)), or why it cannot be said."""
    why = f"filter on the value of metric {metric_name}"
    group_by = GROUP_BY_ENTITY.findall(template)
    metric = next((m for m in (mf.metrics if mf else []) if str(m.get("name")) == metric_name), None)
    if metric is None or len(group_by) != 1:
        return f"{why} grouped by {group_by or 'nothing'}: only a defined metric by one entity is expressed"
    params = metric.get("type_params") or {}
    ref = params.get("measure")
    measure_name = ref.get("name") if isinstance(ref, dict) else ref
    if str(metric.get("type") or "simple").lower() != "simple" or not measure_name:
        return f"{why}: only a simple metric's value is expressed in a filter"
    if _filters(metric.get("filter"), ref.get("filter") if isinstance(ref, dict) else None):
        return f"{why}: a metric with its own filter is not expressed in another's filter yet"
    owner = measure_owner.get(str(measure_name))
    measure = owner.measures.get(str(measure_name)) if owner else None
    table = mf.relations.get(owner.name) if mf and owner else None
    if owner is None or measure is None or table is None or measure.get("non_additive_dimension"):
        return f"{why}: its measure {measure_name} is not an aggregate of a scanned table"
    entity = group_by[0]
    theirs = next((e[1] for e in [owner.primary, *owner.unique, *owner.foreign] if e and e[0] == entity), None)
    ours = next((e[1] for e in [home.primary, *home.unique, *home.foreign] if e and e[0] == entity), None)
    value = _aggregate(measure, [], metric_name)
    if theirs is None or ours is None or value is None:
        return f"{why} by {entity}: the entity is not on both models, or the measure is not one aggregate"
    return ours, (table, theirs, value)


def _filters(*values: Any) -> list[str]:
    """MetricFlow filters as written — each a string or a list of strings, all of which apply — or as a manifest
    holds them (`{where_filters: [{where_sql_template: …}]}`)."""
    out: list[str] = []
    for value in values:
        if isinstance(value, dict):
            value = [
                f.get("where_sql_template") if isinstance(f, dict) else f for f in value.get("where_filters") or []
            ]
        if isinstance(value, list):
            out += [str(v) for v in value if v]
        elif value:
            out.append(str(value))
    return out


def _input_measure(
    parent: str,
    ref: dict[str, Any],
    filters: list[str],
    offset: dict[str, str] | None,
    mf: MetricFlowProject,
    overlays: dict[str, dict[str, Any]],
    metric_home: dict[str, str],
    measure_owner: dict[str, Model],
    by_entity: dict[str, list[Model]],
    matched: dict[str, str],
    warnings: list[str],
) -> tuple[str | None, str | None]:
    """(measure answering an input of `parent` that carries a filter or an offset, problem)."""
    base_name = str(ref.get("name"))
    base = next((m for m in mf.metrics if str(m.get("name")) == base_name), None)
    if base is None:
        return None, f"input {base_name} is defined nowhere"
    base_kind = str(base.get("type") or "simple").lower()
    aux = _input_name(base_name, filters, offset)
    if aux in metric_home:
        return aux, None
    if base_kind == "derived":
        synthetic = _pushed_derived(base, filters, offset)
        if isinstance(synthetic, str):
            return None, synthetic
    elif base_kind == "simple" or (base_kind == "cumulative" and offset and not filters):
        # A cumulative input takes an offset: its running value as of the earlier day.
        synthetic = {
            "type": base_kind,
            "type_params": base.get("type_params") or {},
            "filter": _filters(base.get("filter"), *filters),
            "_window": offset,
        }
    else:
        # Pushing a filter or an offset into a ratio means doing it to each of its inputs: not done yet.
        what = "an offset" if offset else "a filter"
        return None, f"input {base_name} is a {base.get('type')} metric given {what}; only simple inputs take one"
    said = ([f"filtered by {' and '.join(f.strip() for f in filters)}"] if filters else []) + (
        [_offset_text(offset)] if offset else []
    )
    synthetic |= {"name": aux, "description": f"{base_name}, {', '.join(said)}: an input of {parent} in MetricFlow."}
    before = len(warnings)
    outcome = _metric(synthetic, mf, overlays, metric_home, measure_owner, by_entity, matched, warnings)
    if outcome is not None or aux not in metric_home:
        found = [w.split(": ", 1)[-1] for w in warnings[before:]]
        del warnings[before:]
        return None, f"input {base_name}: " + (outcome or "; ".join(found) or "not projected")
    return aux, None


def _pushed_derived(base: dict[str, Any], filters: list[str], offset: dict[str, str] | None) -> dict[str, Any] | str:
    """A derived input given a filter or an offset, as the same expression over its inputs, each given the filter
    (as well as its own) or the offset (`booking_fees` at the start of its month is `booking_value` at the start of
    its month × 0.05); a string says why it cannot be."""
    params = base.get("type_params") or {}
    refs = [r if isinstance(r, dict) else {"name": r} for r in params.get("metrics") or []]
    pushed = []
    for ref in refs:
        item = dict(ref)
        if offset:
            combined = _combined_offset(ref, offset)
            if combined is None:
                return (
                    f"input {base.get('name')} already offsets its own inputs by another kind of offset; an offset "
                    "of such an offset is not expressed yet"
                )
            item = {k: v for k, v in item.items() if k not in ("offset_window", "offset_to_grain")} | combined
        if filters:
            item["filter"] = _filters(ref.get("filter"), *filters)
        pushed.append(item)
    return {"type": "derived", "type_params": {**params, "metrics": pushed}, "filter": base.get("filter")}


def _combined_offset(ref: dict[str, Any], offset: dict[str, str]) -> dict[str, str] | None:
    """An input's own offset followed by another: `5 days` then `2 days` is `7 days`; None when they do not add up
    (different units, or a grain's start)."""
    if offset.get("grain_to_date"):
        own = ref.get("offset_window") is not None or ref.get("offset_to_grain") is not None
        return None if own else {"offset_to_grain": offset["grain_to_date"]}
    if ref.get("offset_to_grain") is not None:
        return None
    if ref.get("offset_window") is None:
        return {"offset_window": offset["window"]}
    own_text = _window_text(ref["offset_window"], custom=True)
    if own_text is None:
        return None
    own, more = parse_window(own_text, custom=True), parse_window(offset["window"], custom=True)
    if own[1] != more[1]:
        return None
    plural = "s" if own[1] in GRAINS else ""  # a custom granularity is written as its name
    return {"offset_window": f"{own[0] + more[0]} {own[1]}{plural}"}


def _window_text(value: Any, *, custom: bool = False) -> str | None:
    """MetricFlow writes a window as "7 days" in YAML and {count, granularity} in a manifest; with `custom`, an
    offset's unit may be a custom granularity of the project's time spine (`1 alien_day`)."""
    if isinstance(value, dict):
        value = f"{value.get('count')} {value.get('granularity')}"
    if value is None:
        return None
    try:
        parse_window(str(value), custom=custom)
    except ValueError:
        return None
    return str(value).strip()


def _conversion_metric(
    metric: dict[str, Any],
    params: dict[str, Any],
    overlays: dict[str, dict[str, Any]],
    metric_home: dict[str, str],
    measure_owner: dict[str, Model],
    matched: dict[str, str],
    by_entity: dict[str, list[Model]],
    mf: MetricFlowProject,
) -> str | None:
    """A conversion metric: the conversion model's rows that have a base row of the same entity at or before them
    (within the window) — a conversion measure — and, for `conversion_rate`, that over the base measure. A metric
    `filter` selects the base events, as MetricFlow applies it: only they convert, and only they are counted."""
    options = params.get("conversion_type_params") or {}
    filters = _filters(metric.get("filter"))
    names = [options.get("base_measure"), options.get("conversion_measure")]
    names = [n.get("name") if isinstance(n, dict) else n for n in names]
    calculation = str(options.get("calculation") or "conversion_rate").lower()
    refs = [r if isinstance(r, dict) else {} for r in (options.get("base_measure"), options.get("conversion_measure"))]
    if any(r.get("filter") for r in refs):
        return "a conversion metric whose measures carry filters is not expressed yet"
    for ref in refs:
        fill = ref.get("fill_nulls_with")
        if fill is not None and (not isinstance(fill, int | float) or isinstance(fill, bool)):
            return f"fill_nulls_with {fill!r} is not a number"
    fill = refs[1].get("fill_nulls_with")
    owners = [measure_owner.get(str(n)) for n in names]
    if None in owners or any(o.name not in overlays for o in owners if o):
        return "a conversion metric whose base or conversion measure was not projected"
    base_model, conv_model = owners  # type: ignore[misc]
    base_segments: list[str] = []
    for index, text in enumerate(filters):
        segment_name = f"{metric['name']}_base_filter" + (f"_{index + 1}" if index else "")
        segment, sql, problem = _filter(
            text, base_model, overlays[base_model.name], segment_name, by_entity, matched, None, mf, measure_owner
        )
        if problem or sql or segment is None:
            return problem or f"a conversion filter that reads another model ({text.strip()!r}) is not expressed yet"
        base_segments.append(segment)
    entity = str(options.get("entity") or "")
    keys = [_entity_column(m, entity) for m in (conv_model, base_model)]
    if None in keys:
        return f"entity {entity} is not a column of both {base_model.name} and {conv_model.name}"
    same = {}
    for prop in options.get("constant_properties") or []:
        mine = _dimension_column(conv_model, str(prop.get("conversion_property")))
        theirs = _dimension_column(base_model, str(prop.get("base_property")))
        if mine is None or theirs is None:
            return f"constant property {prop} is not a column of both models"
        same[mine] = theirs
    overlay = overlays[conv_model.name]
    base, expr = _measure_and_aggregate(overlay, str(names[1]))
    if expr is None:
        return f"its conversion measure {names[1]} is not one aggregate"
    window = _window_text(options.get("window")) if options.get("window") is not None else None
    if options.get("window") is not None and window is None:
        return f"conversion window {options['window']!r} is not a count and a unit"
    rule: dict[str, Any] = {"base": matched[base_model.name], "key": keys[0]}
    if keys[1] != keys[0]:
        rule["base_key"] = keys[1]
    if window:
        rule["window"] = window
    if same:
        rule["same"] = same
    if base_segments:
        exprs = [s["expr"] for s in overlays[base_model.name]["segments"] if s["name"] in base_segments]
        rule["base_filter"] = exprs[0] if len(exprs) == 1 else " and ".join(f"({e})" for e in exprs)
    name = str(metric["name"])
    description = str(metric.get("description") or "").strip()
    if calculation == "conversions":
        conversions = name
        item = {"name": name, "expr": expr, "conversion": rule, **({"description": description} if description else {})}
        if fill is not None:
            item["fill_nulls_with"] = fill
        if refs[1].get("join_to_timespine"):
            item["join_to_timespine"] = True
    else:
        # Named after what it counts, so conversion rates over the same funnel share it.
        conversions = f"{names[1]}_after_{names[0]}" + (f"_within_{window.replace(' ', '_')}" if window else "")
        conversions += "".join(f"_same_{c}" for c in same)
        if base_segments:  # another funnel: from the base rows the filter keeps
            conversions = f"{name}_conversions"
        item = {"name": conversions, "expr": expr, "conversion": rule,
                "description": f"{names[1]} counted over the rows that have a {names[0]} row of the same {entity} at "
                f"or before them" + (f", within {window}" if window else "") + "."}  # fmt: skip
    if base and base.get("time_dimension"):
        item["time_dimension"] = base["time_dimension"]
    overlay["measures"] = [m for m in overlay["measures"] if m["name"] != conversions] + [item]
    metric_home[conversions] = conv_model.name
    if calculation == "conversions":
        return None
    if calculation != "conversion_rate":
        return f"conversion calculation {calculation} is not known"
    base_name = str(names[0])
    base_overlay = overlays[base_model.name]
    if base_segments:  # the base events the filter keeps: the rate's denominator
        own, counted = _measure_and_aggregate(base_overlay, base_name)
        if counted is None:
            return f"its base measure {base_name} is not one aggregate a filter can narrow"
        base_name = f"{names[0]}_for_{name}"
        narrowed = {"name": base_name, "expr": counted, "segments": base_segments}
        if own and own.get("time_dimension"):
            narrowed["time_dimension"] = own["time_dimension"]
        base_overlay["measures"] = [m for m in base_overlay["measures"] if m["name"] != base_name] + [narrowed]
    # Filled inputs (`fill_nulls_with: 0`, `join_to_timespine`): the rate reads filled variants of both counts, so
    # a group with visits and no conversion has rate 0, not NULL, as MetricFlow answers it.
    if _fills(refs[1]):
        filled = {**item, "name": f"{conversions}{_fill_suffix(refs[1])}", **_fill_options(refs[1])}
        filled.pop("description", None)
        overlay["measures"] = [m for m in overlay["measures"] if m["name"] != filled["name"]] + [filled]
        conversions = str(filled["name"])
    if _fills(refs[0]):
        own, counted = _measure_and_aggregate(base_overlay, base_name)
        if own is None or counted is None:
            return f"its base measure {base_name} is not one aggregate that can be filled"
        variant = {"name": f"{base_name}{_fill_suffix(refs[0])}", "expr": counted, **_fill_options(refs[0])}
        variant.update({k: own[k] for k in ("segments", "time_dimension", "filter") if own.get(k)})
        base_overlay["measures"] = [m for m in base_overlay["measures"] if m["name"] != variant["name"]] + [variant]
        base_name = str(variant["name"])
    base_ref = base_name if base_model.name == conv_model.name else f"{matched[base_model.name]}.{base_name}"
    formula = f"{conversions} / nullif({base_ref}, 0)"
    twin = next((m for m in overlay["measures"] if m["expr"] == formula and m["name"] != name), None)
    rate = {"name": name, "expr": twin["name"] if twin else formula}
    if description:
        rate["description"] = description
    overlay["measures"] = [m for m in overlay["measures"] if m["name"] != name] + [rate]
    metric_home[name] = conv_model.name
    return None


def _measure_and_aggregate(overlay: dict[str, Any], name: str) -> tuple[dict[str, Any] | None, str | None]:
    """A measure of an overlay by its name or the MetricFlow measure it was named from, and the aggregate it
    computes (None when it is not one aggregate)."""
    own = next((m for m in overlay["measures"] if m["name"] == name or m.get("_measure") == name), None)
    return own, (_aggregate_of(own, overlay) if own else None)


def _fills(ref: dict[str, Any]) -> bool:
    return ref.get("fill_nulls_with") is not None or bool(ref.get("join_to_timespine"))


def _fill_options(ref: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if ref.get("fill_nulls_with") is not None:
        options["fill_nulls_with"] = ref["fill_nulls_with"]
    if ref.get("join_to_timespine"):
        options["join_to_timespine"] = True
    return options


def _fill_suffix(ref: dict[str, Any]) -> str:
    """`_fill_nulls_with_0_join_to_timespine`: what a filled variant of a measure is named after."""
    fill = ref.get("fill_nulls_with")
    text = f"_fill_nulls_with_{str(fill).replace('-', 'minus_').replace('.', '_')}" if fill is not None else ""
    return text + ("_join_to_timespine" if ref.get("join_to_timespine") else "")


def _entity_column(model: Model, entity: str) -> str | None:
    found = [x for e, x in [*([model.primary] if model.primary else []), *model.unique, *model.foreign] if e == entity]
    return found[0] if found else None


def _dimension_column(model: Model, name: str) -> str | None:
    entity, _, dim = name.partition("__")
    found = model.dimensions.get(dim or entity)
    if found is None:
        return _entity_column(model, name)
    return str(found.get("expr") or (dim or entity))


def _cumulative_window(params: dict[str, Any]) -> tuple[dict[str, str] | None, str | None]:
    nested = params.get("cumulative_type_params") or {}
    options = {**params, **{k: v for k, v in nested.items() if v is not None}}
    window: dict[str, str] = {"kind": "cumulative"}
    if options.get("window") is not None:
        text = _window_text(options["window"])
        if text is None:
            return None, f"cumulative window {options['window']!r} is not a count and a unit"
        window["window"] = text
    if options.get("grain_to_date"):
        grain = str(options["grain_to_date"]).lower()
        if grain not in GRAINS:
            return None, f"grain_to_date {grain} is not one of {', '.join(GRAINS)}"
        window["grain_to_date"] = grain
    if options.get("window") is not None and options.get("grain_to_date"):
        return None, "a cumulative metric with both a window and grain_to_date"
    agg = str(options.get("period_agg") or "first").lower()
    if agg not in ("first", "last", "average"):
        return None, f"period_agg {agg} is not first, last or average"
    if agg != "first":
        window["period_agg"] = agg
    return window, None


def _offset(ref: dict[str, Any]) -> dict[str, str] | str | None:
    """A derived input's `offset_window` / `offset_to_grain` as a layer window; a string says why not."""
    if ref.get("offset_window") is not None and ref.get("offset_to_grain") is not None:
        return "an input with both offset_window and offset_to_grain"
    if ref.get("offset_window") is not None:
        text = _window_text(ref["offset_window"], custom=True)
        if text is None:
            return f"offset_window {ref['offset_window']!r} is not a count and a unit"
        return {"kind": "offset", "window": text}
    if ref.get("offset_to_grain") is not None:
        grain = str(ref["offset_to_grain"]).lower()
        if grain not in GRAINS:
            return f"offset_to_grain {grain} is not one of {', '.join(GRAINS)}"
        return {"kind": "offset", "grain_to_date": grain}
    return None


def _offset_text(offset: dict[str, str]) -> str:
    if offset.get("window"):
        return f"{offset['window']} earlier"
    return f"at the start of its {offset['grain_to_date']}"


def _aggregate_of(measure: dict[str, Any], overlay: dict[str, Any]) -> str | None:
    """The aggregate a measure computes, following names for other measures."""
    seen: set[str] = set()
    while re.fullmatch(r"\w+", str(measure["expr"])) and measure["expr"] not in seen:
        seen.add(measure["expr"])
        found = next((m for m in overlay["measures"] if m["name"] == measure["expr"]), None)
        if found is None or _narrowed(found):
            return None
        measure = found
    return None if re.fullmatch(r"\w+", str(measure["expr"])) else str(measure["expr"])


def _reading(measure: dict[str, Any]) -> dict[str, Any]:
    """How a measure reads its rows in time (its own time dimension, semi-additivity): a metric on it keeps both."""
    return {k: measure[k] for k in ("time_dimension", "non_additive") if measure.get(k)}


def _alias_target(overlay: dict[str, Any], name: str) -> str:
    """What a new name for measure `name` refers to: the last name already given to it, since the layer refuses
    two measures with the same expression (two aliases of one measure)."""
    seen = {name}
    while True:
        later = next((m["name"] for m in overlay["measures"] if m.get("expr") == name and m["name"] not in seen), None)
        if later is None:
            return name
        seen.add(later)
        name = later


def _same_reading(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two measures that answer the same number whatever their names and descriptions."""
    ignore = ("name", "description", "_claimed", "_measure")
    return {k: v for k, v in a.items() if k not in ignore} == {k: v for k, v in b.items() if k not in ignore}


def _narrowed(measure: dict[str, Any]) -> bool:
    keys = ("filter", "segments", "time_dimension", "window", "non_additive", "fill_nulls_with", "join_to_timespine")
    return any(measure.get(k) for k in keys)


def _drop_measures(names: list[str], overlays: dict[str, dict[str, Any]], metric_home: dict[str, str]) -> None:
    """Take out the filtered inputs made for a metric that is refused after all."""
    for name in names:
        home = metric_home.pop(name, None)
        if home is None:
            continue
        overlay = overlays[home]
        overlay["measures"] = [m for m in overlay["measures"] if m["name"] != name]
        prefix = f"{name}_filter"
        overlay["segments"] = [s for s in overlay.get("segments", []) if not s["name"].startswith(prefix)]
        if not overlay["segments"]:
            overlay.pop("segments")


def _input_name(base: str, filters: list[str], offset: dict[str, str] | None = None) -> str:
    """An input's measure name, from what it counts: `bookings_where_not_booking_is_instant`,
    `bookings_14_days_earlier`. The same input under the same filter and offset in several metrics is one measure."""
    name = base
    if filters:
        words = TEMPLATE.sub(lambda m: m.group(2).replace("__", "_"), " and ".join(filters))
        name += "_where_" + re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_")
    if offset:
        name += "_" + re.sub(r"[^a-z0-9]+", "_", _offset_text(offset).lower()).strip("_")
    if len(name) > 80:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[:70].rstrip('_')}_{digest}"
    return name


def _metric(
    metric: dict[str, Any],
    mf: MetricFlowProject,
    overlays: dict[str, dict[str, Any]],
    metric_home: dict[str, str],
    measure_owner: dict[str, Model],
    by_entity: dict[str, list[Model]],
    matched: dict[str, str],
    warnings: list[str],
) -> str | None:
    """Add one metric as a measure; None when done, "later" to retry, else why it cannot be projected."""
    kind = str(metric.get("type") or "simple").lower()
    name = str(metric["name"])
    params = metric.get("type_params") or {}
    window = metric.get("_window")
    if kind == "conversion":
        return _conversion_metric(metric, params, overlays, metric_home, measure_owner, matched, by_entity, mf)
    if kind == "cumulative":
        offset = window
        window, problem = _cumulative_window(params)
        if problem:
            return problem
        if offset and window is not None:
            # A cumulative input given an offset: the running value as of the earlier day (or the period's start).
            key = "offset" if offset.get("window") else "offset_to_grain"
            window[key] = offset.get("window") or offset["grain_to_date"]
        kind = "simple"
    if kind == "simple":
        ref = params.get("measure")
        measure_name = ref.get("name") if isinstance(ref, dict) else ref
        owner = measure_owner.get(str(measure_name))
        if owner is None:
            warnings.append(f"metricflow_measure_unknown:{name}: measure {measure_name} is defined nowhere")
            return f"its measure {measure_name} is defined nowhere"
        if owner.name not in overlays:
            return f"its semantic model {owner.name} matched no table of the warehouse"
        overlay = overlays[owner.name]
        base = next((m for m in overlay["measures"] if m["name"] == measure_name), None)
        if base is None:
            base = next((m for m in overlay["measures"] if m.get("_measure") == measure_name), None)
        if base is None:
            warnings.append(f"metricflow_metric_unresolved:{name}: its measure {measure_name} was not projected")
            return f"its measure {measure_name} was not projected (see the measure's warning)"
        options = ref if isinstance(ref, dict) else {}
        spine = bool(options.get("join_to_timespine"))
        filters = _filters(metric.get("filter"), options.get("filter"))
        fill = options.get("fill_nulls_with")
        if fill is not None and (not isinstance(fill, int | float) or isinstance(fill, bool)):
            return f"fill_nulls_with {fill!r} is not a number"
        if window is not None:
            # A window reads rows: the measure's own aggregate (not a name for it), placed in time like it.
            if base.get("non_additive"):
                return "a cumulative or offset metric over a semi-additive measure is not expressed yet"
            expr = _aggregate_of(base, overlay)
            if expr is None:
                return f"its measure {measure_name} is not one aggregate a window can read"
            base = {**base, "expr": expr}
        item: dict[str, Any] = {"name": name, "expr": base["expr"]}
        item.update(_reading(base))
        if window is not None:
            item["window"] = window
        if fill is not None:
            item["fill_nulls_with"] = fill
        if spine:
            # Grouped by its time, every period of the time spine is answered, also those without rows.
            item["join_to_timespine"] = True
        if metric.get("description"):
            item["description"] = str(metric["description"]).strip()
        joined: list[str] = []
        for index, text in enumerate(filters):
            segment_name = f"{name}_filter" + (f"_{index + 1}" if index else "")
            time_column = (owner.measures.get(str(measure_name)) or {}).get("agg_time_dimension")
            segment, sql, problem = _filter(
                text, owner, overlay, segment_name, by_entity, matched, time_column, mf, measure_owner
            )
            if problem:
                warnings.append(f"metricflow_filter_unresolved:{name}: {problem}")
                return problem
            if segment:
                item.setdefault("segments", []).append(segment)
            if sql:
                joined.append(sql)
        if joined:
            # Every filter applies: several that reach other models are one conjunction.
            item["filter"] = " and ".join(f"({f})" for f in joined) if len(joined) > 1 else joined[0]
        twin = next((m for m in overlay["measures"] if m is not base and _same_reading(m, item)), None)
        if twin is not None and not filters:
            # The same number as an earlier metric (archived_users_join_to_time_spine and
            # subdaily_join_to_time_spine_metric): a second name for it, not a clashing copy.
            overlay["measures"].append({"name": name, "expr": _alias_target(overlay, twin["name"])})
            metric_home[name] = owner.name
            return None
        if not filters and window is None and fill is None and not spine:
            # The metric is the measure's public name: the measure takes it (a second alias refers to the first).
            if base["name"] == name:
                base["_claimed"] = True
                item = None
            elif base.get("_claimed"):
                # Another metric already named the measure (a `create_metric` proxy after the metric that reads
                # the same measure): this one refers to it.
                item = {"name": name, "expr": _alias_target(overlay, base["name"])}
            else:
                base.update(
                    name=name,
                    _claimed=True,
                    _measure=measure_name,
                    **({"description": item["description"]} if "description" in item else {}),
                )
                item = None
            if item is not None:
                overlay["measures"].append(item)
            metric_home[name] = owner.name
            return None
        overlay["measures"] = [m for m in overlay["measures"] if m["name"] != name] + [item]
        metric_home[name] = owner.name
        return None
    if kind == "ratio":
        refs = [params.get("numerator"), params.get("denominator")]
        template = "{0} / nullif({1}, 0)"
    elif kind == "derived":
        refs = params.get("metrics") or []
        template = str(params.get("expr") or "")
    else:
        return f"metric type {kind} is not known"
    refs = [r if isinstance(r, dict) else {"name": r} for r in refs]
    expr_names = [str(r.get("alias") or r.get("name")) for r in refs]
    names: list[str] = []
    made: list[str] = []
    for ref in refs:
        filters = _filters(metric.get("filter"), ref.get("filter"))
        offset = _offset(ref)
        if isinstance(offset, str):
            _drop_measures(made, overlays, metric_home)
            return offset
        if not filters and offset is None:
            names.append(str(ref.get("name")))
            continue
        # An input with its own filter (or under the metric's): a filtered measure of its own, so the ratio or
        # expression reads the filtered number — without it the input would answer for every row.
        existed = set(metric_home)
        aux, problem = _input_measure(
            name, ref, filters, offset, mf, overlays, metric_home, measure_owner, by_entity, matched, warnings
        )
        if problem:
            _drop_measures(made, overlays, metric_home)
            return problem
        if aux not in existed:
            made.append(str(aux))
        names.append(str(aux))
    if any(n not in metric_home for n in names):
        return "later"
    home = metric_home[names[0]]
    qualified = []
    for n in names:
        qualified.append(n if metric_home[n] == home else f"{matched[metric_home[n]]}.{n}")
    if kind == "ratio":
        expr = template.format(*qualified)
    else:
        expr = template
        for alias, real in sorted(zip(expr_names, qualified, strict=True), key=lambda p: -len(p[0])):
            expr = re.sub(rf"\b{re.escape(alias)}\b", real, expr)
    overlay = overlays[home]
    twin = next((m for m in overlay["measures"] if m["expr"] == expr and m["name"] != name and not _narrowed(m)), None)
    if twin is not None and twin["name"].lower() not in overlay["_columns"]:
        expr = twin["name"]  # the same formula under a second name (`derived_bookings_1`): a name for the first
    item = {"name": name, "expr": expr}
    if metric.get("description"):
        item["description"] = str(metric["description"]).strip()
    overlay["measures"] = [m for m in overlay["measures"] if m["name"] != name] + [item]
    metric_home[name] = home
    return None
