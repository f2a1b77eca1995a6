"""LookML, projected deterministically (no LLM) into the target warehouse's semantic layer, parsed with `lkml`.

Views on a `sql_table_name` become generated overlays on the scanned table (`semantic-layer/<warehouse>/lookml/`):
dimensions with SQL of their own become computed columns (`${TABLE}.` and `${field}` resolved), a
`dimension_group` of type time one time column, `primary_key: yes` the grain, measures `agg(sql)` measures (with
their `filters`), `type: number` measures formulas over other measures. Explores' joins (`sql_on`,
`relationship`) become joins on the base view's source, `sql_always_where` and `always_filter` segments. Derived
tables become standalone SQL sources. SQL with Liquid or other templating is left out and reported
(`looker_template_unresolved`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ktx.errors import KtxError

MAX_FILE_BYTES = 5_000_000
FIELD = re.compile(r"\$\{\s*([\w.]+)\s*\}")
TEMPLATED = re.compile(r"{%|{{|\$\{\s*[\w.]+\._(?:parameter|filters|value|sql)")
AGGREGATES = {
    "sum": "sum({e})",
    "sum_distinct": "sum(distinct {e})",
    "count": "count({e})",
    "count_distinct": "count(distinct {e})",
    "average": "avg({e})",
    "average_distinct": "avg(distinct {e})",
    "min": "min({e})",
    "max": "max({e})",
    "median": "median({e})",
}
TYPES = {"number": "number", "yesno": "boolean", "date": "time", "date_time": "time", "time": "time"}


@dataclass
class LookMLProject:
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    explores: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    dashboards: list[dict[str, Any]] = field(default_factory=list)  # LookML (YAML) dashboards


def read_project(root: Path) -> LookMLProject:
    import lkml

    out = LookMLProject()
    from ktx.sources.files import source_files

    found = source_files(root, root, (".lkml", ".lookml"), "lookml", out.warnings)
    if not found:
        raise KtxError(f"{root} holds no .lkml files.")
    constants = _constants(found, out.warnings)
    refinements: list[dict[str, Any]] = []
    for path, rel in found:
        if path.stat().st_size > MAX_FILE_BYTES:
            out.warnings.append(f"lookml_file_too_large:{rel}: over 5 MB; skipped")
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        text = _with_constants(text, constants, rel, out.warnings)
        if path.name.endswith(".dashboard.lookml"):
            out.dashboards += _dashboards(text, rel, out.warnings)
            out.files[rel] = text
            continue
        try:
            data = lkml.load(text)
        except Exception as exc:  # the parser's syntax errors: one warning naming the file
            out.warnings.append(
                f"lookml_invalid:{rel}: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}"
            )
            continue
        out.files[rel] = text
        for view in data.get("views") or []:
            if str(view["name"]).startswith("+"):
                refinements.append({**view, "_file": rel})  # `view: +orders {…}` refines orders, applied below
                continue
            out.views[str(view["name"])] = {**view, "_file": rel}
        out.explores += [{**e, "_file": rel} for e in data.get("explores") or []]
    for view in list(out.views.values()):
        parent = view.get("extends__all") or view.get("extends")
        parents = (
            [p for group in parent for p in (group if isinstance(group, list) else [group])]
            if isinstance(parent, list)
            else []
        )
        for base_name in parents:
            base = out.views.get(str(base_name))
            if base is None:
                continue
            for key in ("dimensions", "dimension_groups", "measures"):
                own = {f["name"] for f in view.get(key) or []}
                view[key] = [f for f in base.get(key) or [] if f["name"] not in own] + list(view.get(key) or [])
            view.setdefault("sql_table_name", base.get("sql_table_name"))
    for refinement in refinements:
        target = out.views.get(str(refinement["name"])[1:])
        if target is None:
            out.warnings.append(
                f"lookml_refinement_unmatched:{refinement['_file']}: refines view {refinement['name'][1:]}, "
                "which no file defines"
            )
            continue
        # A refinement adds fields and overrides the ones it names, as Looker applies it on top of the view.
        for key in ("dimensions", "dimension_groups", "measures"):
            own = {f["name"] for f in refinement.get(key) or []}
            target[key] = [f for f in target.get(key) or [] if f["name"] not in own] + list(refinement.get(key) or [])
        for key, value in refinement.items():
            if key not in ("name", "_file", "dimensions", "dimension_groups", "measures"):
                target[key] = value
    return out


def _dashboards(text: str, rel: str, warnings: list[str]) -> list[dict[str, Any]]:
    """A `.dashboard.lookml` file: YAML, a list of `- dashboard: name` documents with `elements` (tiles)."""
    from ktx.project.yamlio import safe_load, yaml_problem

    try:
        data = safe_load(text)
    except Exception as exc:
        warnings.append(f"lookml_invalid:{rel}: {yaml_problem(exc) if hasattr(exc, 'problem') else exc}")
        return []
    found = [d for d in data if isinstance(d, dict) and d.get("dashboard")] if isinstance(data, list) else []
    if not found:
        warnings.append(f"lookml_invalid:{rel}: no `- dashboard:` entry in this dashboard file")
    return [{**d, "_file": rel} for d in found]


def dashboard_page(
    dashboard: dict[str, Any], connection_id: str, measures: dict[str, str], *, driver: str = "lookml"
) -> str:
    """A wiki page for one LookML dashboard: what it shows, and each tile's query (explore, fields, filters,
    sorts, limit) with the ktx measures its fields are (`measures`: LookML field → ktx measure)."""
    from ktx.wiki.page import render_page

    title = str(dashboard.get("title") or dashboard["dashboard"])
    lines = [f"# {title}", ""]
    if dashboard.get("description"):
        lines += [str(dashboard["description"]).strip(), ""]
    kind = str(dashboard.get("_kind") or "LookML dashboard")
    lines.append(f"{kind} `{dashboard['dashboard']}` ({connection_id}, {dashboard.get('_file')}).")
    for element in dashboard.get("elements") or []:
        if not isinstance(element, dict):
            continue
        lines += ["", f"## {element.get('title') or element.get('name') or 'Tile'}", ""]
        if element.get("type") == "text":
            lines.append(str(element.get("body_text") or element.get("title_text") or "").strip())
            continue
        if element.get("explore"):
            lines.append(
                f"- explore: `{element.get('model', '')}{'/' if element.get('model') else ''}{element['explore']}`"
            )
        fields = [str(f) for f in element.get("fields") or []]
        if fields:
            lines.append("- fields: " + ", ".join(f"`{f}`" for f in fields))
            known = [f"`{f}` → `{measures[f]}`" for f in fields if f in measures]
            if known:
                lines.append("- measures in ktx: " + ", ".join(known))
        for key in ("pivots", "sorts"):
            if element.get(key):
                lines.append(f"- {key}: " + ", ".join(f"`{v}`" for v in element[key]))
        if isinstance(element.get("filters"), dict) and element["filters"]:
            lines.append("- filters: " + ", ".join(f"`{k}` = `{v}`" for k, v in element["filters"].items()))
        if element.get("limit"):
            lines.append(f"- limit: {element['limit']}")
        if element.get("type"):
            lines.append(f"- shown as: {element['type']}")
    return render_page(
        {
            "summary": f"{kind} {title}",
            "tags": [driver, "dashboard"],
            "source": driver,
            "usage_mode": "auto",
        },
        "\n".join(lines) + "\n",
    )


CONSTANT_REF = re.compile(r"@\{\s*(\w+)\s*\}")


def _constants(found: list[tuple[Path, str]], warnings: list[str]) -> dict[str, str]:
    """`constant: name { value: "…" }` from the project's manifest.lkml."""
    import lkml

    constants: dict[str, str] = {}
    for path, rel in found:
        if path.name != "manifest.lkml" or path.stat().st_size > MAX_FILE_BYTES:
            continue
        try:
            data = lkml.load(path.read_text(encoding="utf-8", errors="replace"))
        except Exception as exc:
            warnings.append(
                f"lookml_invalid:{rel}: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}"
            )
            continue
        for constant in data.get("constants") or []:
            if constant.get("name") and constant.get("value") is not None:
                constants[str(constant["name"])] = str(constant["value"])
    return constants


