"""The `ktx mcp start|stop|status|logs` daemon lifecycle and its state file, `.ktx/mcp.json`.

The state file holds pid, host, port and whether a token is required — never the token itself, which reaches the
child only through its environment (not argv, not the log).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ktx.errors import KtxError
from ktx.mcp.http import HttpSettings, bind_socket

STATE_FILE = Path(".ktx") / "mcp.json"
LOG_FILE = Path(".ktx") / "logs" / "mcp.log"
SCHEMA_VERSION = 1
START_TIMEOUT_S = 20.0

DaemonState = Literal["running", "stale", "stopped"]


@dataclass
class DaemonStatus:
    state: DaemonState
    detail: str
    record: dict[str, Any] | None = None

    @property
    def url(self) -> str | None:
        if not self.record:
            return None
        return HttpSettings(str(self.record.get("host")), int(self.record.get("port", 0))).url

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"state": self.state, "detail": self.detail}
        if self.record:
            data.update(
                url=self.url,
                pid=self.record.get("pid"),
                tokenAuth=bool(self.record.get("tokenAuth")),
                projectDir=self.record.get("projectDir"),
                startedAt=self.record.get("startedAt"),
                logPath=self.record.get("logPath"),
            )
        return data


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process is not a running server
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def read_record(root: Path) -> dict[str, Any] | None:
    """The state file as written, or None when there is none; ValueError when it does not parse."""
    path = root / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or not isinstance(data.get("port"), int):
        raise ValueError("expected an object with integer pid and port")
    return data


def health(host: str, port: int, timeout: float = 2.0) -> tuple[dict[str, Any] | None, str | None]:
    """(`GET /health` body, None) when it answers ok, else (None, why not: `HTTP 403`, a connection error)."""
    target = f"[{host}]" if ":" in host else host
    request = urllib.request.Request(f"http://{target}:{port}/health", headers={"Host": f"{target}:{port}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy
    try:
        with opener.open(request, timeout=timeout) as response:
            body = json.loads(response.read() or b"{}")
            if isinstance(body, dict) and body.get("status") == "ok":
                return body, None
            return None, "unexpected /health answer"
    except urllib.error.HTTPError as exc:
        return None, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return None, str(reason)


def probe_health(host: str, port: int, timeout: float = 2.0) -> str | None:
    """None when `GET /health` answers ok, else why not."""
    return health(host, port, timeout)[1]


def _same_dir(a: str | None, b: Path) -> bool:
    if not a:
        return False
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return False


def _foreign(root: Path, record: dict[str, Any], body: dict[str, Any]) -> str | None:
    """Why a daemon that answers is not this project's (its /health names another directory or pid), or None."""
    if not _same_dir(body.get("projectDir"), root):
        return f"the daemon at that address serves another project ({body.get('projectDir')})"
    if isinstance(body.get("pid"), int) and body["pid"] != record["pid"]:
        return f"the daemon at that address is pid {body['pid']}, not pid {record['pid']}"
    return None


def daemon_status(root: Path) -> DaemonStatus:
    path = root / STATE_FILE
    try:
        record = read_record(root)
    except (ValueError, OSError) as exc:
        return DaemonStatus("stale", f"MCP daemon state is invalid: {exc}")
    if record is None:
        return DaemonStatus("stopped", f"No MCP daemon state at {path}")
    if not _same_dir(record.get("projectDir"), root):
        return DaemonStatus(
            "stale",
            f"{path} was written for another project ({record.get('projectDir')}), e.g. copied with it; "
            "this project's daemon is not running",
            record,
        )
    if not pid_alive(record["pid"]):
        return DaemonStatus("stale", f"MCP daemon process {record['pid']} is not running", record)
    body, problem = health(str(record.get("host")), record["port"])
    if body is None:
        return DaemonStatus("stale", f"MCP daemon is not answering /health: {problem}", record)
    foreign = _foreign(root, record, body)
    if foreign is not None:
        return DaemonStatus("stale", f"{path} is stale: {foreign}", record)
    status = DaemonStatus("running", "", record)
    status.detail = f"ktx MCP daemon running at {status.url}"
    return status


