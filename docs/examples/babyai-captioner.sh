#!/usr/bin/env bash
# Rebuild the BabyAI scene captioner (docs/models.md, "A captioner made here") from scratch:
#   bash docs/examples/babyai-captioner.sh [WORK_DIR]
# 1. BabyAI's bot plays BALROG's five tasks on training seeds 100000+ with 25% injected mistakes
#    (docs/examples/babyai-planner-data.yaml, 120 episodes each; no frames recorded: the captioner's
#    data is replayed from the seeds, every step's frame and the env's own sentences for it);
# 2. lma finetune --caption makes a small VLM, a new CLIP tower (112 px in 16 px patches: one image
#    token per tile) and a new 4-block Llama of width 128 over SmolLM2's tokenizer, and trains all
#    of it to write each frame's scene (data["scene"]): 8,792 frames, 2 epochs.
# On 2 CPU cores: 13 s of expert runs, then 41 minutes of training (600 tokens/s, 1,098 steps of 16).
set -euo pipefail
work=${1:-build/babyai-captioner}
mkdir -p "$work"
lma eval --config docs/examples/babyai-planner-data.yaml --episodes 120 --out "$work/runs"
lma finetune --from "$(ls -d "$work"/runs/*-eval-* | head -1)" --caption --new-vision 112/16 --new-language 128/4 \
  --epochs 2 --batch-size 16 --save-every 100 --out "$work/captioner"
