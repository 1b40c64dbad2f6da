"""DesktopEnv: one desktop task on a private virtual display, acted on through the GUI tools.

Each env owns an Xvfb display (:class:`lma.tools.display.VirtualDisplay`, started on the first reset,
stopped by ``close``; no process outlives the run) unless one is passed in to be shared.
``reset`` starts the task's application in a fresh folder; every step runs one GUI tool
(:mod:`lma.tools.gui`, plus ``click_element``), waits until the app has handled it, and observes:

* ``image``: the screenshot;
* ``data["elements"]``: ``{"id", "box": [x0, y0, x1, y1], "role", "label"}`` per visible widget of
  our Tk apps (list items and open menu entries included) so that set-of-marks ids work on the
  desktop; for a stock X program, which has no widget tree, the OCR lines stand in as elements;
* ``data["ocr"]``: ``{"text", "box", "score"}`` per line read by :func:`lma.perception.ocr.read_text`
  (``ocr=False`` skips it, e.g. for scripted runs);
* ``text``: the goal, the elements with their values, the screen text and the last tool result.

Success comes from the task's checker over the files the app wrote (see :mod:`lma.envs.gui.task`);
it ends the episode with reward 1. An app that exits, or does not answer within ``app_timeout``
(hung; it is killed), ends the episode with ``info["error"]``: a failed step, not an exception.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lma.core import Observation, ToolCall, ToolResult
from lma.tools.display import VirtualDisplay
from lma.envs.base import ToolEnv
from lma.envs.spaces import Frame, observation_space
from lma.envs.gui.task import View
from lma.envs.gui.tasks import TASKS
from lma.errors import LmaError, UnknownNameError
from lma.tools.base import Tool, tool
from lma.tools.gui import Screen, bound_schema, gui_tools

APPS = Path(__file__).parent / "apps"


class DesktopEnv(ToolEnv):
    """A desktop task by name (see :data:`lma.envs.gui.tasks.TASKS`); see the module docstring."""

    def __init__(self, task: str, *, display: VirtualDisplay | None = None, size: tuple[int, int] = (800, 600),
                 ocr: bool = True, max_steps: int = 30, app_timeout: float = 5.0, start_timeout: float = 20.0,
                 settle: float = 0.3):
        super().__init__()
        if task not in TASKS:
            raise UnknownNameError("desktop task", task, list(TASKS))
        self.task_name, self.task = task, TASKS[task]()
        self.size, self.ocr, self.max_steps = tuple(size), ocr, max_steps
        self.app_timeout, self.start_timeout, self.settle = app_timeout, start_timeout, settle
        self.display, self._owns_display = display, display is None
        width, height = display.size if display is not None else self.size  # what a screenshot grabs
        self.observation_space = observation_space(Frame((height, width), optional=False))
        self.screen: Screen | None = None
        self.app: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None
        self.params: dict[str, Any] = {}
        self.view = View()
        self._memory: dict[str, Any] = {}
        self._steps = 0
        self._stock = False  # a stock X program: no widget tree, no socket to ask
        self._ocr_cache: tuple[bytes, list[dict[str, Any]]] = (b"", [])

    # -- episode -------------------------------------------------------------------------------
    def _reset(self, seed: int | None):
        self._stop_app()
        self._start_display()
        assert self.display is not None
        self.workdir = Path(tempfile.mkdtemp(prefix="task-", dir=self.display.tmpdir))
        self.params = self.task.sample(self.np_random)
        self.task.prepare(self.workdir, self.params)
        command = self.task.command(self.workdir, self.params)
        self._stock = command is not None
        argv = command or [sys.executable, "-E", "-s", str(APPS), self.task.app, str(self.workdir)]
        self.app = self.display.spawn(argv, cwd=self.workdir, log=self.workdir / "app.log")
        self._memory, self._steps = {}, 0
        self._wait_until_shown()
        problem = self._sync()
        if problem:
            raise LmaError(f"{self.task_name}: the app failed to start: {problem}")
        return self._observe(), {"goal": self.task.goal(self.params)}

    def _act(self, call: ToolCall):
        result = self.tool(call.name)(**call.args)
        self._steps += 1
        info: dict[str, Any] = {"result": result.output if result.ok else ""}
        if not result.ok:
            info["error"] = result.error
        problem = self._sync()
        assert self.workdir is not None
        success = self.task.check(self.workdir, self.params)
        if problem:
            info["error"] = problem
        info["success"] = success
        obs = self._observe(result)
        terminated = success or problem is not None
        return obs, float(success), terminated, not terminated and self._steps >= self.max_steps, info

    def expert_action(self) -> ToolCall:
        """The task's scripted oracle (not a learned policy) for the current screen."""
        return self.task.expert(self.view, self.params, self._memory)

    def close(self) -> None:
        self._stop_app()
        if self.screen is not None:
            self.screen.close()
            self.screen = None
        if self.display is not None and self._owns_display:
            self.display.stop()
            self.display = None

    # -- the display and the app ---------------------------------------------------------------
    def _start_display(self) -> None:
        if self.display is not None and self._owns_display and not self.display.running:
            self.close()  # our Xvfb died: start afresh
        if self.display is None:
            self.display = VirtualDisplay(self.size).start()
        if self.screen is None:
            self.screen = Screen(self.display)
            self.tools = [*gui_tools(self.screen), self._click_element_tool()]

    def _click_element_tool(self) -> Tool:
        assert self.screen is not None
        screen = self.screen

        @tool
        def click_element(id: int) -> ToolResult | str:
            """Left-click the centre of the element with this id in the element list."""
            element = next((e for e in self.view.elements if e["id"] == id), None)
            if element is None:
                ids = [e["id"] for e in self.view.elements]
                known = f"ids are {ids[0]}..{ids[-1]}" if ids else "no elements are shown"
                return ToolResult(ok=False, error=f"click_element: no element {id} on screen; {known}")
            x0, y0, x1, y1 = element["box"]
            x, y = (x0 + x1) // 2, (y0 + y1) // 2
            with screen.pyautogui() as gui:
                gui.click(x, y)
            return f"clicked element {id} ({element['role']} {element['label']!r}) at ({x}, {y})"

        click_element.parameters["properties"]["id"]["minimum"] = 1
        return bound_schema(click_element, *self.size)

    def _wait_until_shown(self) -> None:
        """Until the Tk app's socket exists, or a stock app's window is shown (then let it draw)."""
        assert self.app is not None and self.workdir is not None and self.screen is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and self.app.poll() is None:
            if not self._stock:
                if (self.workdir / "app.sock").exists():
                    return
            elif self.screen.mapped_windows():
                time.sleep(self.settle)
                return
            time.sleep(0.02)
        if self.app.poll() is None:
            self._kill_app()
            raise LmaError(f"{self.task_name}: the app did not show a window within {self.start_timeout:g}s")

    def _sync(self) -> str | None:
        """Wait until the app has handled every input, and refresh ``self.view``; or say what went wrong."""
        assert self.app is not None and self.workdir is not None
        if self.app.poll() is not None:
            return f"the app exited with code {self.app.returncode}{self._log_tail()}"
        if self._stock:
            time.sleep(self.settle)  # a stock app cannot be asked; give it time to draw
            self.view = View()
            return None
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(self.app_timeout)
                conn.connect(str(self.workdir / "app.sock"))
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(1 << 16)
                    if not chunk:
                        break
                    data += chunk
            reply = json.loads(data)
        except TimeoutError:
            self._kill_app()
            return f"the app did not answer within {self.app_timeout:g}s (hung); it was stopped"
        except (OSError, ValueError) as exc:
            time.sleep(0.2)  # a crash closes the socket before the exit status is visible
            code = self.app.poll()
            return f"the app stopped answering ({exc}; exit code {code}){self._log_tail()}"
        if "error" in reply:
            return f"the app failed: {reply['error']}"
        elements = [{**e, "id": i} for i, e in enumerate(reply["elements"], start=1)]
        self.view = View(elements, reply["focus"], reply["state"])
        return None

    def _log_tail(self) -> str:
        assert self.workdir is not None
        lines = [ln for ln in (self.workdir / "app.log").read_text(errors="replace").splitlines() if ln.strip()]
        return f": {lines[-1]}" if lines else ""

    def _kill_app(self) -> None:
        if self.app is not None and self.app.poll() is None:
            self.app.kill()
        if self.app is not None:
            self.app.wait()

    def _stop_app(self) -> None:
        """Kill the app and remove its folder (a shared display outlives many episodes)."""
        self._kill_app()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.app, self.workdir = None, None

    # -- observation ---------------------------------------------------------------------------
    def _observe(self, result: ToolResult | None = None) -> Observation:
        assert self.screen is not None
        image = self.screen.screenshot()
        ocr = self._read_text(image) if self.ocr else []
        if self._stock:  # no widget tree: the OCR lines stand in
            self.view = View([{"id": i, "box": o["box"], "role": "text", "label": o["text"], "value": None, "path": ""}
                              for i, o in enumerate(ocr, start=1)])
        elements = [{k: e[k] for k in ("id", "box", "role", "label")} for e in self.view.elements]
        goal = self.task.goal(self.params)
        return {"text": self._describe(goal, ocr, result), "image": image,
                "data": {"goal": goal, "elements": elements, "ocr": ocr, "app": self.task.app}}

    def _read_text(self, image: np.ndarray) -> list[dict[str, Any]]:
        key = image.tobytes()
        if key != self._ocr_cache[0]:  # the screen often does not change (a failed click, a no-op)
            from lma.perception.ocr import read_text

            self._ocr_cache = (key, [{"text": b.text, "box": list(b.box), "score": round(b.score, 3)}
                                     for b in read_text(image)])
        return self._ocr_cache[1]

    def _describe(self, goal: str, ocr: list[dict[str, Any]], result: ToolResult | None) -> str:
        lines = [f"Goal: {goal}", f"Screen: {self.size[0]}x{self.size[1]} pixels; app: {self.task.app}"]
        if self.view.elements:
            lines.append("Elements (click_element(id) clicks the centre of a box x0,y0,x1,y1):")
            for e in self.view.elements:
                value = f" value={e['value']!r}" if e.get("value") not in (None, "") else ""
                focus = " focused" if e.get("path") and e["path"] == self.view.focus else ""
                lines.append(f"[{e['id']}] {e['role']} {e['label']!r}{value} box={tuple(e['box'])}{focus}")
        if ocr and not self._stock:
            lines.append("Screen text (OCR): " + " | ".join(o["text"] for o in ocr))
        if result is not None:
            lines.append(f"Last action: {result.output}" if result.ok else f"Last action failed: {result.error}")
        return "\n".join(lines)