def _command_line(pid: int) -> list[str] | None:
    """The process's argv (Linux /proc, else `ps`), or None when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    except OSError:
        pass
    try:
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.split() if out.returncode == 0 and out.stdout.strip() else None


def _is_our_daemon(root: Path, record: dict[str, Any]) -> bool:
    """Only ever signal this project's daemon: /health names this project and pid, or, when it does not answer,
    the process's command line is `… -m ktx --project-dir <this project> mcp serve-internal …`."""
    body, _ = health(str(record.get("host")), record["port"], timeout=1.0)
    if body is not None:
        return _foreign(root, record, body) is None
    argv = _command_line(record["pid"])
    if not argv or "serve-internal" not in argv or "ktx" not in argv:
        return False
    try:
        project_dir = argv[argv.index("--project-dir") + 1]
    except (ValueError, IndexError):
        return False
    return _same_dir(project_dir, root)


@dataclass
class StartOutcome:
    status: Literal["started", "already-running"]
    url: str
    pid: int


def start_daemon(root: Path, settings: HttpSettings) -> StartOutcome:
    """Spawn `ktx mcp serve-internal` detached, record it, and wait until /health answers."""
    settings.validate()
    current = daemon_status(root)
    if current.state == "running" and current.record:
        rec = current.record
        same = (
            rec.get("host") == settings.host
            and rec.get("port") == settings.port
            and bool(rec.get("tokenAuth")) == bool(settings.token)
            and bool(rec.get("jsonResponses")) == settings.json_responses
        )
        if same:
            return StartOutcome("already-running", settings.url, int(rec["pid"]))
        raise KtxError(
            f"ktx MCP daemon is already running at {current.url} with a different configuration. "
            "Run `ktx mcp stop` first, then start again."
        )
    bind_socket(settings.host, settings.port).close()  # a taken port fails here, with its message
    log_path = root / LOG_FILE
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "ktx", "--project-dir", str(root), "mcp", "serve-internal"]
    args += ["--host", settings.host, "--port", str(settings.port)]
    for host in settings.allowed_hosts:
        args += ["--allowed-host", host]
    for origin in settings.allowed_origins:
        args += ["--allowed-origin", origin]
    if settings.json_responses:
        args.append("--json-responses")
    env = {k: v for k, v in os.environ.items() if k != "KTX_MCP_TOKEN"}
    if settings.token:
        env["KTX_MCP_TOKEN"] = settings.token
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=root, start_new_session=True
        )
    record = {
        "schemaVersion": SCHEMA_VERSION,
        "pid": child.pid,
        "host": settings.host,
        "port": settings.port,
        "tokenAuth": bool(settings.token),
        "jsonResponses": settings.json_responses,
        "projectDir": str(root),
        "startedAt": datetime.now(UTC).isoformat(),
        "logPath": str(log_path),
    }
    from ktx.project.files import atomic_write

    atomic_write(root / STATE_FILE, json.dumps(record, indent=2) + "\n")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            (root / STATE_FILE).unlink(missing_ok=True)
            raise KtxError(
                f"The ktx MCP daemon exited during start-up (code {child.returncode}).",
                hint=f"See {log_path} (or `ktx mcp logs`).",
            )
        if probe_health(settings.host, settings.port, timeout=0.5) is None:
            return StartOutcome("started", settings.url, child.pid)
        time.sleep(0.1)
    raise KtxError(
        f"The ktx MCP daemon (pid {child.pid}) did not answer /health within {START_TIMEOUT_S:.0f} s.",
        hint=f"See {log_path}; stop it with `ktx mcp stop`.",
    )


StopOutcome = Literal["stopped", "not-running", "not-ours"]


def stop_daemon(root: Path) -> StopOutcome:
    """SIGTERM, up to 10 s of grace, then SIGKILL; the state file is removed. A pid that is not this project's
    daemon (a copied state file, a reused pid) is never signalled: the stale state is cleared instead."""
    try:
        record = read_record(root)
    except (ValueError, OSError):  # an unreadable state file: nothing to signal, but clear it
        (root / STATE_FILE).unlink(missing_ok=True)
        return "not-running"
    if record is None:
        return "not-running"
    pid = record["pid"]
    if not pid_alive(pid):
        (root / STATE_FILE).unlink(missing_ok=True)
        return "not-running"
    if not _same_dir(record.get("projectDir"), root) or not _is_our_daemon(root, record):
        (root / STATE_FILE).unlink(missing_ok=True)
        return "not-ours"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    (root / STATE_FILE).unlink(missing_ok=True)
    return "stopped"


def read_logs(root: Path) -> Path:
    path = root / LOG_FILE
    if not path.is_file():
        raise KtxError(f"No MCP log at {path}", hint="Start the daemon with `ktx mcp start`.")
    return path
