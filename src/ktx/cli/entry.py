"""Console entry point. Kept import-light: `ktx --version` must not pay for Typer or rich."""

from __future__ import annotations

import os
import sys

# Global options accepted anywhere on the command line (before `--`); they are moved to
# the front so `ktx status --project-dir x` works like `ktx --project-dir x status`.
_GLOBAL_FLAGS = ("--debug",)
_GLOBAL_VALUE_OPTIONS = ("--project-dir",)


def hoist_global_options(argv: list[str]) -> list[str]:
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in _GLOBAL_FLAGS:
            front.append(arg)
        elif arg in _GLOBAL_VALUE_OPTIONS:
            front.append(arg)
            if i + 1 < len(argv):
                front.append(argv[i + 1])
                i += 1
        elif any(arg.startswith(opt + "=") for opt in _GLOBAL_VALUE_OPTIONS):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["--help"]  # bare `ktx` shows help and succeeds
    if args in (["--version"], ["-v"]):
        from ktx import __version__

        sys.stdout.write(f"ktx {__version__}\n")
        return
    args = hoist_global_options(args)
    debug = "--debug" in args[: args.index("--")] if "--" in args else "--debug" in args
    from ktx.cli.helpfast import defer_unused_help_modules, is_help

    if is_help(args):
        from ktx.cli.helpfast import print_cached, render_and_keep

        if print_cached(args):
            return
        defer_unused_help_modules()
        from ktx.cli.app import run

        sys.exit(render_and_keep(args, lambda a: run(a, debug=debug or bool(os.environ.get("KTX_DEBUG")))))
    from ktx.cli.app import run

    sys.exit(run(args, debug=debug or bool(os.environ.get("KTX_DEBUG"))))
