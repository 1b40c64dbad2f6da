"""Every lma env is a Gymnasium citizen: its observations lie in its ``observation_space``,
``gymnasium.utils.env_checker.check_env`` passes on it (with its warnings as failures), and
``gymnasium.make("lma/<family>-<name>")`` builds it.

Every registered id is made and reset (the MiniWoB++ tasks by one env in turn), its first
observation is checked against its space and its sampled actions against its tools; one or two
envs of each class go through the whole of
``check_env`` (seeded determinism of reset and step, fresh data on every call, render, close),
through ``gymnasium.make`` so that the checker also re-makes them from their spec. Browser envs
share one Chromium (``session="shared"``), desktop envs skip OCR except in one check (OCR costs
~0.3 s an observation and changes nothing of the space but ``data``'s contents).
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.passive_env_checker import env_render_passive_checker

import lma
from lma.core import ToolCall
from lma.envs.base import ActionTool, ToolEnv
from lma.envs.gymnasium_registry import gymnasium_id, register_envs
from lma.envs.spaces import Frame, JSONData, UnicodeText, observation_space
from lma.errors import LmaError
from lma.registry import envs

pytestmark = pytest.mark.timeout(300)
# One or two of each env class (and each kind of frame) through the whole checker.
FULL_CHECKS = [
    "babyai/GoToObj-v0",  # BabyAIEnv: the whole grid
    "babyai/balrog-mix-v0",  # BalrogEnv: the agent's view
    "game/crafter-v0",
    "miniwob/click-button-v0",
    "miniwob/flight.AA-v0",  # the FlightWoB viewport
    "web/shop-buy-v0",
    "web/wiki-qa-v0",
    "gui/calculator-v0",  # one of lma's Tk apps
    "gui/xedit-append-v0",  # a stock X program
    "driving/highway-fast-v0",
    "driving/parking-v0",
    "webqa/synthetic-v0",
]
NO_FRAME_AT_RESET = {"webqa/synthetic-v0"}  # render() is None until a picture is read: skip the render check


@pytest.fixture(scope="module", autouse=True)
def _webqa_real_data(tmp_path_factory):
    """``webqa/real-v0`` reads the real format; the synthetic set is written in it."""
    from lma.envs.webqa.synthetic import write_synthetic

    folder = tmp_path_factory.mktemp("webqa-real") / "set"
    write_synthetic(folder, seed=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMA_WEBQA_DATA", str(folder))
        yield


def options(env_id: str) -> dict:
    family = env_id.split("/")[0]
    return {"miniwob": {"session": "shared"}, "web": {"session": "shared"}, "gui": {"ocr": False}}.get(family, {})


def assert_no_gymnasium_warnings(caught: list[warnings.WarningMessage]) -> None:
    said = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert not said, said


def assert_observation_in_space(env: ToolEnv, obs: dict) -> None:
    space = env.observation_space
    for key in ("text", "image", "data"):
        assert space[key].contains(obs[key]), (key, space[key], type(obs[key]))
    assert space.contains(obs) and set(obs) == set(space.spaces)


def assert_samples_are_valid_calls(env: ToolEnv) -> None:
    env.action_space.seed(0)
    calls = [env.action_space.sample() for _ in range(30)]
    assert all(env.action_space.contains(c) for c in calls), [c for c in calls if not env.action_space.contains(c)]


def assert_reset_observation_in_space_and_samples_valid(env: ToolEnv) -> None:
    assert isinstance(env, ToolEnv) and isinstance(env.observation_space, gym.spaces.Dict)
    obs, _ = env.reset(seed=0)
    assert_observation_in_space(env, obs)
    assert_samples_are_valid_calls(env)


@pytest.mark.parametrize("env_id", [n for n in envs.names() if not n.startswith("miniwob/")])
def test_reset_observation_lies_in_the_space_and_samples_are_valid_calls(env_id):
    env = lma.make(env_id, **options(env_id)).unwrapped
    try:
        assert_reset_observation_in_space_and_samples_valid(env)
    finally:
        env.close()


@pytest.fixture(scope="module")
def miniwob():
    env = lma.make("miniwob/click-test-v0", session="shared").unwrapped
    yield env
    env.close()


@pytest.mark.parametrize("env_id", [n for n in envs.names() if n.startswith("miniwob/")])
def test_every_miniwob_task_lies_in_the_space(miniwob, env_id):
    """The MiniWoB++ ids differ only in their task: one env plays each in turn (``set_task``, which
    also sets the space: FlightWoB has its own viewport), saving a server per id."""
    miniwob.set_task(env_id.removeprefix("miniwob/").removesuffix("-v0"))
    assert_reset_observation_in_space_and_samples_valid(miniwob)


@pytest.mark.parametrize("env_id", FULL_CHECKS)
def test_check_env_passes(env_id):
    register_envs(envs.names())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = gym.make(gymnasium_id(env_id), **options(env_id))
        try:
            check_env(made.unwrapped, skip_render_check=env_id in NO_FRAME_AT_RESET)
        finally:
            made.close()
    assert_no_gymnasium_warnings(caught)


def test_desktop_observation_with_ocr_lies_in_the_space():
    env = lma.make("gui/calculator-v0")
    try:
        obs, _ = env.reset(seed=0)
        assert obs["data"]["ocr"], "the OCR read nothing on the calculator"
        assert_observation_in_space(env.unwrapped, obs)
    finally:
        env.close()


@pytest.mark.parametrize("gym_id, kwargs, frame", [
    ("CartPole-v1", {}, (400, 600)),  # a vector observation: the frame is rendered
    ("CartPole-v1", {"render_mode": None}, None),  # nothing rendered: no frames at all
    ("MiniGrid-Empty-5x5-v0", {}, (160, 160)),  # a dict observation with a partial view
    ("ALE/Pong-v5", {"frameskip": 1}, (210, 160)),  # pixel observations are the frame
])
def test_wrapped_gymnasium_envs_pass_check_env(gym_id, kwargs, frame):
    env = lma.make(gym_id, **kwargs)
    space = env.observation_space["image"]
    assert space == (Frame(frame, optional=False) if frame else Frame(never=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)  # no spec to re-make it from; rendering is checked below
        if frame:
            env.reset(seed=0)
            assert env_render_passive_checker(env).shape == (*frame, 3)
    env.close()
    assert_no_gymnasium_warnings(caught)
    assert env.render_mode == ("rgb_array" if frame else None)


def test_gymnasium_make_builds_the_lma_env():
    register_envs(envs.names())
    assert {gymnasium_id(n) for n in envs.names()} <= set(gym.registry)
    assert register_envs(envs.names()) == []  # a second call keeps what is there
    assert gymnasium_id("babyai/GoToObj-v0") == "lma/babyai-GoToObj-v0"
    env = gym.make("lma/babyai-GoToObj-v0", max_steps=3)
    inner = env.unwrapped
    assert type(inner).__name__ == "BabyAIEnv" and inner.gym_id == "BabyAI-GoToObj-v0"
    assert isinstance(env, gym.Wrapper) and env.spec.id == "lma/babyai-GoToObj-v0"
    obs, _ = env.reset(seed=0)
    same = lma.make("babyai/GoToObj-v0")
    reference, _ = same.reset(seed=0)
    same.close()
    assert obs["text"] == reference["text"] and np.array_equal(obs["image"], reference["image"])
    for _ in range(3):
        *_, truncated, _ = env.step(ToolCall("turn_left"))
    assert truncated  # max_steps reached the level
    env.close()
    with pytest.raises(LmaError, match="rgb_array"):
        gym.make("lma/babyai-GoToObj-v0", render_mode="human")


def test_an_id_gymnasium_cannot_spell_is_skipped_with_a_warning(caplog):
    with caplog.at_level("WARNING", logger="lma.envs.gymnasium_registry"):
        assert register_envs(["my env/with spaces-v0", "mod:name-v0"]) == []
    assert "'my env/with spaces-v0' has no Gymnasium id" in caplog.text and "'mod:name-v0'" in caplog.text
    assert not any(i.startswith("lma/my env") for i in gym.registry)


def test_spaces_accept_what_they_say_and_nothing_else():
    text = UnicodeText(10)
    assert text.contains("Ünïcødé 字") and not text.contains("") and not text.contains("x" * 11)
    assert not text.contains(b"bytes")
    frame = Frame((4, 5), optional=False)
    assert frame.contains(np.zeros((4, 5, 3), np.uint8)) and frame.box.shape == (4, 5, 3)
    assert not frame.contains(None) and not frame.contains(np.zeros((5, 4, 3), np.uint8))
    assert not frame.contains(np.zeros((4, 5, 3), np.float32)) and not frame.contains(np.zeros((4, 5), np.uint8))
    assert Frame().contains(None) and Frame().contains(np.zeros((7, 9, 3), np.uint8))
    assert Frame(never=True).contains(None) and not Frame(never=True).contains(np.zeros((4, 5, 3), np.uint8))
    data = JSONData()
    assert data.contains({"a": [1, 2.5, None, {"b": (True, "c")}], "n": np.int64(3)})
    assert not data.contains({"a": np.zeros(3)}) and not data.contains({1: "x"}) and not data.contains([1])
    assert not data.contains({"a": object()})
    space = observation_space(frame, text_max=100)
    space.seed(0)
    for _ in range(20):
        assert space.contains(space.sample())
    for free in (Frame(), Frame(never=True)):
        free.seed(0)
        assert all(free.contains(free.sample()) for _ in range(20))


def test_action_samples_follow_the_schema():
    class Schemas(ToolEnv):
        def __init__(self):
            super().__init__()
            number = {"type": "number", "exclusiveMinimum": -2, "maximum": -1}
            self.tools = [ActionTool("values", "", {
                "type": "object", "additionalProperties": False,
                "required": ["v", "n", "s", "k", "o", "c"],
                "properties": {
                    "v": {"type": "array", "items": number, "minItems": 3, "maxItems": 3},
                    "n": {"type": "integer", "maximum": -5},
                    "s": {"type": "string", "minLength": 5},
                    "k": {"type": ["null", "integer"], "minimum": 2, "maximum": 2},
                    "o": {"anyOf": [{"type": "boolean"}, {"enum": ["x", "y"]}]},
                    "c": {"const": 7},
                }})]

    env = Schemas()
    env.action_space.seed(3)
    calls = [env.action_space.sample() for _ in range(50)]
    assert all(env.action_space.contains(c) for c in calls)
    env.action_space.seed(3)
    assert [env.action_space.sample() for _ in range(50)] == calls  # seeded: the same calls
    with pytest.raises(RuntimeError, match="reset"):
        env.tools = []
        env.action_space.sample()


def test_gymnasium_knows_lma_ids_once_lma_is_imported_and_later_ones_too():
    """A fresh process: nothing but ``import lma`` and a first use of lma's registry."""
    import subprocess
    import sys

    code = ("import gymnasium as gym, lma; lma.registry.envs.names(); "
            "env = gym.make('lma/babyai-GoToObj-v0'); print(type(env.unwrapped).__name__); "
            "lma.register('mine/counter-v0', 'lma.envs.game.babyai:BabyAIEnv', gym_id='BabyAI-GoToObj-v0'); "
            "print('lma/mine-counter-v0' in gym.registry)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["BabyAIEnv", "True"], out.stderr[-2000:]
