"""A stand-in for the Claude Code CLI, speaking the Agent SDK's stdio stream-json protocol.

The real claude-agent-sdk launches it (through ktx's env-stripping launcher). It answers the
initialize control request, talks MCP to the SDK's in-process `ktx` server through
`mcp_message` control requests, asks the SDK's permission callback before running tools that
were not pre-allowed, and plays a scripted conversation. Everything it saw — argv, its
environment, stdin frames, tool results — is written to `$FAKE_CLAUDE_DIR/run-<n>.json`.
Scenario: `$FAKE_CLAUDE_DIR/scenario.json` = `{"runs": [run, ...]}`; run n uses runs[min(n, last)].
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: cli_args sits beside it
from cli_args import ParsedArgs, parse_claude_args

DIR = Path(os.environ["FAKE_CLAUDE_DIR"])
PENDING: list[dict[str, Any]] = []
COUNTER = [0]


def send(frame: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(frame) + "\n")
    sys.stdout.flush()


def read_frame() -> dict[str, Any] | None:
    line = sys.stdin.readline()
    return json.loads(line) if line else None


def control(request: dict[str, Any]) -> dict[str, Any]:
    COUNTER[0] += 1
    request_id = f"cli_{COUNTER[0]}"
    send({"type": "control_request", "request_id": request_id, "request": request})
    while True:
        frame = read_frame()
        if frame is None:
            raise SystemExit(3)
        if frame.get("type") == "control_response" and frame["response"].get("request_id") == request_id:
            if frame["response"].get("subtype") == "error":
                return {"error": frame["response"].get("error")}
            return frame["response"].get("response", {})
        PENDING.append(frame)


def next_frame(kind: str) -> dict[str, Any]:
    for i, frame in enumerate(PENDING):
        if frame.get("type") == kind:
            return PENDING.pop(i)
    while True:
        frame = read_frame()
        if frame is None:
            raise SystemExit(4)
        if frame.get("type") == kind:
            return frame
        PENDING.append(frame)


def mcp_servers(args: ParsedArgs) -> dict[str, Any]:
    """`--mcp-config` as the CLI reads it: each value a JSON text or a file path, servers merged in order."""
    servers: dict[str, Any] = {}
    for raw in args.values("--mcp-config"):
        text = raw if raw.lstrip().startswith("{") else Path(raw).read_text()
        servers.update(json.loads(text).get("mcpServers", {}))
    return servers


def mcp(server: str, method: str, params: dict[str, Any], msg_id: int | None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if msg_id is not None:
        message["id"] = msg_id
    return control({"subtype": "mcp_message", "server_name": server, "message": message})


def pre_tool_use(record: dict[str, Any], name: str, tool_input: dict[str, Any], tool_use_id: str) -> dict | None:
    """Run the SDK's PreToolUse hooks whose matcher fits the tool, as the CLI does before any permission rule."""
    hooks = (record.get("initialize") or {}).get("hooks") or {}
    for matcher in hooks.get("PreToolUse") or []:
        pattern = matcher.get("matcher")
        if pattern not in (None, "", "*") and not re.fullmatch(pattern, name):
            continue
        for callback_id in matcher.get("hookCallbackIds", []):
            output = control(
                {
                    "subtype": "hook_callback",
                    "callback_id": callback_id,
                    "input": {
                        "hook_event_name": "PreToolUse",
                        "session_id": "fake-session",
                        "transcript_path": "",
                        "cwd": os.getcwd(),
                        "tool_name": name,
                        "tool_input": tool_input,
                        "tool_use_id": tool_use_id,
                    },
                    "tool_use_id": tool_use_id,
                }
            )
            record.setdefault("hook_calls", []).append({"tool": name, "output": output})
            specific = output.get("hookSpecificOutput") or {}
            if specific.get("permissionDecision") in ("deny", "allow"):
                return specific
    return None


def permission(args: ParsedArgs, record: dict[str, Any], name: str, tool_input: dict, tool_use_id: str) -> dict:
    """Hooks first, then allow rules, then the permission mode: `dontAsk` denies, `stdio` asks the SDK."""
    decision = pre_tool_use(record, name, tool_input, tool_use_id)
    if decision is not None:
        if decision["permissionDecision"] == "deny":
            return {"behavior": "deny", "message": decision.get("permissionDecisionReason", "denied by hook")}
        return {"behavior": "allow"}
    if name in record["allowed_tools"]:
        return {"behavior": "allow"}
    if args.value("--permission-prompt-tool") == "stdio":
        return control({"subtype": "can_use_tool", "tool_name": name, "input": tool_input, "tool_use_id": tool_use_id})
    if record["permission_mode"] == "dontAsk":
        return {"behavior": "deny", "message": f"Permission to use {name} has been denied."}
    return {
        "behavior": "deny",
        "message": f"Claude requested permissions to use {name}, but you haven't granted it yet.",
    }


