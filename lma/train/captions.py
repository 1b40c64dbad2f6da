"""Training data for scene captioners (``lma finetune --caption``): frames -> the env's own sentences.

A captioner learns to say of a frame what the env says of the state it shows: envs whose
observations carry ``data["scene"]`` (the BALROG BabyAI envs: the view's BabyAI-Text sentences)
give one :class:`~lma.train.vlm.FrameExample` per step, the frame with :func:`scene_request` as
prompt and the scene as target. The episodes of the run folders are replayed in their envs from
their seeds (:func:`lma.train.data.replay`, which rebuilds planner prompts too, and checks each
observation text against the recorded one), so the frames and scenes come from the env itself:
runs recorded without frames, or with the frame-only text (``text=goal``), train a captioner all
the same, and every episode counts, successful or not (a scene is true either way).
"""

from __future__ import annotations

from pathlib import Path

from lma.core import EpisodeResult
from lma.perception.caption import scene_request
from lma.run.recording import RunDir
from lma.train.data import replayed_frames
from lma.train.vlm import FrameExample, examples_from_runs


def episode_scenes(run: RunDir, result: EpisodeResult) -> list[FrameExample]:
    """The frame and scene of every recorded step of one episode, replayed (:func:`lma.train.data.replay`)."""
    refusal = "(the sentences a captioner learns to write): captioners train on envs that say what their frames show"
    return [FrameExample(scene_request(), str(scene), image, source)
            for source, image, scene in replayed_frames(run, result, "scene", refusal)]


def collect_scene_examples(sources: list[str | Path]) -> list[FrameExample]:
    """Every step of every episode of the run folders as a captioning example."""
    return examples_from_runs(sources, episode_scenes, "a captioner trains from run folders (replayed in their envs)",
                              successful_only=False)