def _with_constants(text: str, constants: dict[str, str], rel: str, warnings: list[str]) -> str:
    """`@{name}` replaced by the constant's value, as Looker does before reading the file; an unknown one is said."""
    if "@{" not in text:
        return text
    missing: set[str] = set()

    def value(match: re.Match[str]) -> str:
        if match.group(1) in constants:
            return constants[match.group(1)]
        missing.add(match.group(1))
        return match.group(0)

    text = CONSTANT_REF.sub(value, text)
    for name in sorted(missing):
        warnings.append(f"lookml_constant_unresolved:{rel}: @{{{name}}} is defined in no manifest.lkml")
    return text


@dataclass
class Projection:
    files: dict[str, str]
    matched: dict[str, str]  # view → source key
    unmapped: list[dict[str, str]]
    warnings: list[str]


def _templated(sql: str | None) -> bool:
    return bool(sql) and bool(TEMPLATED.search(str(sql)))


def project(
    lk: LookMLProject,
    entries: dict[str, dict[str, Any]],
    warehouse: str,
    connection_id: str,
    duplicated: dict[tuple[str, str], str] | None = None,
    *,
    driver: str = "lookml",
) -> Projection:
    """`driver` names the folder and pages it writes: `lookml`, or `looker` for explores read over Looker's API."""
    from ktx.project.yamlio import dump_yaml
    from ktx.sources.dbt import DbtNode, match_tables

    warnings = list(lk.warnings)
    unmapped: list[dict[str, str]] = []
    table_views = {n: v for n, v in lk.views.items() if v.get("sql_table_name")}
    nodes = [
        DbtNode("model", name, str(v["sql_table_name"]).split(".")[-1].strip('`"[] '), _schema(v["sql_table_name"]))
        for name, v in table_views.items()
    ]
    matched, notes = match_tables(nodes, entries, "lookml_view")
    warnings += notes
    columns = {
        k: {str(c.get("name")).lower(): str(c.get("name")) for c in e.get("columns") or []} for k, e in entries.items()
    }
    source_of = dict(matched)
    overlays: dict[str, dict[str, Any]] = {}
    standalone: dict[str, dict[str, Any]] = {}
    for name, view in lk.views.items():
        derived = (view.get("derived_table") or {}).get("sql")
        if name in matched:
            key = matched[name]
            overlay: dict[str, Any] = {"name": key}
            if view.get("description"):
                overlay["descriptions"] = {"lookml": str(view["description"]).strip()}
            body, grain = _fields(name, view, columns[key], warnings, unmapped)
            overlay.update(body)
            if grain:
                overlay["grain"] = grain
            overlays[name] = overlay
        elif derived:
            if _templated(derived):
                unmapped.append({"view": name, "reason": "looker_template_unresolved"})
                warnings.append(f"looker_template_unresolved:{name}: derived table SQL is templated; not projected")
                continue
            body, grain = _fields(name, view, {}, warnings, unmapped, standalone=True)
            if not body.get("columns"):
                warnings.append(f"lookml_view_unmatched:{name}: derived table declares no dimensions; not projected")
                continue
            source = {"name": name, "sql": str(derived).strip(), **body}
            source["grain"] = grain or [c["name"] for c in body["columns"]]  # no primary key: every column
            standalone[name] = source
            source_of[name] = name
    for explore in lk.explores:
        base = str(explore.get("from") or explore.get("view_name") or explore["name"])
        target = overlays.get(base) or standalone.get(base)
        if target is None:
            continue
        for join in explore.get("joins") or []:
            joined_view = str(join.get("from") or join["name"])
            other = source_of.get(joined_view)
            on = join.get("sql_on")
            if other is None or not on:
                warnings.append(f"lookml_join_unresolved:{explore['name']}.{join['name']}: no projected view or sql_on")
                continue
            if _templated(on):
                warnings.append(f"looker_template_unresolved:{explore['name']}.{join['name']}: templated sql_on")
                continue
            oriented = _oriented(str(on), {str(join["name"]), joined_view})
            owner_view = base
            if oriented is not None:
                # Looker reads sql_on by view name; the layer reads `local = target`: put each side where it belongs
                # (`${users.id} = ${order_items.user_id}` is order_items.user_id = users.id), on the view it starts from.
                owner_view, pairs = oriented
                sql = " AND ".join(f"{mine} = {other}.{theirs}" for mine, theirs in pairs)
            elif _first_view(str(on)) in (str(join["name"]), joined_view):
                warnings.append(
                    f"lookml_join_unresolved:{explore['name']}.{join['name']}: sql_on names the joined view first and "
                    "is not a plain key equality; not joined rather than joined the wrong way round"
                )
                continue
            else:
                sql = FIELD.sub(lambda m, b=base: _ref(m.group(1), b, source_of), str(on))
            owner = overlays.get(owner_view) or standalone.get(owner_view) if owner_view != base else target
            if owner is None:
                warnings.append(
                    f"lookml_join_unresolved:{explore['name']}.{join['name']}: it starts from view {owner_view}, "
                    "which is not projected"
                )
                continue
            relationship = str(join.get("relationship") or "many_to_one")
            if relationship == "many_to_many":
                warnings.append(
                    f"lookml_join_unresolved:{explore['name']}.{join['name']}: many_to_many is not a safe join"
                )
                continue
            repeated = _non_unique_side(sql, other, relationship, duplicated or {})
            if repeated is not None:
                warnings.append(
                    f"lookml_join_not_unique:{explore['name']}.{join['name']}: {repeated}; not joined as "
                    f"{relationship} — review the explore's relationship"
                )
                continue
            item = {"to": other, "on": sql, "relationship": relationship}
            if join.get("from") and join["name"] != joined_view:
                item["alias"] = str(join["name"])
            owner.setdefault("joins", []).append(item)
        always = [f for group in (explore.get("always_filter") or {}).get("filters__all") or [] for f in group]
        for index, f in enumerate(always):
            for field_name, value in f.items():
                column = _ref(str(field_name), base, source_of, local=True)
                target.setdefault("segments", []).append(
                    {"name": f"{explore['name']}_always_filter_{index + 1}", "expr": f"{column} = '{value}'"}
                )
        for where in [explore.get("sql_always_where")]:
            if where and not _templated(where):
                target.setdefault("segments", []).append(
                    {
                        "name": f"{explore['name']}_always",
                        "expr": FIELD.sub(lambda m, b=base: _ref(m.group(1), b, source_of, local=True), str(where)),
                    }
                )
    files = {}
    for view, overlay in overlays.items():
        header = f"# Written by `ktx ingest {connection_id}` from LookML view {view}; rewritten on every run.\n"
        files[f"semantic-layer/{warehouse}/{driver}/{overlay['name']}.yaml"] = header + dump_yaml(overlay)
    for view, source in standalone.items():
        header = (
            f"# Written by `ktx ingest {connection_id}` from LookML derived table {view}; rewritten on every run.\n"
        )
        files[f"semantic-layer/{warehouse}/{driver}/{view}.yaml"] = header + dump_yaml(source)
    measures = {
        f"{view}.{m['name']}": f"{(overlays.get(view) or standalone.get(view) or {}).get('name', view)}.{m['name']}"
        for view in list(overlays) + list(standalone)
        for m in (overlays.get(view) or standalone.get(view) or {}).get("measures") or []
    }
    for dashboard in lk.dashboards:
        slug = re.sub(r"[^a-z0-9]+", "-", str(dashboard["dashboard"]).lower()).strip("-") or "dashboard"
        files[
            f"wiki/global/{driver}-{slug}.md" if driver != "lookml" else f"wiki/global/lookml-dashboard-{slug}.md"
        ] = dashboard_page(dashboard, connection_id, measures, driver=driver)
    return Projection(files, {v: source_of[v] for v in list(overlays) + list(standalone)}, unmapped, warnings)


