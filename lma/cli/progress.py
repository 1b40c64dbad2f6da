"""What an interrupted run prints: where its finished episodes are, and the command that resumes it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; ``message`` names the run folder and the resume command."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@contextmanager
def interrupted(command: str) -> Iterator[Callable[[Any], None]]:
    """Yields the ``on_start(run)`` callback for :func:`lma.run.evaluate.run_jobs`; a Ctrl-C inside
    becomes :class:`Interrupted` with the run's folder and ``lma COMMAND --resume RUN``."""
    started: list[Any] = []
    try:
        yield started.append
    except KeyboardInterrupt:
        if not started:
            raise
        run = started[0]
        raise Interrupted(f"interrupted; {len(run.results())} finished episodes are saved in {run.path}; "
                          f"finish the run with: lma {command} --resume {run.path}") from None


def report(exc: KeyboardInterrupt) -> None:
    """One line on stderr for a Ctrl-C."""
    message = exc.message if isinstance(exc, Interrupted) else "interrupted; finished episodes are saved"
    print(f"lma: {message}", file=sys.stderr)
