"""Perceivers on real frames: a page rendered by headless Chromium (OCR, set-of-marks, a11y), and a
tiny random VLM captioning BabyAI frames for a text-only planner, recorded in the trajectory."""

from __future__ import annotations

import io

import numpy as np
import pytest

from lma.core import Task
from lma.envs.base import ActionTool, ToolEnv
from lma.models import load_model
from lma.perception.base import make_perceiver
from lma.perception.marks import PALETTE, draw_marks
from lma.errors import LmaError

PAGE = """<html><body style="font-family: sans-serif; margin: 40px; background: white">
<h1>Shop</h1>
<button id="checkout" style="font-size: 28px; padding: 10px">Checkout</button>
<button id="cancel" style="font-size: 28px; padding: 10px; margin-left: 60px">Cancel</button>
<p style="font-size: 24px">Total: 42 dollars</p></body></html>"""


@pytest.fixture(scope="module")
def screenshot():
    """A real screenshot of PAGE from headless Chromium, with the buttons' boxes from the DOM."""
    playwright = pytest.importorskip("playwright.sync_api")
    from PIL import Image

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 640, "height": 360})
            page.set_content(PAGE)
            elements = []
            for id, (selector, label) in enumerate([("#checkout", "Checkout"), ("#cancel", "Cancel")], start=7):
                b = page.locator(selector).bounding_box()
                elements.append({"id": id, "box": [b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]],
                                 "role": "button", "label": label})
            image = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
        finally:
            browser.close()
    return {"text": "Goal: check out.", "image": image, "data": {"elements": elements}}


def inside(point: tuple[float, float], box: list[float], margin: float = 0) -> bool:
    return box[0] - margin <= point[0] <= box[2] + margin and box[1] - margin <= point[1] <= box[3] + margin


def center(box) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


@pytest.fixture(scope="module")
def vision_model():
    return load_model("openai:http://127.0.0.1:9/v1#vlm")  # takes images; never called here


def test_ocr_reads_the_page_words_where_chromium_drew_them(screenshot):
    pytest.importorskip("rapidocr")
    percept = make_perceiver("ocr").perceive(screenshot)
    found = {line["text"]: line["box"] for line in percept.data["ocr"]}
    assert "Checkout" in found and "Cancel" in found and "Total: 42 dollars" in found
    for element in screenshot["data"]["elements"]:
        assert inside(center(found[element["label"]]), element["box"])  # OCR box on the DOM's box
    assert "'Checkout' at (" in percept.text and percept.text.startswith("Goal: check out.")


