"""`ktx mcp stdio` without waiting for the MCP SDK to load.

Importing the SDK (its protocol types are pydantic models of two protocol versions) is most of a cold start. So
the stdio server answers the client's handshake — `initialize`, `tools/list`, `ping` — with exactly what the SDK
answered the last time, while the SDK and the project's server load in a background thread. Once loaded, the SDK
serves the session: it is handed the client's messages from the start (its `initialize` included, so the session
knows the client) and its second answer to that `initialize` is not sent. Every other request waits for the SDK.

The recording lives in `.ktx/cache/mcp-stdio-handshake.json` and, shared by every project of the user, in
`$XDG_CACHE_HOME/ktx/mcp-stdio/<key>.json`; it is keyed by ktx's version, the installed SDK and what the tool list
depends on in ktx.yaml (whether an LLM backend is configured), so a project served for the first time starts fast
when any project was served before with the same ktx. A changed key, a protocol version not recorded, or no
recording at all: the SDK answers everything itself, and what it answers is recorded for the next start.

The client's pipe is kept off fd 0/1 while serving (fd 0 reads /dev/null, fd 1 writes to stderr), so a stray
read or print in tool code cannot corrupt the protocol — what the SDK's own stdio transport does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE_FILE = Path(".ktx") / "cache" / "mcp-stdio-handshake.json"
EOF = object()


class Ready:
    """The background load finished: the server to run, or the error that stopped it."""

    def __init__(self, server: Any = None, error: BaseException | None = None) -> None:
        self.server, self.error = server, error


def handshake_key(root: Path) -> str | None:
    from importlib.util import find_spec

    from ktx import __version__

    parts = [__version__]
    try:
        for package in ("mcp", "mcp_types"):
            spec = find_spec(package)
            if spec is None or spec.origin is None:
                return None
            parts.append(f"{spec.origin}:{os.stat(spec.origin).st_mtime_ns}")
        parts.append(_catalogue_shape((root / "ktx.yaml").read_bytes()))
    except (OSError, ImportError, ValueError):
        return None
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _catalogue_shape(config: bytes) -> str:
    """What the handshake's answers depend on in ktx.yaml: the tool list has the LLM tools when a backend is
    configured (mcp.catalog.build_catalogue); nothing else of the configuration changes an answer. A file that
    does not parse is keyed by its bytes."""
    try:
        import yaml

        doc = yaml.load(config, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        provider = ((doc.get("llm") or {}).get("provider") or {}) if isinstance(doc, dict) else {}
        return f"llm={str(provider.get('backend') or 'none') != 'none'}"
    except Exception:  # the server reports the configuration's problem itself
        return hashlib.sha256(config).hexdigest()


def shared_recording(key: str) -> Path | None:
    """The user's copy of a recording, shared by every project (None without a home to keep it in)."""
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except (RuntimeError, KeyError):
        return None
    return Path(base) / "ktx" / "mcp-stdio" / f"{key}.json"


def _recording_files(root: Path, key: str) -> list[Path]:
    """The project's recording, then the user's shared copy of it (when there is a home to keep it in)."""
    shared = shared_recording(key)
    return [root / CACHE_FILE, *([shared] if shared is not None else [])]


def recording_paths(root: Path) -> list[Path]:
    """Where the project's handshake recordings are kept (none when no key can be made)."""
    key = handshake_key(root)
    return [] if key is None else _recording_files(root, key)


def load_recording(root: Path, key: str) -> dict[str, Any]:
    for path in _recording_files(root, key):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("key") == key:
            return data
    return {}


