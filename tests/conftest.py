"""Shared fixtures. Tests run inside a private network namespace (see the Makefile): only loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

# A suite started in the background of a non-interactive shell (`make test &`) ignores SIGINT, and
# every process it starts would inherit that: the tests of what Ctrl-C does would then wait in
# vain. A Python handler is not inherited (children start with the default), so install one.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def scripted_model(tmp_path):
    """Write outputs to a JSONL file and return its ``scripted:`` spec."""

    def make(outputs: list) -> str:
        path = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.jsonl"
        path.write_text("\n".join(json.dumps(o) for o in outputs) + "\n")
        return f"scripted:{path}"

    return make


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Keep ~/.lma (memory stores) inside the test's temp dir."""
    monkeypatch.setenv("LMA_HOME", str(tmp_path / "lma-home"))
    monkeypatch.delenv("LMA_MODEL", raising=False)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
