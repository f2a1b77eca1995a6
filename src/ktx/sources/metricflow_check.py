"""dbt's own reading of a MetricFlow project, through dbt Labs' `dbt-semantic-interfaces` (DSI).

ktx gathers the objects (both file spellings, `semantic_manifest.json`, broken files as warnings); DSI then parses
each one as dbt does — its JSON schema for MetricFlow's one-object-per-document YAML, its pydantic models for every
object — and validates the whole manifest after MetricFlow's own transformations, with the messages `dbt parse` and
`mf validate-configs` print. An object DSI cannot parse is left out with its message; a metric the validation
rejects is refused (listed with dbt's message as the reason), never projected to a number MetricFlow would not give.
Warnings of the validation are passed on as they are.

dbt-style objects (`semantic_models:` lists in a dbt schema file) are converted the way dbt-core converts them
before DSI sees them: `model: ref('x')` becomes the `node_relation` dbt would resolve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# `mf` below is a ktx.sources.metricflow.MetricFlowProject (not imported: that module calls this one)
MetricFlowProject = Any

REF = re.compile(r"ref\(\s*['\"]([\w.-]+)['\"]\s*\)")
# Keys dbt-core reads from a schema file's semantic model or metric but does not hand to DSI.
BOTH_INPUTS = re.compile(r"should not have both an? [\w ]+ and an? [\w ]+ as inputs")
MISSING_METRIC = re.compile(r"Metric '([\w]+)' is not configured as a metric")
DBT_ONLY_KEYS = {"model", "group", "meta", "tags", "docs", "columns"}


@dataclass
class CheckResult:
    available: bool
    invalid_models: dict[str, str] = field(default_factory=dict)  # name → why DSI could not parse it
    invalid_metrics: dict[str, str] = field(default_factory=dict)
    refused_metrics: dict[str, str] = field(default_factory=dict)  # name → the validation's error
    warnings: list[str] = field(default_factory=list)


def dsi_available() -> bool:
    try:
        import dbt_semantic_interfaces  # noqa: F401
    except ImportError:
        return False
    return True


def check_project(mf: MetricFlowProject) -> CheckResult:
    if not dsi_available():
        return CheckResult(
            False,
            warnings=[
                "metricflow_validation_unavailable:dbt-semantic-interfaces: not installed, so dbt's own checks of "
                "the project did not run (pip install 'ktx-context[metricflow]')"
            ],
        )
    import warnings as py_warnings

    with py_warnings.catch_warnings():
        py_warnings.simplefilter("ignore")  # pydantic.v1 on newer Pythons; nothing the user can act on
        return _check(mf)


def _check(mf: MetricFlowProject) -> CheckResult:
    from dbt_semantic_interfaces.implementations.metric import PydanticMetric
    from dbt_semantic_interfaces.implementations.project_configuration import PydanticProjectConfiguration
    from dbt_semantic_interfaces.implementations.semantic_manifest import PydanticSemanticManifest
    from dbt_semantic_interfaces.implementations.semantic_model import PydanticSemanticModel
    from dbt_semantic_interfaces.parsing.schemas import metric_validator, semantic_model_validator

    result = CheckResult(True)
    models = []
    for name, raw in mf.raw_models.items():
        obj = _dsi_shape(raw, semantic_model=True)
        problem = _parse_problem(obj, raw, semantic_model_validator, PydanticSemanticModel, mf.from_manifest)
        if isinstance(problem, str):
            result.invalid_models[name] = problem
            result.warnings.append(f"metricflow_invalid:{raw.get('_file', '')}: semantic model {name}: {problem}")
        else:
            models.append(problem)
    metrics = []
    for raw in mf.metrics:
        obj = _dsi_shape(raw, semantic_model=False)
        problem = _parse_problem(obj, raw, metric_validator, PydanticMetric, mf.from_manifest)
        if isinstance(problem, str):
            result.invalid_metrics[str(raw["name"])] = problem
            result.warnings.append(f"metricflow_invalid:{raw.get('_file', '')}: metric {raw['name']}: {problem}")
        else:
            metrics.append(problem)
    config = _project_configuration(mf, PydanticProjectConfiguration, result)
    manifest = PydanticSemanticManifest(semantic_models=models, metrics=metrics, project_configuration=config)
    _validate(manifest, mf, result)
    return result


def _dsi_shape(raw: dict[str, Any], *, semantic_model: bool) -> dict[str, Any]:
    obj = {k: v for k, v in raw.items() if not k.startswith("_")}
    if raw.get("_style") != "dbt":
        return obj
    for key in DBT_ONLY_KEYS:
        obj.pop(key, None)
    params = obj.get("type_params")
    if not semantic_model and isinstance(params, dict):
        # dbt's schema spelling names metric inputs by a bare string; DSI reads the `{name: …}` dbt-core makes
        params = obj["type_params"] = dict(params)
        for key in ("numerator", "denominator", "metric"):
            if isinstance(params.get(key), str):
                params[key] = {"name": params[key]}
        if isinstance(params.get("metrics"), list):
            params["metrics"] = [{"name": m} if isinstance(m, str) else m for m in params["metrics"]]
    if semantic_model and "node_relation" not in obj:
        ref = REF.search(str(raw.get("model") or ""))
        alias = ref.group(1) if ref else str(raw.get("name"))
        obj["node_relation"] = {"alias": alias, "schema_name": ""}  # dbt resolves the schema; the check needs none
    return obj


def _parse_problem(obj: dict[str, Any], raw: dict[str, Any], schema: Any, model_class: Any, compiled: bool) -> Any:
    """The DSI object, or the first line of why it could not be parsed."""
    from jsonschema import exceptions

    try:
        if not compiled and raw.get("_style") != "dbt":
            schema.validate(obj)  # MetricFlow's YAML spelling: its JSON schema, as `mf validate-configs` runs it
        return model_class.parse_obj(obj)
    except exceptions.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        return f"does not conform to MetricFlow's schema{f' at {where}' if where else ''}: {exc.message}"
    except Exception as exc:  # DSI's parser raises its own and pydantic's errors alike
        return _short(str(exc))


def _project_configuration(mf: MetricFlowProject, config_class: Any, result: CheckResult) -> Any:
    raw = mf.project_configuration
    if raw is not None:
        obj = {k: v for k, v in raw.items() if not k.startswith("_")}
        try:
            return config_class.parse_obj(obj)
        except Exception as exc:
            message = _short(str(exc))
            result.warnings.append(f"metricflow_invalid:{raw.get('_file', '')}: project configuration: {message}")
    # dbt projects declare their time spines on models (`time_spine:`); ktx has already found them, and a project
    # with none gets a generated spine (`metricflow_time_spine_generated`): the check uses what ktx will use.
    spines = mf.time_spines or [("ktx_time_spine", "date_day", "day")]
    return config_class.parse_obj(
        {
            "time_spines": [
                {
                    "node_relation": {"alias": table, "schema_name": ""},
                    "primary_column": {"name": column, "time_granularity": grain},
                }
                for table, column, grain in spines
            ]
        }
    )


def _validate(manifest: Any, mf: MetricFlowProject, result: CheckResult) -> None:
    from dbt_semantic_interfaces.transformations.semantic_manifest_transformer import (
        PydanticSemanticManifestTransformer,
    )
    from dbt_semantic_interfaces.validations.semantic_manifest_validator import SemanticManifestValidator

    for _ in range(len(manifest.metrics) + 1):
        try:
            transformed = PydanticSemanticManifestTransformer.transform(manifest.copy(deep=True))
            issues = SemanticManifestValidator().validate_semantic_manifest(transformed)
            break
        except Exception as exc:  # MetricFlow's transformations stop at the first metric input that is missing
            message = _short(str(exc))
            missing = MISSING_METRIC.search(message)
            users = [m for m in manifest.metrics if missing and missing[1] in {i.name for i in m.input_metrics}]
            if not users:
                result.warnings.append(f"metricflow_validation_failed:manifest: {message}")
                return
            for metric in users:  # dbt fails on it; ktx refuses the metrics that read it and checks the rest
                result.refused_metrics.setdefault(metric.name, message)
                result.warnings.append(
                    f"metricflow_validation_error:{_file_of(mf, metric.name)}: {metric.name}: {message}"
                )
            manifest.metrics = [m for m in manifest.metrics if m not in users]
    else:
        return
    files = {str(m["name"]): str(m.get("_file", "")) for m in mf.metrics}
    files.update({name: str(raw.get("_file", "")) for name, raw in mf.raw_models.items()})
    written = {str(m["name"]): m for m in mf.metrics}
    for level, found in (("error", issues.errors), ("warning", issues.warnings), ("warning", issues.future_errors)):
        for issue in found:
            metric, subject = _subject(issue.context)
            message = _short(issue.message)
            if metric and BOTH_INPUTS.search(message) and not _names_both(written.get(metric, {})):
                # DSI's own transformation gave the metric a metric input beside the measure the user wrote; the
                # warning is about that artifact, not the file.
                continue
            where = files.get(subject or "", "") or "manifest"
            result.warnings.append(f"metricflow_validation_{level}:{where}: {subject or 'project'}: {message}")
            if level == "error" and metric:
                result.refused_metrics.setdefault(metric, message)


def _short(text: str) -> str:
    """One line of DSI's message: whitespace collapsed, without the Python traceback some messages carry."""
    return " ".join(text.split()).split(" Traceback: ", 1)[0][:500]


def _file_of(mf: MetricFlowProject, metric: str) -> str:
    return next((str(m.get("_file", "")) for m in mf.metrics if m["name"] == metric), "") or "manifest"


def _names_both(raw: Any) -> bool:
    """Whether a metric as written names both a measure and a metric input (anywhere in its type_params)."""
    keys: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                keys.add(str(key))
                walk(inner)

    walk(raw.get("type_params") if isinstance(raw, dict) else None)
    return any(k.endswith("measure") for k in keys) and any(k.endswith("metric") for k in keys)


def _subject(context: Any) -> tuple[str | None, str | None]:
    """(metric name when the issue is about a metric, the object's name) of a DSI issue context."""
    if context is None:
        return None, None
    metric = getattr(context, "metric", None)
    if metric is not None:
        return metric.metric_name, metric.metric_name
    model = getattr(context, "semantic_model", None) or getattr(context, "semantic_model_element", None)
    name = getattr(model, "semantic_model_name", None)
    return None, name
