"""`ktx --help` skips the modules help never uses, and prints exactly what it printed with them."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import sys
from ktx.cli.entry import main
try:
    main({args!r})
except SystemExit:
    pass
print("LOADED", "markdown_it" in sys.modules, "rich.traceback" in sys.modules and not getattr(
    sys.modules["rich.traceback"], "__ktx_deferred__", False), file=sys.stderr)
"""
PLAIN = """
import sys
from ktx.cli.app import run
sys.exit(run({args!r}, debug=False))
"""


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "KTX_HELP_CACHE": "off", **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_help_output_is_unchanged_and_markdown_is_never_imported() -> None:
    for args in (["--help"], ["sl", "query", "--help"], ["ingest", "-h"]):
        fast = _run(PROBE.format(args=args))
        plain = _run(PLAIN.format(args=args))
        assert fast.stdout == plain.stdout and "Usage: ktx" in fast.stdout
        assert "LOADED False False" in fast.stderr


def test_a_deferred_module_is_the_real_one_when_used() -> None:
    done = _run(
        "from ktx.cli.helpfast import defer_unused_help_modules\n"
        "defer_unused_help_modules()\n"
        "from rich.console import Console\n"
        "from rich.markdown import Markdown\n"
        "import rich.markdown\n"
        "Console(width=40).print(Markdown('# Title\\n\\n*body*'))\n"
        "print(type(rich.markdown.Heading).__name__)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "Title" in done.stdout and "body" in done.stdout


def test_help_is_kept_and_printed_again_without_building_the_commands(tmp_path) -> None:
    cache = str(tmp_path / "help")
    probe = PROBE.format(args=["sl", "--help"])
    first = _run(probe, KTX_HELP_CACHE=cache)
    again = _run(probe + "\nprint('BUILT', 'typer' in sys.modules, file=sys.stderr)\n", KTX_HELP_CACHE=cache)
    plain = _run(PLAIN.format(args=["sl", "--help"]))
    assert first.stdout == again.stdout == plain.stdout and "Usage: ktx sl" in again.stdout
    assert "BUILT False" in again.stderr  # printed from the kept text: Typer never imported
    assert len(list((tmp_path / "help").iterdir())) == 1
    # Another terminal width is another rendering: not served from the first one.
    wider = _run(probe, KTX_HELP_CACHE=cache, COLUMNS="140")
    assert wider.stdout == _run(PLAIN.format(args=["sl", "--help"]), COLUMNS="140").stdout
    assert len(list((tmp_path / "help").iterdir())) == 2


def test_a_failed_help_is_not_kept(tmp_path) -> None:
    cache = tmp_path / "help"
    done = _run(PROBE.format(args=["no-such-command", "--help"]), KTX_HELP_CACHE=str(cache))
    assert "No such command" in done.stderr or "no-such-command" in done.stderr
    assert not cache.exists() or not list(cache.iterdir())
