"""One exception family for everything below the CLI; the CLI turns it into a message and an exit code."""

from __future__ import annotations


class JournalError(Exception):
    """A failure the user can act on: shown as one line on stderr, never as a traceback."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(JournalError):
    """Bad option value or argument."""


class ConfigError(JournalError):
    """`.journal/config.toml` is unreadable or holds a bad value."""


class StoreError(JournalError):
    """The journal folder or a record cannot be read or written."""
