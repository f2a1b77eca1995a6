"""ktx-side overhead per agent-loop step, and the prompt-cache read ratio over a 10-step loop.

Both run against the loopback Anthropic stand-in used by the tests (no real provider).
Overhead = (loop time − time spent inside the SDK's streamed request) / steps: what ktx adds per
step for cache markers, tool dispatch, accounting and governor checks. (Subtracting a separately
timed bare-SDK request instead is dominated by ±2 ms of loopback noise on a 2-core machine.)
Budget: < 2 ms per step. Cache ratio = cache-read tokens / all input tokens for steps 2..10, as the
stand-in accounts them (prefix hashing at each cache marker). Expect ≥ 80 %.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel
from tests.fakes.anthropic_api import AnthropicStandIn, tool_use

from ktx.llm.factory import create_llm_runtime
from ktx.project.config import KtxConfig
from ktx.tools import Tool

STEPS = 10
SYSTEM = "You map warehouse tables to business concepts. " * 120  # a realistic ~6 kB system prompt


class Args(BaseModel):
    table: str


def tools() -> list[Tool]:
    return [
        Tool(f"tool_{i}", f"Tool number {i} " * 20, Args, lambda a: f"{a.table}: 12 columns, 3 keys") for i in range(8)
    ]


def main() -> None:
    server = AnthropicStandIn()
    server.default = tool_use(("tool_3", {"table": "orders"}))
    config = KtxConfig.model_validate(
        {
            "llm": {
                "provider": {"backend": "anthropic", "anthropic": {"api_key": "k", "base_url": server.base_url}},
                "models": {"default": "claude-sonnet-4-6"},
            }
        }
    )
    runtime = create_llm_runtime(config, Path(tempfile.gettempdir()), env={})

    # warm-up (imports, connection pool)
    runtime.run_agent_loop("default", SYSTEM, "Map orders.", tools(), step_budget=2)

    backend = runtime.backend
    inner_stream = backend._stream
    in_sdk: list[float] = []

    def timed_stream(ctx, request):
        started = time.perf_counter()
        try:
            return inner_stream(ctx, request)
        finally:
            in_sdk.append((time.perf_counter() - started) * 1000)

    backend._stream = timed_stream

    per_step, overhead, ratios = [], [], []
    for _ in range(7):
        in_sdk.clear()
        started = time.perf_counter()
        result = runtime.run_agent_loop("default", SYSTEM + str(time.time()), "Map orders.", tools(), step_budget=STEPS)
        total = (time.perf_counter() - started) * 1000
        steps = result.metrics.step_count
        per_step.append(total / steps)
        overhead.append((total - sum(in_sdk)) / steps)
        later = result.metrics.step_usage[1:]
        read = sum(u.cache_read_tokens for u in later)
        billed = sum(u.cache_read_tokens + u.cache_write_tokens + u.input_tokens for u in later)
        ratios.append(read / billed if billed else 0.0)
    server.close()

    print(f"agent loop step          median {statistics.median(per_step):6.2f} ms (HTTP round trip included)")
    print(f"ktx overhead per step    median {statistics.median(overhead):6.2f} ms   (budget < 2 ms)")
    print(f"cache read ratio (2..10) median {statistics.median(ratios) * 100:5.1f} %   (expect >= 80 %)")


if __name__ == "__main__":
    main()
