"""Desktop GUI: the private display, the GUI tools, the desktop tasks and their scripted solvers.

Everything runs for real: Xvfb, the Tk apps, xedit, pyautogui, RapidOCR. One display serves the
whole module (envs get it passed in) so that the tests stay fast.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

import lma
from lma.core import ToolCall
from lma.tools.display import DisplayError, VirtualDisplay, find_display
from lma.envs.gui.tasks import TASKS
from lma.tools.gui import GuiError, Screen, gui_tools

SEEDS = range(10)


@pytest.fixture(scope="module")
def display():
    with VirtualDisplay(size=(800, 600)) as d:
        yield d


@pytest.fixture(scope="module")
def tools(display):
    return {t.name: t for t in gui_tools(Screen(display))}


def make(task: str, display: VirtualDisplay, **kwargs):
    return lma.make(f"gui/{task}-v0", display=display, ocr=False, **kwargs)


def solve(env, seed: int, limit: int = 40) -> dict:
    obs, info = env.reset(seed=seed)
    for _ in range(limit):
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.expert_action())
        assert not info.get("error"), info["error"]
        if terminated or truncated:
            break
    return info


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


# -- the display ---------------------------------------------------------------------------------
def test_display_runs_in_its_own_group_and_stops_without_leftovers():
    d = VirtualDisplay(size=(320, 240)).start()
    app = d.spawn(["xmessage", "hello"])
    assert d.name.startswith(":") and find_display(d.name) is d
    assert os.getpgid(app.pid) == d.pgid != os.getpgrp()
    folder, pids, name = d.tmpdir, [app.pid, d.pgid], d.name
    d.stop()
    assert not any(alive(p) for p in pids)
    assert not folder.exists() and not d.running and find_display(name) is None
    d.stop()  # idempotent


def test_missing_xvfb_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DisplayError, match="Xvfb is not installed"):
        VirtualDisplay().start()


def test_xvfb_that_fails_to_start_is_a_clear_error():
    with pytest.raises(DisplayError, match=r"Xvfb failed to start \(exit code 1\): Couldn't add screen"):
        VirtualDisplay(depth=3).start()


# -- the GUI tools -------------------------------------------------------------------------------
def test_host_display_is_refused_unless_allowed(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":97")
    with pytest.raises(GuiError, match="allow_host_display=True"):
        Screen()
    with pytest.raises(GuiError, match="not a private lma display"):
        Screen(":97")


def test_a_display_lma_did_not_start_needs_allow_host_display(monkeypatch, tmp_path):
    """An Xvfb started outside lma stands in for the user's real screen."""
    read, write = os.pipe()
    host = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        os.close(write)
        name = ":" + os.read(read, 16).decode().strip()
        (tmp_path / "Xauthority").touch()
        monkeypatch.setenv("DISPLAY", name)
        monkeypatch.setenv("XAUTHORITY", str(tmp_path / "Xauthority"))
        with pytest.raises(GuiError, match="not a private lma display"):
            Screen()
        screen = Screen(allow_host_display=True)
        click = {t.name: t for t in gui_tools(screen)}["click"]
        assert screen.size == (640, 480) and not screen.private and click(x=639, y=5).ok
        with screen.pyautogui() as gui:
            assert gui.FAILSAFE and gui.position() == (639, 5)  # the fail-safe stays on for real screens
        screen.close()
    finally:
        os.close(read)
        host.kill()
        host.wait()


def test_bad_tool_input_is_a_failed_result(tools):
    off = tools["click"](x=800, y=10)
    assert not off.ok and "maximum of 799" in off.error
    assert not tools["drag"](x0=0, y0=0, x1=5, y1=-1).ok
    key = tools["hotkey"](keys=["ctrl", "sss"])
    assert not key.ok and "unknown key 'sss'" in key.error
    assert not tools["type"](text="café").ok
    shot = tools["screenshot"]()
    assert shot.ok and shot.image.shape == (600, 800, 3)


# -- the tasks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("task", sorted(TASKS))
def test_scripted_solver_solves_every_seed(task, display):
    env = make(task, display)
    try:
        wins = [solve(env, seed).get("success") for seed in SEEDS]
    finally:
        env.close()
    assert wins == [True] * len(SEEDS)
    assert display.running  # a shared display survives its envs


def test_seeds_vary_the_task_and_repeat_exactly(display):
    env = make("form-fill", display)
    try:
        goals = [env.reset(seed=s)[1]["goal"] for s in (0, 1, 2, 0)]
    finally:
        env.close()
    assert goals[0] == goals[3] and len(set(goals)) == 3


