"""How well a scene captioner (``lma finetune --caption``) says what the frame shows: its captions
against the env's own sentences (``obs["data"]["scene"]``) on held-out seeds.

BabyAI's bot (a scripted oracle) plays each BALROG task from seeds ``--seed``...; at every step the
captioner is asked about the frame exactly as the ``scene:`` perceiver asks it, and its caption is
compared with the scene: the share of frames captioned exactly, and of sentences (the scene's lines
as a multiset) the share said right (precision) and the share said at all (recall), and that
recall for the sentences about objects alone (walls are most sentences and the easiest). Also seconds
per caption (batches of ``--batch``, through the transformers backend). ``--perceiver SPEC`` scores
a perceiver that writes ``data["scene"]`` instead (``tiles:DIR``, a tile reader of ``lma finetune
--tiles``), one frame at a time; ``--blank`` gives it black frames (the ablation: does it look?).

    python benchmarks/caption_accuracy.py --captioner build/babyai-captioner/captioner --episodes 10
    python benchmarks/caption_accuracy.py --perceiver tiles:build/babyai-reader --episodes 10 [--blank]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

import lma
from lma.models import load_model
from lma.models.base import Request
from lma.perception.base import make_perceiver
from lma.perception.caption import scene_request

TASKS = ["goto", "pickup", "open", "putnext", "pick_up_seq_go_to"]


def frames(env_id: str, seeds: range) -> list[tuple[object, str]]:
    """(frame, scene) at every step of the bot's episodes."""
    seen = []
    env = lma.make(env_id)
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            for _ in range(obs["data"]["max_steps"]):
                seen.append((obs["image"], obs["data"]["scene"]))
                obs, _, terminated, truncated, _ = env.step(env.unwrapped.expert_action())
                if terminated or truncated:
                    break
    finally:
        env.close()
    return seen


def score(pairs: list[tuple[str, str]]) -> dict[str, float]:
    said = right = wanted = exact = objects = objects_right = 0
    for caption, scene in pairs:
        got, truth = Counter(filter(None, caption.splitlines())), Counter(filter(None, scene.splitlines()))
        said, wanted = said + sum(got.values()), wanted + sum(truth.values())
        right += sum((got & truth).values())
        exact += got == truth
        things = Counter({line: n for line, n in truth.items() if not line.startswith("a wall ")})
        objects, objects_right = objects + sum(things.values()), objects_right + sum((got & things).values())
    return {"frames": len(pairs), "exact": round(exact / len(pairs), 3),
            "precision": round(right / max(said, 1), 3), "recall": round(right / max(wanted, 1), 3),
            "object_recall": round(objects_right / max(objects, 1), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--captioner", help="the folder lma finetune --caption wrote")
    which.add_argument("--perceiver", help="a perceiver spec that writes data['scene'] (tiles:DIR)")
    parser.add_argument("--blank", action="store_true", help="black frames instead of the real ones")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    caption = scene_writer(args)
    figures, everything, seconds = {}, [], 0.0
    for task in TASKS:
        seen = frames(f"babyai/balrog-{task}-v0", range(args.seed, args.seed + args.episodes))
        captions = []
        start = time.perf_counter()
        for i in range(0, len(seen), args.batch):
            batch = [image for image, _ in seen[i : i + args.batch]]
            images = [np.zeros_like(np.asarray(image)) for image in batch] if args.blank else batch
            captions += caption(images)
        seconds += time.perf_counter() - start
        pairs = [(c, scene) for c, (_, scene) in zip(captions, seen)]
        figures[task], everything = score(pairs), everything + pairs
    figures["all"] = score(everything)
    figures["seconds_per_caption"] = round(seconds / len(everything), 4)
    figures["load_average"] = os.getloadavg()[0]
    print(json.dumps({"captioner": args.captioner or args.perceiver, "blank": args.blank,
                      "episodes_per_task": args.episodes, "seed": args.seed, **figures}, indent=2))


def scene_writer(args: argparse.Namespace) -> Callable[[list[object]], list[str]]:
    """Frames -> their captions, by the captioner (in batches) or the perceiver (one by one)."""
    if args.perceiver:
        perceiver = make_perceiver(args.perceiver)
        return lambda images: [perceiver.perceive({"text": "", "image": image, "data": {}}).data.get("scene", "")
                               for image in images]
    model = load_model(f"transformers:{args.captioner}")
    return lambda images: [c.text.strip() for c in model.complete_batch(
        [Request(scene_request(), (image,), max_tokens=96) for image in images])]


if __name__ == "__main__":
    main()
