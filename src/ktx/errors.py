"""Errors that reach the user as one clear line instead of a traceback."""

from __future__ import annotations


class KtxError(Exception):
    """A user-facing failure: the message names what is wrong and how to fix it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(KtxError):
    """Bad command-line usage (exit code 2)."""

    exit_code = 2


class ConfigError(KtxError):
    """ktx.yaml could not be read or failed validation."""