def test_observation_has_screenshot_elements_and_text(display):
    env = make("settings", display)
    try:
        obs, _ = env.reset(seed=4)
        elements = obs["data"]["elements"]
        assert obs["image"].shape == (600, 800, 3)
        assert all(set(e) == {"id", "box", "role", "label"} for e in elements)
        assert [e["id"] for e in elements] == list(range(1, len(elements) + 1))
        assert {"checkbox", "combobox", "slider", "button"} <= {e["role"] for e in elements}
        combo = next(e for e in elements if e["role"] == "combobox")
        obs, *_, info = env.step(ToolCall("click_element", {"id": combo["id"]}))
        assert {"English", "Spanish"} <= {e["label"] for e in obs["data"]["elements"] if e["role"] == "listitem"}
        assert "[" in obs["text"] and "Goal: In Settings" in obs["text"]
        _, _, terminated, _, info = env.step(ToolCall("click_element", {"id": 999}))
        assert not terminated and "no element 999" in info["error"]
    finally:
        env.close()


def test_solver_recovers_from_wrong_text(display):
    env = make("form-fill", display)
    try:
        obs, _ = env.reset(seed=2)
        field = next(e for e in obs["data"]["elements"] if e["role"] == "textbox")
        env.step(ToolCall("click_element", {"id": field["id"]}))
        env.step(ToolCall("type", {"text": "wrong name"}))
        info = {}
        for _ in range(20):
            *_, terminated, truncated, info = env.step(env.unwrapped.expert_action())
            if terminated:
                break
        assert info["success"]
    finally:
        env.close()


def test_checker_reads_the_app_not_the_claim(display):
    env = make("editor-save", display)
    try:
        env.reset(seed=1)
        text = env.unwrapped.params["text"]
        env.step(ToolCall("click", {"x": 300, "y": 200}))
        *_, terminated, _, info = env.step(ToolCall("type", {"text": text}))
        assert not terminated and not info["success"]  # typed but not saved
        *_, terminated, _, info = env.step(ToolCall("hotkey", {"keys": ["ctrl", "s"]}))
        assert terminated and info["success"]
    finally:
        env.close()


def test_app_crash_is_a_failed_step_and_the_env_goes_on(display):
    env = make("todo-add", display)
    try:
        env.reset(seed=0)
        os.kill(env.unwrapped.app.pid, signal.SIGKILL)
        *_, terminated, _, info = env.step(ToolCall("screenshot"))
        assert terminated and not info["success"] and "exit" in info["error"]
        assert solve(env, seed=1)["success"]  # the next episode runs
    finally:
        env.close()


def test_hung_app_is_stopped_and_recorded(display):
    env = make("calculator", display, app_timeout=1.0)
    try:
        env.reset(seed=0)
        app = env.unwrapped.app
        os.kill(app.pid, signal.SIGSTOP)
        started = time.monotonic()
        *_, terminated, _, info = env.step(ToolCall("click", {"x": 50, "y": 100}))
        assert terminated and "hung" in info["error"] and time.monotonic() - started < 10
        assert app.poll() is not None  # killed, not orphaned
    finally:
        env.close()


def test_env_owning_its_display_stops_it_on_close():
    env = lma.make("gui/calculator-v0", ocr=False)
    env.reset(seed=0)
    display, app = env.unwrapped.display, env.unwrapped.app
    pids = [display.pgid, app.pid]
    env.close()
    assert not display.running and not any(alive(p) for p in pids)


def test_ocr_reads_a_real_screenshot(display):
    from lma.perception.ocr import OcrBox, read_text

    env = lma.make("gui/form-fill-v0", display=display)  # with OCR, as agents get it
    try:
        obs, _ = env.reset(seed=0)
    finally:
        env.close()
    boxes = read_text(obs["image"])
    assert all(isinstance(b, OcrBox) and 0 <= b.score <= 1 for b in boxes)
    assert {"Create your account", "Submit"} <= {b.text for b in boxes}
    found = {o["text"]: o for o in obs["data"]["ocr"]}
    assert "Submit" in found and "Screen text (OCR): Create your account" in obs["text"]
    button = next(e for e in obs["data"]["elements"] if e["label"] == "Submit")
    x0, y0, x1, y1 = found["Submit"]["box"]
    bx0, by0, bx1, by1 = button["box"]
    assert bx0 <= (x0 + x1) / 2 <= bx1 and by0 <= (y0 + y1) / 2 <= by1  # read where Tk drew it


def test_ocr_rejects_what_is_not_an_image():
    from lma.perception.ocr import read_text

    with pytest.raises(lma.LmaError, match="H x W x 3 uint8"):
        read_text([[0, 1]])  # type: ignore[arg-type]