def main() -> None:
    argv = sys.argv[1:]
    args = parse_claude_args(argv)
    run_index = len(list(DIR.glob("run-*.json")))
    scenario = json.loads((DIR / "scenario.json").read_text())
    run = scenario["runs"][min(run_index, len(scenario["runs"]) - 1)]
    schema = args.value("--json-schema")
    record: dict[str, Any] = {
        "argv": argv,
        "args": args.to_json(),
        # What the CLI was asked for, as the real one understands its options.
        "model": args.value("--model"),
        "max_turns": int(args.value("--max-turns")) if args.value("--max-turns") else None,
        "tools": args.items("--tools") if "--tools" in args.options else None,
        "allowed_tools": args.items("--allowedTools"),
        "disallowed_tools": args.items("--disallowedTools"),
        "permission_mode": args.value("--permission-mode"),
        "system_prompt": args.value("--system-prompt"),
        "setting_sources": args.items("--setting-sources") if "--setting-sources" in args.options else None,
        "settings": json.loads(args.value("--settings") or "null"),
        "json_schema": json.loads(schema) if schema else None,
        "mcp_servers": mcp_servers(args),
        "flags": sorted(args.flags),
        "env": dict(os.environ),
        "frames": [],
        "tool_results": [],
    }
    record_path = DIR / f"run-{run_index}.json"
    record_path.write_text(json.dumps(record, indent=1))  # early, in case the SDK stops us after init

    init_request = next_frame("control_request")
    record["initialize"] = init_request["request"]
    send(
        {
            "type": "control_response",
            "response": {
                "subtype": "success",
                "request_id": init_request["request_id"],
                "response": {"commands": [], "models": []},
            },
        }
    )

    mcp_config = record["mcp_servers"]
    max_turns = record["max_turns"] or 1000
    tools: list[str] = []
    if "ktx" in mcp_config:
        mcp(
            "ktx",
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "fake-claude", "version": "0"},
            },
            1,
        )
        mcp("ktx", "notifications/initialized", {}, None)
        listed = mcp("ktx", "tools/list", {}, 2)["mcp_response"]["result"]["tools"]
        tools = [f"mcp__ktx__{t['name']}" for t in listed]
        record["mcp_tools"] = listed

    user = next_frame("user")
    record["prompt"] = user["message"]["content"]
    init = run.get("init", {})
    send(
        {
            "type": "system",
            "subtype": "init",
            "session_id": "fake-session",
            "cwd": os.getcwd(),
            "model": record["model"],
            "claude_code_version": "2.9.0",
            "apiKeySource": "none",
            "tools": tools + init.get("extra_tools", []) + (["StructuredOutput"] if schema else []),
            "mcp_servers": [{"name": n, "status": "connected"} for n in mcp_config] + init.get("extra_mcp_servers", []),
            "slash_commands": init.get("slash_commands", []),
            "skills": init.get("skills", []),
            "agents": init.get("agents", []),
            "plugins": init.get("plugins", []),
        }
    )

    turns_done = 0
    final_text = ""
    result: dict[str, Any] = {"subtype": "success", "is_error": False}
    for turn in run.get("turns", [{"text": "ok"}]):
        if turns_done >= max_turns:
            result = {"subtype": "error_max_turns", "is_error": True}
            break
        turns_done += 1
        time.sleep(turn.get("delay", 0))
        calls = turn.get("tool_calls", [])
        content: list[dict[str, Any]] = [{"type": "text", "text": turn["text"]}] if "text" in turn else []
        content += [
            {"type": "tool_use", "id": f"tu_{turns_done}_{i}", "name": c["name"], "input": c.get("input", {})}
            for i, c in enumerate(calls)
        ]
        send(
            {
                "type": "assistant",
                "message": {"role": "assistant", "model": "fake", "content": content},
                "parent_tool_use_id": None,
                "session_id": "fake-session",
            }
        )
        final_text = turn.get("text", final_text)
        results = []
        for i, call in enumerate(calls):
            name = call["name"]
            verdict = permission(args, record, name, call.get("input", {}), f"tu_{turns_done}_{i}")
            if verdict.get("behavior") != "allow":
                outcome = {"name": name, "is_error": True, "text": verdict.get("message", "denied")}
            elif name.startswith("mcp__ktx__"):
                response = mcp(
                    "ktx",
                    "tools/call",
                    {"name": name.removeprefix("mcp__ktx__"), "arguments": call.get("input", {})},
                    10 + i,
                )["mcp_response"]
                body = response.get("result", {})
                outcome = {
                    "name": name,
                    "is_error": bool(body.get("isError")),
                    "text": "".join(c.get("text", "") for c in body.get("content", [])),
                }
            else:
                outcome = {"name": name, "is_error": False, "text": "built-in tool ran"}
            record["tool_results"].append(outcome)
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": f"tu_{turns_done}_{i}",
                    "content": outcome["text"],
                    "is_error": outcome["is_error"],
                }
            )
        if results:
            send(
                {
                    "type": "user",
                    "message": {"role": "user", "content": results},
                    "parent_tool_use_id": None,
                    "session_id": "fake-session",
                }
            )

    if "rate_limit_event" in run:
        send(
            {
                "type": "rate_limit_event",
                "rate_limit_info": run["rate_limit_event"],
                "uuid": "u1",
                "session_id": "fake-session",
            }
        )
    result.update(run.get("result", {}))
    record_path.write_text(json.dumps(record, indent=1))  # before the result: the SDK may stop us after it
    send(
        {
            "type": "result",
            "duration_ms": 5,
            "duration_api_ms": 4,
            "num_turns": turns_done,
            "session_id": "fake-session",
            "result": result.pop("result", final_text),
            "usage": run.get("usage", {"input_tokens": 120, "output_tokens": 30, "cache_read_input_tokens": 80}),
            "structured_output": run.get("structured_output"),
            "total_cost_usd": 0.01,
            **result,
        }
    )
    send({"type": "system", "subtype": "session_state_changed", "state": "idle", "sdk_host_only": True})
    while read_frame() is not None:  # stay until the SDK closes stdin
        pass


if __name__ == "__main__":
    main()
