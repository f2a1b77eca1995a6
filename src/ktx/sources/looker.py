"""Looker as a context source, through the official `looker-sdk` (API 4.0): LookML models and explores as the API
describes them, Looks, dashboards, and (where permitted) query counts from System Activity.

The explores' fields and joins are turned into the shapes `lkml` gives for LookML files (views with dimensions,
dimension groups and measures; explores with joins), so the LookML projection reads them — one code path for both.
Looks and dashboards become wiki pages with each tile's query and the measures it uses; System Activity's query
counts per explore land in the warehouse's `_schema` as `usage.looker`, which search uses to rank sources.

Every HTTP call goes through the SDK's transport, paced by the ingest governor (429 `Retry-After`, 5xx backoff);
the client secret is sent only in the login form body, and an expired or wrong one is one line with the fix.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from ktx.errors import KtxError

API_VERSION = "4.0"
PLAIN_TABLE = re.compile(r"^[\w$]+(\.[\w$]+){0,2}$")


def _sdk(project: Any, connection_id: str, conn: Any) -> Any:
    import requests
    from looker_sdk.rtl import api_settings, auth_session, serialize
    from looker_sdk.rtl.requests_transport import RequestsTransport
    from looker_sdk.sdk.api40 import methods

    from ktx.sources.api import ApiAuthError, Retryable, governor_for, paced, retry_after_ms
    from ktx.sources.secrets import required_secret

    base_url = str(conn.base_url or "").rstrip("/")
    if not re.match(r"^https?://", base_url):
        raise KtxError(f"connections.{connection_id}.base_url {base_url or '(unset)'} is not an http(s) URL.")
    if not conn.client_id:
        raise KtxError(f"connections.{connection_id}.client_id is not set.", hint="Create an API key in Looker.")
    secret = required_secret(project, connection_id, conn, "client_secret", "Looker client secret")
    client_id = str(conn.client_id)
    governor = governor_for(project.config)
    fix = (
        f"check connections.{connection_id}.client_id and point client_secret_ref at a current API key's secret "
        "(Looker: Admin → Users → Edit keys)."
    )

    class Settings(api_settings.ApiSettings):
        def read_config(self) -> dict[str, str]:  # type: ignore[override]
            # Never the environment's LOOKERSDK_* nor a looker.ini: only what ktx.yaml says.
            return {"base_url": base_url, "client_id": client_id, "client_secret": secret, "verify_ssl": "true",
                    "timeout": "60"}  # fmt: skip

    class PacedTransport(RequestsTransport):
        """The SDK's transport, each request paced; the status code is read from the response hook."""

        def __init__(self, settings: Any, session: Any) -> None:
            super().__init__(settings, session)
            self.local = threading.local()
            self.calls = 0
            session.hooks["response"].append(self.remember)

        def remember(self, response: Any, *args: Any, **kwargs: Any) -> None:
            self.local.last = response

        def request(self, method: Any, path: str, *args: Any, **kwargs: Any) -> Any:
            short = path.removeprefix(base_url)

            def once() -> Any:
                self.calls += 1
                self.local.last = None
                result = RequestsTransport.request(self, method, path, *args, **kwargs)
                response = self.local.last
                if response is None:  # requests raised: the SDK returns the error text as a failed response
                    raise Retryable(None, None, "connection failed")
                if response.status_code == 429:
                    raise Retryable(429, retry_after_ms(response.headers.get("retry-after")), "rate limited (429)")
                if response.status_code >= 500:
                    raise Retryable(response.status_code, None, f"server error {response.status_code}")
                # Looker answers a wrong client id or secret on /login with 404, an expired token with 401.
                if response.status_code == 401 or (response.status_code == 404 and short.endswith("/login")):
                    raise ApiAuthError(f"Looker refused the credential ({response.status_code} on {short}): {fix}")
                return result

            return paced(once, governor=governor, provider="looker", what=f"Looker {method.name} {short}")

    settings = Settings(filename="", sdk_version="", env_prefix=None)
    settings.is_configured()
    transport = PacedTransport(settings, requests.Session())
    sdk = methods.Looker40SDK(
        auth_session.AuthSession(settings, transport, serialize.deserialize40, API_VERSION),
        serialize.deserialize40,
        serialize.serialize40,
        transport,
        API_VERSION,
    )
    return sdk


