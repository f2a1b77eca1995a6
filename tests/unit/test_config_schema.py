"""ktx.yaml validation: unknown keys warn with their path, bad values are errors with their path."""

from __future__ import annotations

import pytest

from ktx.project.config import MODEL_ROLES, KtxConfig, config_json_schema, validate_config_data


def issues(data):
    result = validate_config_data(data)
    return result, [(i.severity, i.path, i.message) for i in result.issues]


def test_empty_document_gets_every_documented_default():
    result, found = issues(None)
    assert result.ok and found == []
    cfg = result.config
    assert cfg.connections == {}
    assert cfg.storage.state == "sqlite" and cfg.storage.search == "sqlite-fts5"
    assert cfg.storage.git.author == "ktx <ktx@example.com>"
    assert cfg.llm.provider.backend == "none" and cfg.llm.models.default is None
    assert cfg.ingest.adapters == [] and cfg.ingest.embeddings.backend == "none"
    assert cfg.ingest.embeddings.dimensions == 8
    wu = cfg.ingest.workUnits
    assert (wu.stepBudget, wu.maxConcurrency, wu.failureMode) == (40, 1, "continue")
    rl = cfg.ingest.rateLimit
    assert (rl.enabled, rl.throttleThreshold, rl.minConcurrencyUnderPressure, rl.maxWaitMs) == (True, 0.8, 1, None)
    assert (rl.retry.maxAttempts, rl.retry.baseDelayMs, rl.retry.maxDelayMs, rl.retry.jitter) == (6, 1000, 60000, True)
    assert cfg.ingest.profile is False
    rel = cfg.scan.relationships
    assert (rel.acceptThreshold, rel.reviewThreshold, rel.maxLlmTablesPerBatch) == (0.85, 0.55, 40)
    assert (rel.maxCandidatesPerColumn, rel.profileSampleRows, rel.profileConcurrency) == (25, 10000, 4)
    assert rel.validationConcurrency == 4 and rel.validationBudget is None
    assert cfg.agent.run_research.enabled is False and cfg.agent.run_research.max_iterations == 20
    assert cfg.agent.run_research.default_toolset == ["sl_query", "wiki_search", "sl_read_source"]
    assert cfg.memory.enabled is True and cfg.memory.stepBudget == 30
    assert cfg.setup.database_connection_ids == []


def test_unknown_keys_warn_with_dotted_path_and_are_dropped():
    result, found = issues({"foo": 1, "llm": {"models": {"default": "m", "bogus": "x"}, "extra": {}}})
    assert result.ok
    assert ("warning", "foo", "Unsupported foo: unknown field (ignored)") in found
    assert ("warning", "llm.models.bogus", "Unsupported llm.models.bogus: unknown field (ignored)") in found
    assert ("warning", "llm.extra", "Unsupported llm.extra: unknown field (ignored)") in found
    assert result.config.llm.models.default == "m"
    assert "bogus" not in result.config.llm.models.model_dump()


def test_unknown_keys_inside_a_connection_warn_with_did_you_mean_and_are_kept():
    data = {
        "connections": {
            "wh": {
                "driver": "postgres",
                "url": "env:PG_URL",
                "application_name": "ktx",  # nothing reads it: a warning, not a silent no-op
                "schemass": ["public"],
                "context": {"queryHistory": {"enabled": True, "typo": 1}},
            },
            "lake": {"driver": "duckdb", "pth": "x.duckdb", "schema": "main", "allow_external_access": True},
        }
    }
    result, found = issues(data)
    assert result.ok
    messages = {path: message for _, path, message in found}
    assert messages["connections.wh.context.queryHistory.typo"] == (
        "Unsupported connections.wh.context.queryHistory.typo: unknown field (ignored)"
    )
    assert messages["connections.wh.schemass"].endswith("— did you mean 'schemas'?")
    assert messages["connections.lake.pth"] == (
        "Unsupported connections.lake.pth: unknown key for a duckdb connection (ignored) — did you mean 'path'?"
    )
    assert messages["connections.lake.schema"].endswith("— did you mean 'schemas'?")
    assert messages["connections.wh.application_name"].startswith(
        "Unsupported connections.wh.application_name: unknown key for a postgres connection (ignored) "
        "(a postgres connection takes: "
    )
    assert "connections.lake.allow_external_access" not in messages
    assert result.config.connections["lake"].allow_external_access is True


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"llm": {"provider": {"backend": "nope"}}}, "llm.provider.backend", "Unsupported llm.provider.backend: nope"),
        (
            {"ingest": {"embeddings": {"backend": "cohere"}}},
            "ingest.embeddings.backend",
            "Unsupported ingest.embeddings.backend: cohere",
        ),
        (
            {"connections": {"wh": {"driver": "oracle"}}},
            "connections.wh.driver",
            "Unsupported connections.wh.driver: oracle",
        ),
        ({"connections": {"wh": {"url": "x"}}}, "connections.wh.driver", "connections.wh has no `driver` field"),
        (
            {"connections": {"wh": {"driver": "postgres", "port": "abc"}}},
            "connections.wh.port",
            "connections.wh.port: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            {"llm": {"provider": {"backend": "vertex", "vertex": {"project": "p"}}}},
            "llm.provider.vertex.location",
            "llm.provider.vertex.location: required field is missing",
        ),
        (
            {"ingest": {"workUnits": {"stepBudget": 0}}},
            "ingest.workUnits.stepBudget",
            "ingest.workUnits.stepBudget: Input should be greater than or equal to 1",
        ),
        (
            {"llm": {"promptCaching": {"systemTtl": "2h"}}},
            "llm.promptCaching.systemTtl",
            "llm.promptCaching.systemTtl: Input should be '5m' or '1h'",
        ),
        ({"connections": {"sf": {"driver": "snowflake", "maxSessions": 2}}}, "connections.sf", None),
        ({"storage": {"git": {"author": "nobody"}}}, "storage.git.author", None),
        ({"connections": {"bad id": {"driver": "duckdb"}}}, "connections.bad id", None),
        ({"ingest": {"adapters": ["dbt", ""]}}, "ingest.adapters[1]", None),
        ({"connections": {"d": {"driver": "duckdb", "memory_limit": "lots"}}}, "connections.d.memory_limit", None),
        ({"connections": {"d": {"driver": "duckdb", "threads": 0}}}, "connections.d.threads", None),
        ({"connections": {"n": {"driver": "notion", "max_pages_per_run": 0}}}, "connections.n.max_pages_per_run", None),
    ],
)
def test_bad_values_are_errors_naming_the_path(data, path, message):
    result, found = issues(data)
    assert not result.ok
    errors = [f for f in found if f[0] == "error"]
    assert [e[1] for e in errors] == [path]
    if message:
        assert errors[0][2] == message


