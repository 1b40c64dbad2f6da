"""The layout holds: the layers of docs/architecture.md (import-linter), and every lma.* import resolves on disk (mypy)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.fail("lint-imports is not installed: pip install 'lma[test]'")
    proc = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_every_lma_import_resolves_on_disk_for_a_static_checker():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "lma", "--follow-imports=silent", "--exclude", "/gui/apps/",
         "--no-error-summary", "--cache-dir", "/dev/null", "--no-incremental"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    unresolved = [line for line in proc.stdout.splitlines()
                  if re.search(r'module named "lma[."]|found twice|Duplicate module', line)]
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: type errors, which this test does not judge
    assert unresolved == []


def test_the_user_folders_are_the_package():
    """agents/ envs/ memory/ tools/ are the files lma.agents, lma.envs, ... import: one copy on disk."""
    import lma.agents
    import lma.envs.web.base

    for name in ("agents", "envs", "memory", "tools"):
        assert (ROOT / "lma" / name).resolve() == (ROOT / name).resolve()
    assert Path(lma.envs.web.base.__file__).resolve() == (ROOT / "envs" / "web" / "base.py").resolve()
    assert Path(lma.agents.__file__).resolve() == (ROOT / "agents" / "__init__.py").resolve()
