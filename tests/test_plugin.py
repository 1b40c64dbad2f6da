"""An outside package adds an env and a tool through entry points; lma sees and runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).parent / "fixtures" / "lma-example-plugin"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    """Install the example plugin (offline, no dependencies) into a folder of its own."""
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(PLUGIN)],
        check=True, capture_output=True, timeout=300,
    )
    return target


def run_lma(plugin_path, *args):
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    return subprocess.run([sys.executable, "-m", "lma.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def test_list_shows_the_plugin(plugin_path):
    out = run_lma(plugin_path, "list").stdout
    assert "example/counter-v0" in out and "example/greet" in out


def test_run_uses_the_plugin_env(plugin_path, tmp_path):
    proc = run_lma(plugin_path, "run", "--agent", "expert", "--env", "example/counter-v0", "--episodes", "2",
                   "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "success 2/2" in proc.stdout