def test_set_of_marks_outlines_each_box_and_writes_its_id(screenshot, vision_model):
    original = screenshot["image"]
    percept = make_perceiver("som").perceive(screenshot, vision_model)
    marked = percept.data["marked_frame"]
    assert percept.images and percept.images[0] is marked  # the VLM planner sees the marks
    assert marked.shape == original.shape and not np.array_equal(marked, original)
    for n, element in enumerate(screenshot["data"]["elements"]):
        x0, y0, x1, y1 = (int(round(v)) for v in element["box"])
        color = PALETTE[n]
        assert tuple(marked[(y0 + y1) // 2, x1]) == color and tuple(marked[y1, (x0 + x1) // 2]) == color
        assert f"[{element['id']}] button '{element['label']}'" in percept.text
    far = marked[300:, 400:]  # nothing drawn away from the elements
    assert np.array_equal(far, original[300:, 400:])


def test_the_marks_are_legible_next_to_their_boxes(screenshot):
    pytest.importorskip("rapidocr")
    from lma.perception.ocr import read_text

    elements = screenshot["data"]["elements"]
    lines = read_text(draw_marks(screenshot["image"], elements), min_score=0.3)
    for element in elements:
        tags = [line for line in lines if line.text == str(element["id"])]
        assert tags and inside(center(tags[0].box), element["box"], margin=30)


class ScreenshotPage(ToolEnv):
    """An env over the screenshot: ``click(element)`` on one of its element ids ends the episode."""

    def __init__(self, obs):
        super().__init__()
        self.obs = obs
        self.tools = [ActionTool("click", "click an element by id", {
            "type": "object", "properties": {"element": {"type": "integer"}}, "required": ["element"]})]

    def _reset(self, seed):
        return self.obs, {}

    def _act(self, call):
        success = call.args["element"] == 7
        return self.obs, float(success), True, False, {"success": success}


def test_set_of_marks_frames_are_recorded_in_the_trajectory(screenshot, scripted_model, tmp_path):
    from PIL import Image

    from lma.agents import LLMAgent
    from lma.run.recording import RunDir
    from lma.run.runner import run_episode

    agent = LLMAgent(scripted_model([{"name": "click", "args": {"element": 7}}]), perceiver="som")
    run = RunDir.create(tmp_path, "run", {})
    result = run_episode(agent, Task("page", seed=0), env=ScreenshotPage(screenshot), recorder=run.episode("ep"))
    assert result.success
    (step,) = run.trajectory("ep")
    percept = step["trace"]["percept"]
    assert percept["elements"] == [7, 8] and percept["marked_frame"] == "marked_frame-0000.png"
    saved = np.asarray(Image.open(run.path / "episodes" / "ep" / percept["marked_frame"]))
    assert np.array_equal(saved, draw_marks(screenshot["image"], screenshot["data"]["elements"]))
    assert "[7] button 'Checkout'" in step["trace"]["perception"]


def test_a_text_only_planner_gets_the_legend_but_no_image(screenshot):
    percept = make_perceiver("som").perceive(screenshot, None)  # no model that takes images
    assert percept.images == () and "[7] button 'Checkout'" in percept.text


def test_a11y_lists_elements_once(screenshot):
    percept = make_perceiver("a11y").perceive(screenshot)
    assert percept.text.count("[8] button 'Cancel'") == 1 and percept.images == ()
    listed = {**screenshot, "text": "Goal.\n[7] button 'Checkout'\n[8] button 'Cancel'"}
    assert make_perceiver("a11y").perceive(listed).text == listed["text"]  # the env listed them already
    tree = {"text": "Goal.", "data": {"a11y": "- button \"Send\""}}
    assert make_perceiver("a11y").perceive(tree).text.endswith('- button "Send"')


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from lma.models.tiny import tiny_idefics3, tiny_llama

    root = tmp_path_factory.mktemp("perceive-models")
    return {"vlm": f"transformers:{tiny_idefics3(root / 'vlm')}", "llm": f"transformers:{tiny_llama(root / 'llm')}"}


def test_caption_describes_the_frame_for_a_text_only_planner_and_is_recorded(tiny, tmp_path):
    pytest.importorskip("minigrid")
    from lma.agents import LLMAgent
    from lma.run.recording import RunDir
    from lma.run.runner import run_episode

    agent = LLMAgent(tiny["llm"], perceiver=f"caption:{tiny['vlm']}", retries=0, max_tokens=96)
    assert agent.config()["perceiver"] == f"caption:{tiny['vlm']}"
    run = RunDir.create(tmp_path, "run", {})
    result = run_episode(agent, Task("babyai/GoToRedBall-v0", seed=0, max_steps=2), recorder=run.episode("ep"))
    assert result.error is None
    steps = run.trajectory("ep")
    assert len(steps) == 2
    for step in steps:
        assert f"What the image shows (described by {tiny['vlm']}): " in step["trace"]["perception"]
        assert step["trace"]["percept"]["caption"] in step["trace"]["perception"]
    assert all(s.call is not None for s in agent.steps)  # the text-only planner still acts
    assert result.tokens_in > 0


def test_caption_percept_carries_the_caption_and_its_cost(tiny):
    frame = np.zeros((48, 48, 3), np.uint8)
    frame[10:30, 10:30] = (255, 0, 0)
    percept = make_perceiver(f"caption:{tiny['vlm']}").perceive({"text": "Goal: find red.", "image": frame},
                                                                 load_model(tiny["llm"]))
    assert percept.data["caption"] and percept.data["caption"] in percept.text
    assert percept.images == ()  # the planner's model is text-only
    assert percept.usage.tokens_in > 20 and percept.usage.tokens_out > 0


@pytest.mark.parametrize("spec, message", [
    ("ocrr", "did you mean ocr"),
    ("caption", "needs a vision-language model"),
    ("a11y:verbose", "does not take"),
])
def test_bad_perceiver_specs_are_clear_errors(spec, message):
    with pytest.raises(LmaError, match=message):
        make_perceiver(spec)


def test_caption_refuses_a_model_that_cannot_see(tiny):
    with pytest.raises(LmaError, match="takes images"):
        make_perceiver(f"caption:{tiny['llm']}")
