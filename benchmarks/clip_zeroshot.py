"""The small CLIP on scenes it never saw: zero-shot attributes, caption retrieval, binding.

    python benchmarks/clip_zeroshot.py [--clip DIR] [--n 2000] [--seed 1000]

Scenes are drawn from a seed the training set did not use (training: seed 0). It prints

* zero-shot accuracy of colour, shape, pattern and count on the one-object scenes
  (:class:`lma.images.attributes.ZeroShot`; chance: 1/6, 1/3, 1/3, 1/3);
* image -> caption top-1 among every distinct caption of the drawn scenes;
* on two-object scenes, how often the true caption beats the same caption with the colours
  swapped between the objects (binding) and with the relation reversed ("above" <-> "below").
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from lma.images.attributes import VALUES, ZeroShot
from lma.images.backends import load_clip
from lma.images.scenes import make_scenes, relation_caption

OPPOSITE = {"above": "below", "below": "above", "left of": "right of", "right of": "left of"}


def measure(clip_dir: str | None, n: int, seed: int) -> dict[str, float]:
    clip = load_clip(clip_dir, device="cpu")
    scenes = make_scenes(n, seed=seed)
    images = clip.encode_image([s.render() for s in scenes])
    zero_shot = ZeroShot(clip)
    single = [i for i, s in enumerate(scenes) if s.attributes["kind"] == "single"]
    figures = {}
    for attribute in VALUES:
        predicted = zero_shot.predict(images[single], attribute)
        figures[f"zero-shot {attribute}"] = float(np.mean([p == scenes[i].attributes[attribute]
                                                           for p, i in zip(predicted, single)]))
    captions = sorted({s.text for s in scenes})
    best = (images @ clip.encode_text(captions).T).argmax(1)
    figures["caption top-1"] = float(np.mean([captions[b] == s.text for b, s in zip(best, scenes)]))
    figures["captions"] = len(captions)
    pairs = [i for i, s in enumerate(scenes) if s.attributes["kind"] == "relation"]
    for name, wrong in (("binding (colours swapped)", _swapped), ("relation reversed", _reversed)):
        true, other = clip.encode_text([scenes[i].text for i in pairs]), clip.encode_text([wrong(scenes[i]) for i in pairs])
        figures[name] = float(np.mean((images[pairs] * true).sum(1) > (images[pairs] * other).sum(1)))
    return figures


def _objects(scene):
    a, b = scene.attributes["objects"]
    return (a["color"], a["shape"]), scene.attributes["relation"], (b["color"], b["shape"])


def _swapped(scene) -> str:
    (ca, sa), relation, (cb, sb) = _objects(scene)
    return relation_caption((cb, sa), relation, (ca, sb))


def _reversed(scene) -> str:
    a, relation, b = _objects(scene)
    return relation_caption(a, OPPOSITE[relation], b)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", help="CLIP folder (default: the shipped small CLIP)")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(measure(args.clip, args.n, args.seed), indent=1))
