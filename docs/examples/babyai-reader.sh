#!/usr/bin/env bash
# Rebuild the BabyAI tile reader (docs/models.md, "A tile reader made here") from scratch:
#   bash docs/examples/babyai-reader.sh [WORK_DIR]
# 1. BabyAI's bot plays BALROG's five tasks on training seeds 100000+ with 25% injected mistakes
#    (docs/examples/babyai-planner-data.yaml, 120 episodes each; no frames recorded: the reader's
#    data is replayed from the seeds, every step's POV frame and the env's data['tiles'] for it);
# 2. lma finetune --tiles trains a new CLIP tower (112 px in 16 px patches: one per tile, 4 blocks of
#    width 256) and a linear head per component (object, colour, state) to name each tile: 8,773 frames, 1 epoch.
# On 2 CPU cores: 13 s of expert runs, then about 6 minutes of training.
# Use it: lma eval --config docs/examples/babyai-scene.yaml (the text planner reading the frame through it).
set -euo pipefail
work=${1:-build/babyai-reader}
mkdir -p "$work"
lma eval --config docs/examples/babyai-planner-data.yaml --episodes 120 --out "$work/runs"
lma finetune --from "$(ls -d "$work"/runs/*-eval-* | head -1)" --tiles --new-vision 112/16 --epochs 1 --batch-size 32 \
  --out "$work/reader"
