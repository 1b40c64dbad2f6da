"""What every embedded memory store keeps on disk: a format marker, a cross-process lock, and
files replaced atomically. Shared by :mod:`lma.memory.chroma` and :mod:`lma.memory.graph_store`,
so that both report a foreign, old, corrupt, locked or unwritable store in the same words.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from lma.errors import LmaError


class MemoryStoreError(LmaError):
    """A memory store that is missing, locked, unreadable, or of another format."""


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader sees the old file or the new, never half."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def check_format(marker: Path, expected: int, what: str) -> dict:
    """The marker's contents, or a :class:`MemoryStoreError` if it is unreadable or of another
    format; ``what`` names the store in the message ("memory store /path")."""
    try:
        info = json.loads(marker.read_text())
        found = int(info["format"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MemoryStoreError(f"{what} is corrupted: unreadable {marker.name} ({exc})") from None
    if found != expected:
        age = "an older" if found < expected else "a newer"
        raise MemoryStoreError(f"{what} has format {found}, from {age} lma (this one reads format {expected}); "
                               "use a new store name or the lma version that wrote it")
    return info


@contextlib.contextmanager
def file_lock(path: Path, exclusive: bool, timeout: float, what: str) -> Iterator[None]:
    """An ``flock`` on ``path``: shared or exclusive, waiting at most ``timeout`` seconds."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise MemoryStoreError(f"{what} is not writable: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + timeout
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise MemoryStoreError(f"{what} is locked by another process (waited {timeout:g}s)") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # releases the flock
