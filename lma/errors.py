"""The exception tree: errors lma reports to users as one clear line, and how a recorded error reads."""

from __future__ import annotations

import difflib


class LmaError(Exception):
    """Base of the errors lma reports to users as one clear line (the CLI exits with code 2)."""


def describe_error(exc: BaseException) -> str:
    """One line for an exception recorded on a step or an episode: its type and message."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class UnknownNameError(LmaError, KeyError):
    """A name that no registry holds; the message lists the closest registered names."""

    def __init__(self, kind: str, name: str, known: list[str], listing: str | None = None):
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        where = f"see `lma list {listing}`" if listing else f"known: {', '.join(known)}"
        super().__init__(f"unknown {kind} {name!r}{hint} ({where})")
        self.kind, self.name, self.close = kind, name, close

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]