def test_union_errors_merge_into_one_issue():
    _result, found = issues({"scan": {"relationships": {"validationBudget": "some"}}})
    assert [f[1] for f in found] == ["scan.relationships.validationBudget"]
    assert "'all'" in found[0][2] and "integer" in found[0][2]


def test_driver_names_are_case_insensitive():
    result, _ = issues({"connections": {"wh": {"driver": "DuckDB", "path": "x.duckdb"}}})
    assert result.ok and result.config.connections["wh"].driver == "duckdb"


def test_non_mapping_root_is_a_clear_error():
    _result, found = issues([1, 2])
    assert found == [("error", "", "ktx.yaml must contain a YAML object")]


def test_models_fall_back_to_default():
    cfg = KtxConfig.model_validate({"llm": {"models": {"default": "sonnet", "curator": "opus"}}})
    assert cfg.llm.models.for_role("curator") == "opus"
    assert {cfg.llm.models.for_role(r) for r in MODEL_ROLES if r != "curator"} == {"sonnet"}


def test_json_schema_is_draft_07_with_definitions():
    schema = config_json_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"] == "https://ktx.dev/schemas/ktx-project-config.json"
    assert schema["title"] == "ktx.yaml"
    assert "$defs" not in schema and "definitions" in schema
    assert set(schema["properties"]) == {
        "connections",
        "setup",
        "storage",
        "llm",
        "ingest",
        "scan",
        "agent",
        "memory",
        "semantic_layer",
    }
    assert schema["additionalProperties"] is False
    text = str(schema)
    assert "#/$defs/" not in text


def test_every_registered_driver_has_a_config_model_a_connector_and_a_dialect():
    import importlib

    import sqlglot

    from ktx.project import config as config_module
    from ktx.warehouse.registry import DRIVER_DIALECTS, WAREHOUSE_DRIVERS

    for name, spec in WAREHOUSE_DRIVERS.items():
        model = getattr(config_module, spec.config_model)
        assert model.model_fields["driver"].annotation.__args__ == (name,)
        module, _, cls = spec.connector.partition(":")
        connector = getattr(importlib.import_module(module), cls)
        assert connector.driver == name and connector.dialect == spec.dialect
        sqlglot.Dialect.get_or_raise(spec.dialect)
        assert DRIVER_DIALECTS[name] == spec.dialect
        parsed = config_module.KtxConfig.model_validate({"connections": {"c": {"driver": name}}})
        assert type(parsed.connections["c"]) is model


def test_every_llm_backend_of_the_config_schema_is_registered():
    from ktx.llm.registry import LLM_BACKENDS
    from ktx.project.config import LLM_BACKENDS as SCHEMA_BACKENDS

    assert set(SCHEMA_BACKENDS) == {"none", *LLM_BACKENDS}


def test_registry_scope_keys_are_the_connectors_own():
    import importlib

    from ktx.warehouse.registry import WAREHOUSE_DRIVERS

    for spec in WAREHOUSE_DRIVERS.values():
        module, _, cls = spec.connector.partition(":")
        connector = getattr(importlib.import_module(module), cls)
        assert spec.scope_key is None or spec.scope_key in connector.scope_keys, spec.name


def test_thousands_of_unknown_keys_are_reported_as_fifty_and_a_count():
    data = {"connections": {}, **{f"k{i}": i for i in range(3000)}}
    result, found = issues(data)
    assert result.ok
    assert len(found) == 51
    assert found[-1] == ("warning", "", "… and 2950 more unknown field(s) (ignored)")