def _schema(table: str) -> str | None:
    parts = [p.strip('`"[] ') for p in str(table).split(".")]
    return parts[-2] if len(parts) > 1 else None


_EQUALITY = re.compile(r"^\s*\$\{\s*([\w]+)\.([\w]+)\s*\}\s*=\s*\$\{\s*([\w]+)\.([\w]+)\s*\}\s*$")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


def _oriented(on: str, joined: set[str]) -> tuple[str, list[tuple[str, str]]] | None:
    """A plain key equality (`${a.x} = ${b.y} [AND …]`) between the joined view and one other view, as (that other
    view, [(its field, the joined view's field)]) whichever side each is written on; None for anything else."""
    start: str | None = None
    pairs = []
    for clause in _AND.split(on.strip()):
        match = _EQUALITY.match(clause)
        if match is None:
            return None
        left_view, left, right_view, right = match.groups()
        if right_view in joined and left_view not in joined:
            mine, theirs, view = left, right, left_view
        elif left_view in joined and right_view not in joined:
            mine, theirs, view = right, left, right_view
        else:
            return None
        if start not in (None, view):
            return None
        start = view
        pairs.append((mine, theirs))
    return (start, pairs) if start is not None else None


def _first_view(on: str) -> str | None:
    match = FIELD.search(on)
    return match.group(1).rpartition(".")[0] if match else None


