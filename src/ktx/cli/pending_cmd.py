"""Commands in the command map whose capability is not built yet: they say so and exit 2."""

from __future__ import annotations

import typer

from ktx.errors import NotImplementedYet


def register(app: typer.Typer, name: str, help_text: str) -> None:
    @app.command(
        name,
        help=f"{help_text}\n\nNot implemented yet in this version of ktx.",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=True,
    )
    def pending(ctx: typer.Context) -> None:
        raise NotImplementedYet(name)