def _plain(value: Any) -> Any:
    """An SDK model (or list of them) as plain JSON data."""
    from looker_sdk.rtl import serialize

    return json.loads(serialize.serialize40(api_model=value) or b"null")


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from cattrs.errors import BaseValidationError
    from looker_sdk import error
    from looker_sdk.rtl.serialize import DeserializeError

    try:
        return _plain(fn(*args, **kwargs))
    except error.SDKError as exc:
        raise KtxError(f"Looker {what} failed: {str(exc.message)[:200]}") from None
    except (DeserializeError, BaseValidationError, ValueError, TypeError) as exc:
        # The SDK structures each answer into its models; a payload of another shape fails there.
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise KtxError(f"Looker {what}: an answer ktx cannot read ({detail})") from None


def check(project: Any, connection_id: str, conn: Any) -> str:
    sdk = _sdk(project, connection_id, conn)
    me = _call("user", sdk.me, fields="id,display_name,email")
    models = _call("lookml_models", sdk.all_lookml_models, fields="name")
    return f"signed in as {me.get('display_name') or me.get('id')}; {len(models)} LookML model(s) visible"


@dataclass
class LookerSnapshot:
    models: list[dict[str, Any]] = field(default_factory=list)
    explores: list[dict[str, Any]] = field(default_factory=list)
    looks: list[dict[str, Any]] = field(default_factory=list)
    dashboards: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)  # "model/explore" → query runs
    warnings: list[str] = field(default_factory=list)
    calls: int = 0

    def files(self) -> dict[str, str]:
        def dump(value: Any) -> str:
            return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

        out = {f"explores/{e['model_name']}/{e['name']}.json": dump(e) for e in self.explores}
        out.update({f"looks/{look['id']}.json": dump(look) for look in self.looks})
        out.update({f"dashboards/{d['id']}.json": dump(d) for d in self.dashboards})
        if self.usage:
            out["usage.json"] = dump(self.usage)
        return out


EXPLORE_FIELDS = (
    "name,model_name,view_name,sql_table_name,description,label,hidden,"
    "fields(dimensions(name,view,original_view,type,sql,description,label_short,primary_key,dimension_group,hidden),"
    "measures(name,view,original_view,type,sql,description,label_short,filters,hidden)),"
    "joins(name,from,sql_on,relationship,type,sql_table_name,view_label)"
)


def fetch(project: Any, connection_id: str, conn: Any, progress: Any) -> LookerSnapshot:
    snap = LookerSnapshot()
    sdk = _sdk(project, connection_id, conn)
    wanted = {str(m) for m in getattr(conn, "models", None) or []}
    progress.stage("Reading Looker models")
    for model in _call("lookml_models", sdk.all_lookml_models, fields="name,label,project_name,explores"):
        if not isinstance(model, dict) or not model.get("name") or (wanted and model["name"] not in wanted):
            continue
        snap.models.append({"name": model["name"], "label": model.get("label"), "project": model.get("project_name")})
        for nav in model.get("explores") or []:
            if not isinstance(nav, dict) or not nav.get("name"):
                snap.warnings.append(f"looker_malformed:{model['name']}: an explore without a name; skipped")
                continue
            try:
                explore = _call(
                    f"explore {model['name']}/{nav['name']}",
                    sdk.lookml_model_explore,
                    model["name"],
                    nav["name"],
                    fields=EXPLORE_FIELDS,
                )
            except KtxError as exc:
                snap.warnings.append(f"looker_explore_unreadable:{model['name']}.{nav['name']}: {exc.message}")
                continue
            if isinstance(explore, dict) and explore.get("name"):
                explore.setdefault("model_name", model["name"])
                snap.explores.append(explore)
    progress.stage("Reading Looks and dashboards")
    for summary in _call("looks", sdk.all_looks, fields="id"):
        if not isinstance(summary, dict) or summary.get("id") is None:
            continue
        try:  # the listing's Look has no query: each is read on its own (LookWithQuery)
            look = _call(
                f"look {summary['id']}",
                sdk.look,
                str(summary["id"]),
                fields="id,title,description,folder(name),query,view_count",
            )
        except KtxError as exc:
            snap.warnings.append(f"looker_look_unreadable:{summary['id']}: {exc.message}")
            continue
        snap.looks.append(look)
    for summary in _call("dashboards", sdk.all_dashboards, fields="id"):
        if not isinstance(summary, dict) or summary.get("id") is None:
            continue
        try:
            dashboard = _call(
                f"dashboard {summary['id']}",
                sdk.dashboard,
                str(summary["id"]),
                fields="id,title,description,folder(name),view_count,dashboard_elements(title,type,body_text,"
                "title_text,query,look(query),result_maker(query))",
            )
        except KtxError as exc:
            snap.warnings.append(f"looker_dashboard_unreadable:{summary['id']}: {exc.message}")
            continue
        snap.dashboards.append(dashboard)
    snap.usage = _usage(sdk, snap.warnings)
    snap.calls = sdk.transport.calls
    return snap


