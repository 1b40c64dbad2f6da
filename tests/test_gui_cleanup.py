"""No Xvfb or app process outlives a GUI run that is killed (SIGKILL) or interrupted (SIGINT).

A real ``lma run`` on a desktop task runs in a subprocess; once its display and app are up, it is
killed; then every process it had started (found through /proc as its descendants) must be gone,
and so must the display's temporary folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_gui import alive


def descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid``, with its command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                found[child] = (Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
            todo.append(child)
    return found


def start_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], dict[int, str]]:
    """Start ``lma run`` on a GUI task and wait until its Xvfb and app run (OCR keeps it busy)."""
    run = subprocess.Popen(
        [sys.executable, "-m", "lma.cli", "run", "--agent", "expert", "--env", "gui/todo-add-v0",
         "--episodes", "3", "--out", str(tmp_path / "runs")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        procs = descendants(run.pid)
        if any("Xvfb" in c for c in procs.values()) and any("apps todo" in c for c in procs.values()):
            return run, procs
        time.sleep(0.2)
    run.kill()
    pytest.fail("the run did not start Xvfb and the app in time")


def assert_all_gone(procs: dict[int, str]) -> None:
    folders = [arg.rsplit("/", 1)[0] for c in procs.values() for arg in c.split() if arg.endswith("/Xauthority")]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in procs):
        time.sleep(0.1)
    survivors = {p: c for p, c in procs.items() if alive(p)}
    assert not survivors, f"left running: {survivors}"
    assert folders and not any(Path(f).exists() for f in folders)


def test_kill_9_of_a_gui_run_leaves_no_process(tmp_path):
    run, procs = start_run(tmp_path)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert_all_gone(procs)


def test_ctrl_c_of_a_gui_run_leaves_no_process(tmp_path):
    run, procs = start_run(tmp_path)
    os.kill(run.pid, signal.SIGINT)
    assert run.wait(timeout=60) in (130, 1, -signal.SIGINT)
    assert_all_gone(procs)