class Wire:
    """The client's pipe: lines read by a thread into `inbox`, JSON-RPC lines written whole."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[Any] = queue.Queue()
        in_fd, out_fd = os.dup(0), os.dup(1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sys.stdout.flush()
        os.dup2(2, 1)
        self._in = os.fdopen(in_fd, "rb")
        self._out = os.fdopen(out_fd, "wb")
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="ktx-mcp-stdin", daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in self._in:
                if line.strip():
                    self.inbox.put(line.decode("utf-8", errors="replace"))
        self.inbox.put(EOF)

    def send(self, text: str) -> None:
        with self._lock:
            self._out.write(text.encode("utf-8") + b"\n")
            self._out.flush()


def _message(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _result(request_id: Any, result: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}, separators=(",", ":"))


# What is recorded and answered early: the handshake of both protocol generations — `initialize` (then requests
# on that session) up to 2025-11-25, and the stateless `server/discover` of 2026-07-28, whose every request names
# its protocol version in `_meta` — and the first page of `tools/list`.
RECORDED = ("initialize", "server/discover", "tools/list")
META_VERSION = "io.modelcontextprotocol/protocolVersion"


def _request(message: dict[str, Any], session_version: str | None) -> tuple[str | None, str | None]:
    """(recording key, protocol version) of a request whose answer may be recorded, or (None, version)."""
    method = message.get("method")
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
    version = params.get("protocolVersion") if method == "initialize" else meta.get(META_VERSION, session_version)
    if message.get("id") is None or method not in RECORDED or version is None or params.get("cursor"):
        return None, None if version is None else str(version)
    return f"{method}|{version}", str(version)


def answer_early(wire: Wire, answers: dict[str, Any]) -> tuple[list[Any], Any, Ready | None]:
    """Answer the handshake from `answers` (recording key → result) until the background load puts a `Ready`
    in the inbox.

    Returns the messages the SDK must still see, in arrival order (EOF last if the client has gone), the id of an
    `initialize` answered here (the SDK is given it too, so its session knows the client, and its answer is
    dropped), and the `Ready` (None: the client left with nothing unanswered).
    """
    for_sdk: list[Any] = []
    answered_init: Any = None
    session_version: str | None = None
    while True:
        item = wire.inbox.get()
        if isinstance(item, Ready):
            return for_sdk, answered_init, item
        if item is EOF:
            for_sdk.append(EOF)
            waiting = [m for m in for_sdk if m is not EOF and _message(m).get("id") not in (None, answered_init)]
            if not waiting:
                return for_sdk, answered_init, None
            continue
        message = _message(item)
        method, request_id = message.get("method"), message.get("id")
        key, version = _request(message, session_version)
        stateless = version is not None and method != "initialize" and session_version is None
        if method == "initialize":
            for_sdk.append(item)
            if key in answers and answered_init is None:
                wire.send(_result(request_id, answers[key]))
                answered_init, session_version = request_id, version
        elif key in answers and (answered_init is not None or stateless):
            wire.send(_result(request_id, answers[key]))
        elif method == "ping" and request_id is not None and answered_init is not None:
            wire.send(_result(request_id, {}))
        else:
            for_sdk.append(item)


class Recorder:
    """Watches the SDK's answers to the handshake requests not recorded yet and saves them for the next start."""

    def __init__(self, root: Path, key: str | None, answers: dict[str, Any]) -> None:
        self.root, self.key = root, key
        self.answers = dict(answers)
        self.watch: dict[Any, str] = {}
        self.session_version: str | None = None
        self.enabled = key is not None

    def seen_request(self, line: str) -> None:
        if not self.enabled:
            return
        message = _message(line)
        key, version = _request(message, self.session_version)
        if message.get("method") == "initialize":
            self.session_version = version
        if key is not None and key not in self.answers:
            self.watch[message["id"]] = key

    def seen_answer(self, line: str) -> None:
        if not self.watch:
            return
        message = _message(line)
        key = self.watch.pop(message.get("id"), None) if "result" in message else None
        if key is not None:
            self.answers[key] = message["result"]
            self._save()

    def _save(self) -> None:
        text = json.dumps({"key": self.key, "answers": self.answers})
        for path in _recording_files(self.root, self.key) if self.key else []:
            with contextlib.suppress(OSError):  # read-only: it still serves, and only starts slower next time
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, path)


class _Lines:
    """The SDK's stdin: the messages already read, then the rest of the pipe."""

    def __init__(self, wire: Wire | _Tape, replay: list[Any], recorder: Recorder) -> None:
        self.wire, self.replay, self.recorder = wire, replay, recorder

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        import anyio

        item = (
            self.replay.pop(0)
            if self.replay
            else await anyio.to_thread.run_sync(self.wire.inbox.get, abandon_on_cancel=True)
        )
        if item is EOF or isinstance(item, Ready):
            raise StopAsyncIteration
        self.recorder.seen_request(item)
        return item


class _Sink:
    """The SDK's stdout: lines to the pipe, except its second answer to an `initialize` answered early."""

    def __init__(self, wire: Wire | _Tape, drop_id: Any, recorder: Recorder) -> None:
        self.wire, self.drop_id, self.recorder = wire, drop_id, recorder

    async def write(self, text: str) -> None:
        line = text.rstrip("\n")
        if self.drop_id is not None and '"id"' in line:
            message = _message(line)
            if message.get("id") == self.drop_id and ("result" in message or "error" in message):
                self.drop_id = None
                return
        self.recorder.seen_answer(line)
        self.wire.send(line)

    async def flush(self) -> None:
        return None