def _usage(sdk: Any, warnings: list[str]) -> dict[str, int]:
    """Query runs per explore over the last 90 days, from System Activity (needs the see_system_activity
    permission; without it, a warning and no usage)."""
    from looker_sdk import error
    from looker_sdk.sdk.api40 import models

    query = models.WriteQuery(
        model="system__activity",
        view="history",
        fields=["query.model", "query.view", "history.query_run_count"],
        filters={"history.created_date": "90 days"},
        limit="5000",
    )
    try:
        raw = sdk.run_inline_query("json", query)
    except error.SDKError as exc:
        warnings.append(f"looker_usage_unavailable:system__activity: {str(exc.message)[:160]}; no usage ranking")
        return {}
    try:
        rows = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError:
        warnings.append("looker_usage_unavailable:system__activity: the answer was not JSON")
        return {}
    out: dict[str, int] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        model, view, count = row.get("query.model"), row.get("query.view"), row.get("history.query_run_count")
        if model and view and isinstance(count, int | float):
            out[f"{model}/{view}"] = out.get(f"{model}/{view}", 0) + int(count)
    return out


def lookml_shapes(snap: LookerSnapshot) -> Any:
    """The explores as `lkml` would parse the LookML files behind them (see the module docstring)."""
    from ktx.sources.lookml import LookMLProject

    lk = LookMLProject(warnings=list(snap.warnings))
    for explore in snap.explores:
        where = f"{explore['model_name']}/{explore['name']}"
        base = str(explore.get("view_name") or explore["name"])
        tables = {base: explore.get("sql_table_name")}
        for join in explore.get("joins") or []:
            tables[str(join.get("from") or join["name"])] = join.get("sql_table_name")
            tables.setdefault(str(join["name"]), join.get("sql_table_name"))
        for view_name, table in tables.items():
            view = lk.views.setdefault(view_name, {"name": view_name, "_file": where})
            # The API gives the FROM item: `main.orders AS orders`, quoted as the dialect quotes.
            text = re.sub(r"(?i)\s+AS\s+[\w`\"]+\s*$", "", str(table or "").strip())
            text = re.sub(r"[`\"\[\]]", "", text)
            if PLAIN_TABLE.match(text):
                view.setdefault("sql_table_name", text)
            elif text and "derived_table" not in view:
                lk.warnings.append(
                    f"looker_view_derived:{view_name}: a derived table in Looker; read the LookML project with a "
                    "lookml connection to project it"
                )
        fields = explore.get("fields") or {}
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for dim in fields.get("dimensions") or []:
            view_name = str(dim.get("original_view") or dim.get("view") or "")
            view = lk.views.get(view_name)
            if view is None or not dim.get("name") or dim.get("hidden"):
                continue
            short = str(dim["name"]).split(".", 1)[-1]
            if dim.get("dimension_group"):
                group = str(dim["dimension_group"]).split(".", 1)[-1]
                if (view_name, group) not in groups and dim.get("sql"):
                    groups[(view_name, group)] = {"name": group, "type": "time", "sql": dim["sql"]}
                    _add(view, "dimension_groups", groups[(view_name, group)])
                continue
            item = {"name": short, "type": str(dim.get("type") or "string"), "sql": dim.get("sql")}
            if dim.get("primary_key"):
                item["primary_key"] = "yes"
            if dim.get("description"):
                item["description"] = dim["description"]
            _add(view, "dimensions", item)
        for measure in fields.get("measures") or []:
            view_name = str(measure.get("original_view") or measure.get("view") or "")
            view = lk.views.get(view_name)
            if view is None or not measure.get("name"):
                continue
            item = {"name": str(measure["name"]).split(".", 1)[-1], "type": str(measure.get("type") or "count")}
            if measure.get("sql"):
                item["sql"] = measure["sql"]
            if measure.get("description"):
                item["description"] = measure["description"]
            filters = [
                {str(f["field"]).split(".", 1)[-1]: f.get("condition")}
                for f in measure.get("filters") or []
                if isinstance(f, dict) and f.get("field")
            ]
            if filters:
                item["filters__all"] = [filters]
            _add(view, "measures", item)
        lk.explores.append(
            {
                "name": explore["name"],
                "view_name": base,
                "_file": where,
                "joins": [_join(j) for j in explore.get("joins") or [] if isinstance(j, dict) and j.get("name")],
            }
        )
    return lk


