"""`ktx completion <shell>`: print a shell completion script."""

from __future__ import annotations

from typing import Annotated

import typer

from ktx.errors import UsageError

SHELLS = ("bash", "zsh", "fish", "powershell")


def register(app: typer.Typer) -> None:
    @app.command("completion")
    def completion(
        shell: Annotated[str, typer.Argument(metavar="bash|zsh|fish|powershell", help="Shell to complete in.")],
    ) -> None:
        """Print a completion script. Example: `eval "$(ktx completion bash)"` in ~/.bashrc."""
        if shell not in SHELLS:
            raise UsageError(f"Unsupported shell: {shell} (use {', '.join(SHELLS)})")
        from typer._completion_shared import get_completion_script

        typer.echo(get_completion_script(prog_name="ktx", complete_var="_KTX_COMPLETE", shell=shell))
