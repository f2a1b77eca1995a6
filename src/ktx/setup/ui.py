"""Setup's conversation with the user: step lines, warnings, prompts (only when interactive)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any

from ktx.errors import KtxError

BAR = "│  "


class MissingInput(KtxError):
    """Setup needs an answer it may not ask for (`--no-input` or not a terminal)."""


class SetupUI:
    def __init__(self, *, interactive: bool) -> None:
        self.interactive = interactive

    def step(self, title: str) -> None:
        sys.stdout.write(f"\n◇  {title}\n")
        sys.stdout.flush()

    def line(self, text: str) -> None:
        sys.stdout.write(f"{BAR}{text}\n")
        sys.stdout.flush()

    def warn(self, text: str) -> None:
        sys.stderr.write(f"{BAR}{text}\n")
        sys.stderr.flush()

    @contextmanager
    def spinner(self, text: str) -> Any:
        if self.interactive:
            from ktx.terminal import console

            with console(stderr=True).status(text):
                yield
        else:
            self.line(text)
            yield

    def select(self, question: str, choices: list[tuple[str, str]], missing: str) -> str:
        """Choose one of (value, label); without a terminal, stop with `missing`."""
        if not self.interactive:
            raise MissingInput(missing)
        import questionary

        answer = questionary.select(
            question, choices=[questionary.Choice(label, value=value) for value, label in choices]
        ).ask()
        if answer is None:
            raise KeyboardInterrupt
        return answer

    def text(self, question: str, missing: str, *, secret: bool = False, default: str = "") -> str:
        if not self.interactive:
            raise MissingInput(missing)
        import questionary

        ask = questionary.password if secret else questionary.text
        answer = ask(question, default=default).ask() if not secret else ask(question).ask()
        if answer is None:
            raise KeyboardInterrupt
        return answer.strip()
