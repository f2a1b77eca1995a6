"""A stand-in for `codex app-server --listen stdio://`, driven by the real openai-codex SDK.

It answers JSON-RPC requests (initialize, thread/start, turn/start, turn/interrupt) and plays a
scripted turn as app-server notifications. MCP tool items are real calls: it connects to the
`mcp_servers.ktx.url` from its `--config` arguments with the bearer token found in its own
environment (under `bearer_token_env_var`), exactly as Codex would. Everything it saw is written
to `$FAKE_CODEX_DIR/run-<n>.json`; the scenario is `$FAKE_CODEX_DIR/scenario.json`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: cli_args sits beside it
from cli_args import codex_overrides, parse_codex_args

DIR = Path(os.environ["FAKE_CODEX_DIR"])
LOCK = threading.Lock()
INTERRUPTED = threading.Event()


def send(message: dict[str, Any]) -> None:
    with LOCK:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def notify(method: str, params: dict[str, Any]) -> None:
    send({"jsonrpc": "2.0", "method": method, "params": params})


def save(record: dict[str, Any]) -> None:
    """Atomic and serialised: tests read the record while this process may still be writing it."""
    with LOCK:
        tmp = DIR / f".{record['file']}.tmp"
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(DIR / record["file"])


def overrides(argv: list[str]) -> dict[str, Any]:
    return codex_overrides(parse_codex_args(argv))


def mcp_call(url: str, token: str | None, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One JSON-RPC `tools/call` over streamable HTTP (stateless server, JSON responses)."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"

    def post(payload: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read()
                return response.status, json.loads(body) if body else None
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    status, init = post(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "fake-codex", "version": "0"},
            },
        }
    )
    if status != 200:
        return {"http_status": status, "body": init}
    status, result = post(
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    )
    return {"http_status": status, "body": result}


def play(run: dict[str, Any], thread_id: str, turn_id: str, record: dict[str, Any], argv: list[str]) -> None:
    config = overrides(argv)
    url = config.get("mcp_servers.ktx.url")
    token_var = config.get("mcp_servers.ktx.bearer_token_env_var")
    base = {"threadId": thread_id, "turnId": turn_id}
    notify("turn/started", {"threadId": thread_id, "turn": {"id": turn_id, "items": [], "status": "inProgress"}})
    status, error = "completed", None
    for n, spec in enumerate(run.get("items", [{"type": "message", "text": "ok"}])):
        time.sleep(spec.get("delay", 0))
        if INTERRUPTED.is_set():
            status = "interrupted"
            break
        item_id = f"item-{n}"
        if spec["type"] == "message":
            item = {"type": "agentMessage", "id": item_id, "text": spec["text"]}
        elif spec["type"] == "command":
            item = {
                "type": "commandExecution",
                "id": item_id,
                "command": spec["command"],
                "commandActions": [],
                "cwd": os.getcwd(),
                "status": "completed",
                "exitCode": spec.get("exit_code", 0),
            }
        else:
            use_token = spec["type"] != "mcp_without_token"
            token = os.environ.get(token_var) if (use_token and token_var) else None
            started = {
                "type": "mcpToolCall",
                "id": item_id,
                "server": "ktx",
                "tool": spec["tool"],
                "arguments": spec.get("arguments", {}),
                "status": "inProgress",
            }
            notify("item/started", {**base, "item": started, "startedAtMs": 0})
            call = mcp_call(url, token, spec["tool"], spec.get("arguments", {})) if url else {"http_status": None}
            record["mcp_calls"].append({"tool": spec["tool"], "with_token": bool(token), **call})
            body = call.get("body") if isinstance(call.get("body"), dict) else {}
            result = body.get("result") or {}
            failed = call["http_status"] != 200 or result.get("isError") or spec.get("force_failure")
            message = spec.get("force_failure") or (
                "".join(c.get("text", "") for c in result.get("content", [])) or f"HTTP {call['http_status']}"
            )
            item = {
                **started,
                "status": "failed" if failed else "completed",
                "error": {"message": message} if failed else None,
                "result": None if failed else {"content": result.get("content", [])},
            }
        notify("item/completed", {**base, "item": item, "completedAtMs": 0})
    usage = run.get("usage", {"input": 100, "cached": 60, "output": 20})
    breakdown = {
        "inputTokens": usage["input"],
        "cachedInputTokens": usage["cached"],
        "outputTokens": usage["output"],
        "reasoningOutputTokens": 0,
        "totalTokens": usage["input"] + usage["output"],
    }
    notify("thread/tokenUsage/updated", {**base, "tokenUsage": {"last": breakdown, "total": breakdown}})
    if run.get("error_notification"):
        notify("error", {**base, "error": {"message": run["error_notification"]}, "willRetry": False})
    if run.get("turn_error"):
        status, error = "failed", {"message": run["turn_error"]}
    save(record)  # before announcing completion: the SDK may stop this process right after
    notify(
        "turn/completed",
        {"threadId": thread_id, "turn": {"id": turn_id, "items": [], "status": status, "error": error}},
    )
    save(record)


def main() -> None:
    argv = sys.argv[1:]
    run_index = len(list(DIR.glob("run-*.json")))
    scenario = json.loads((DIR / "scenario.json").read_text())
    run = scenario["runs"][min(run_index, len(scenario["runs"]) - 1)]
    record: dict[str, Any] = {
        "file": f"run-{run_index}.json",
        "argv": argv,
        "config": overrides(argv),
        "command": parse_codex_args(argv).positionals,
        "listen": parse_codex_args(argv).value("--listen"),
        "env": dict(os.environ),
        "requests": [],
        "mcp_calls": [],
    }
    save(record)
    for line in sys.stdin:
        message = json.loads(line)
        method, msg_id = message.get("method"), message.get("id")
        if method is None:
            continue
        record["requests"].append({"method": method, "params": message.get("params")})
        if method == "turn/interrupt":
            INTERRUPTED.set()
            record["interrupted"] = True
        # Keep the record current before answering: the SDK may stop this process right after.
        save(record)
        if method == "initialize":
            if run.get("fail_initialize"):
                send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32000, "message": run["fail_initialize"]}})
                continue
            send(
                {
                    "jsonrpc": "2.0",
                    "id": msg_id,
                    "result": {
                        "userAgent": "codex_cli_rs/0.163.0",
                        "serverInfo": {"name": "codex", "version": "0.163.0"},
                    },
                }
            )
        elif method == "thread/start":
            params = message["params"]
            send(
                {
                    "jsonrpc": "2.0",
                    "id": msg_id,
                    "result": {
                        "approvalPolicy": params.get("approvalPolicy", "never"),
                        "approvalsReviewer": "user",
                        "cwd": params.get("cwd") or os.getcwd(),
                        "model": params.get("model") or "gpt-5.5",
                        "modelProvider": "openai",
                        "sandbox": {"type": "readOnly"},
                        "thread": {
                            "cliVersion": "0.163.0",
                            "createdAt": 0,
                            "cwd": os.getcwd(),
                            "ephemeral": True,
                            "id": "thread-1",
                            "modelProvider": "openai",
                            "preview": "",
                            "sessionId": "session-1",
                            "source": "exec",
                            "status": {"type": "idle"},
                            "turns": [],
                            "updatedAt": 0,
                        },
                    },
                }
            )
        elif method == "turn/start":
            send(
                {
                    "jsonrpc": "2.0",
                    "id": msg_id,
                    "result": {"turn": {"id": "turn-1", "items": [], "status": "inProgress"}},
                }
            )
            threading.Thread(target=play, args=(run, "thread-1", "turn-1", record, argv), daemon=True).start()
        elif method == "turn/interrupt" or msg_id is not None:
            send({"jsonrpc": "2.0", "id": msg_id, "result": {}})
    save(record)


if __name__ == "__main__":
    main()