async def serve(server: Any, wire: Wire | _Tape, replay: list[Any], drop_id: Any, recorder: Recorder) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server(stdin=_Lines(wire, replay, recorder), stdout=_Sink(wire, drop_id, recorder)) as (  # type: ignore[arg-type]
        read_stream,
        write_stream,
    ):
        await server.run(read_stream, write_stream, server.create_initialization_options())


class _Tape:
    """A wire with no client: the requests of one session to play, then the end of the pipe. The answers need no
    pipe: the recorder has seen them before they are sent."""

    def __init__(self, requests: list[dict[str, Any]]) -> None:
        self.inbox: queue.Queue[Any] = queue.Queue()
        for request in requests:
            self.inbox.put(json.dumps(request))
        self.inbox.put(EOF)

    def send(self, text: str) -> None:
        return None


def _handshakes() -> list[list[dict[str, Any]]]:
    """One session per protocol version the SDK speaks: what a client sends first (the SDK's version list, so a
    client is recorded whichever it asks for)."""
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

    client = {"name": "ktx-prerecord", "version": "1"}
    sessions = [
        [
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": client},
            },
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
        ]
        for version in HANDSHAKE_PROTOCOL_VERSIONS
    ]
    for version in MODERN_PROTOCOL_VERSIONS:
        meta = {
            "_meta": {
                META_VERSION: version,
                "io.modelcontextprotocol/clientInfo": client,
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        }
        sessions.append(
            [
                {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": meta},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": meta},
            ]
        )
    return sessions


def _recorded_keys(session: list[dict[str, Any]]) -> list[str]:
    keys, version = [], None
    for message in session:
        key, asked = _request(message, version)
        if message.get("method") == "initialize":
            version = asked
        if key is not None:
            keys.append(key)
    return keys


def prerecord(root: Path, load_server: Callable[[], Any]) -> list[str]:
    """Record the handshake of every protocol version now (the SDK answering in this process), so that the first
    start by a client — e.g. Claude Desktop right after `ktx setup` — is answered early too. Returns the keys
    recorded (none when a recording already answers every version, or nothing can be recorded)."""
    import anyio

    key = handshake_key(root)
    if key is None:
        return []
    recorder = Recorder(root, key, load_recording(root, key).get("answers") or {})
    before = set(recorder.answers)
    sessions = [s for s in _handshakes() if not set(_recorded_keys(s)) <= before]
    if not sessions:
        return []
    server = load_server()
    for session in sessions:
        anyio.run(serve, server, _Tape(session), [], None, recorder)
    return sorted(set(recorder.answers) - before)


class ProjectServer:
    """Builds the project's SDK server when called (in whichever thread); `close()` closes what that opened."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.opened: list[Any] = []

    def __call__(self) -> Any:
        from ktx.mcp.server import project_server
        from ktx.project.project import Project
        from ktx.services import Services

        services = Services(Project(self.root))
        self.opened.append(services)
        return project_server(services)

    def close(self) -> None:
        for services in self.opened:
            services.close()


def prepare(root: Path) -> list[str]:
    """`prerecord` for the project at `root`, with its own server."""
    loader = ProjectServer(root)
    try:
        return prerecord(root, loader)
    finally:
        loader.close()


def run_stdio(root: Path, load_server: Callable[[], Any]) -> None:
    """Serve MCP over stdio for the project at `root`; `load_server()` builds the SDK server (in a thread when
    a recorded handshake lets the client be answered meanwhile)."""
    import anyio

    key = handshake_key(root)
    answers = (load_recording(root, key).get("answers") or {}) if key else {}
    wire = Wire()
    recorder = Recorder(root, key, answers)
    if any(k.startswith("tools/list|") for k in answers):

        def load() -> None:
            try:
                wire.inbox.put(Ready(server=load_server()))
            except BaseException as exc:  # reported by the main thread
                wire.inbox.put(Ready(error=exc))

        threading.Thread(target=load, name="ktx-mcp-load", daemon=True).start()
        replay, drop_id, ready = answer_early(wire, answers)
        if ready is None:
            return
        if ready.error is not None:
            raise ready.error
        server = ready.server
    else:
        server, replay, drop_id = load_server(), [], None
    anyio.run(serve, server, wire, replay, drop_id, recorder)