def _ref(name: str, base: str, source_of: dict[str, str], *, local: bool = False) -> str:
    view, _, column = name.rpartition(".")
    if not view:
        return column
    if local and view == base:
        return column
    return f"{source_of.get(view, view)}.{column}"


def _fields(
    view_name: str,
    view: dict[str, Any],
    columns: dict[str, str],
    warnings: list[str],
    unmapped: list[dict[str, str]],
    *,
    standalone: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """(overlay or source keys, grain) for a view's dimensions and measures."""
    dims: dict[str, str] = {}  # dimension name → SQL over the table
    body: dict[str, Any] = {}
    computed, overrides, grain = [], [], []
    for dim in view.get("dimensions") or []:
        name, sql = str(dim["name"]), str(dim.get("sql") or f"${{TABLE}}.{dim['name']}")
        if _templated(sql):
            unmapped.append({"view": view_name, "field": name, "reason": "looker_template_unresolved"})
            warnings.append(f"looker_template_unresolved:{view_name}.{name}: templated SQL; not projected")
            continue
        expr = _resolve(sql, dims)
        dims[name] = expr
        plain = re.fullmatch(r"\w+", expr)
        if dim.get("primary_key") == "yes" and plain:
            grain.append(columns.get(expr.lower(), expr))
        kind = TYPES.get(str(dim.get("type") or "string"), "string")
        if plain and (expr.lower() in columns or standalone):
            real = columns.get(expr.lower(), expr)
            if standalone:
                computed.append({"name": name, "type": kind})
            elif dim.get("description") or dim.get("label"):
                overrides.append(
                    {"name": real, "descriptions": {"lookml": str(dim.get("description") or dim.get("label"))}}
                )
            if real != name and not standalone:
                computed.append({"name": name, "type": kind, "expr": real})
            continue
        if name.lower() in columns:
            warnings.append(f"lookml_field_shadowed:{view_name}.{name}: a column has this name; not projected")
            continue
        item = {"name": name, "type": kind, "expr": expr}
        if dim.get("description"):
            item["descriptions"] = {"lookml": str(dim["description"])}
        computed.append(item)
    for group in view.get("dimension_groups") or []:
        name, sql = str(group["name"]), str(group.get("sql") or "")
        if not sql or _templated(sql):
            continue
        expr = _resolve(sql, dims)
        dims[name] = expr
        plain = re.fullmatch(r"\w+", expr)
        if plain and expr.lower() in columns and not standalone:
            if columns[expr.lower()] != name:
                computed.append({"name": name, "type": "time", "expr": columns[expr.lower()]})
        else:
            computed.append({"name": name, "type": "time", **({} if standalone and plain else {"expr": expr})})
    measures = []
    for measure in view.get("measures") or []:
        name, kind = str(measure["name"]), str(measure.get("type") or "count")
        sql = measure.get("sql")
        if _templated(sql):
            unmapped.append({"view": view_name, "field": name, "reason": "looker_template_unresolved"})
            warnings.append(f"looker_template_unresolved:{view_name}.{name}: templated SQL; not projected")
            continue
        if kind == "number":
            expr = FIELD.sub(lambda m: m.group(1).split(".")[-1], str(sql or ""))
        elif kind == "count" and not sql:
            expr = "count(*)"
        elif kind in AGGREGATES:
            expr = AGGREGATES[kind].format(e=_resolve(str(sql or name), dims))
        else:
            warnings.append(f"lookml_measure_unsupported:{view_name}.{name}: type {kind}")
            continue
        item: dict[str, Any] = {"name": name, "expr": expr}
        if measure.get("description"):
            item["description"] = str(measure["description"])
        filters = [f for group in measure.get("filters__all") or [] for f in group]
        if filters:
            clauses = []
            for f in filters:
                for field_name, value in f.items():
                    column = dims.get(field_name, field_name)
                    clauses.append(
                        f"{column} = '{value}'" if not str(value).lstrip("-").isdigit() else f"{column} = {value}"
                    )
            item["filter"] = " AND ".join(clauses)
        measures.append(item)
    if computed:
        body["columns"] = computed
    if overrides and not standalone:
        body["column_overrides"] = overrides
    if measures:
        body["measures"] = measures
    return body, grain


def _resolve(sql: str, dims: dict[str, str]) -> str:
    """`${TABLE}.col` → `col`, `${dim}` → that dimension's SQL (parenthesized when not a bare column)."""
    text = re.sub(r"\$\{\s*TABLE\s*\}\s*\.", "", sql.strip().rstrip(";").strip())

    def field_(match: re.Match[str]) -> str:
        name = match.group(1).split(".")[-1]
        expr = dims.get(name, name)
        return expr if re.fullmatch(r"\w+", expr) else f"({expr})"

    return FIELD.sub(field_, text).strip()


def _non_unique_side(on: str, other: str, relationship: str, duplicated: dict[tuple[str, str], str]) -> str | None:
    """Why a many_to_one/one_to_one join cannot be one: the joined side's key column has repeats in the data."""
    if relationship not in ("many_to_one", "one_to_one"):
        return None
    for table, column in re.findall(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)\b", on):
        if table == other and (other, column.lower()) in duplicated:
            return f"{other}.{column} is not unique in the data ({duplicated[(other, column.lower())]})"
    return None