def _join(join: dict[str, Any]) -> dict[str, Any]:
    wanted = {"name": join["name"], "from": join.get("from"), "sql_on": join.get("sql_on")}
    wanted["relationship"] = join.get("relationship")
    return {k: v for k, v in wanted.items() if v}


def _add(view: dict[str, Any], key: str, item: dict[str, Any]) -> None:
    """A field once per view, whichever explore showed it first."""
    known = {f["name"] for f in view.get(key) or []}
    if item["name"] not in known:
        view.setdefault(key, []).append(item)


def dashboard_shapes(snap: LookerSnapshot) -> list[dict[str, Any]]:
    """Dashboards and Looks as LookML dashboards' YAML gives them (`elements` with a query's fields)."""
    out = []

    def element(title: Any, kind: Any, query: Any, text: Any = None) -> dict[str, Any]:
        query = query if isinstance(query, dict) else {}
        shown = "text" if kind == "text" else (query.get("vis_config") or {}).get("type") or kind
        item: dict[str, Any] = {"title": title, "type": shown}
        if kind == "text":
            item["body_text"] = text
        if query.get("view"):
            item["explore"], item["model"] = query["view"], query.get("model")
        for key in ("fields", "pivots", "sorts", "filters", "limit"):
            if query.get(key):
                item[key] = query[key]
        return item

    for dashboard in snap.dashboards:
        elements = []
        for e in dashboard.get("dashboard_elements") or []:
            if not isinstance(e, dict):
                continue
            query = e.get("query") or (e.get("look") or {}).get("query") or (e.get("result_maker") or {}).get("query")
            elements.append(element(e.get("title") or e.get("title_text"), e.get("type"), query, e.get("body_text")))
        out.append(
            {
                "dashboard": f"dashboard-{dashboard['id']}",
                "title": dashboard.get("title"),
                "description": dashboard.get("description"),
                "elements": elements,
                "_file": f"Looker dashboard {dashboard['id']}" + _folder(dashboard),
                "_kind": "Looker dashboard",
            }
        )
    for look in snap.looks:
        out.append(
            {
                "dashboard": f"look-{look['id']}",
                "title": look.get("title"),
                "description": look.get("description"),
                "elements": [element(look.get("title"), "vis", look.get("query"))],
                "_file": f"Look {look['id']}" + _folder(look),
                "_kind": "Looker Look",
            }
        )
    return out


def _folder(item: dict[str, Any]) -> str:
    name = (item.get("folder") or {}).get("name") if isinstance(item.get("folder"), dict) else None
    views = f", viewed {item['view_count']} times" if isinstance(item.get("view_count"), int) else ""
    return (f" in folder {name}" if name else "") + views
