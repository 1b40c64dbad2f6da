#!/usr/bin/env bash
# Rebuild the frame-only BabyAI VLM planner from scratch (docs/models.md, "A vision-language model made here"):
#   bash docs/examples/babyai-vlm.sh [WORK_DIR] [EPISODES_PER_KIND]
# 1. BabyAI's bot plays BALROG's five tasks with frames and the frame-only text (goal and carried
#    object only), training seeds 100000+ (evaluation uses seeds 0+);
# 2. lma finetune gives the embedded SmolLM2-135M a new CLIP vision tower (112 px in 16 px patches:
#    one image token per BabyAI tile, 4 blocks of width 256) and LLaVA's projector, and trains all
#    three on each step's frame plus the prompt Type II sees (tower and projector in full, LoRA r=16
#    on the language model, merged when saved);
# 3. docs/examples/babyai-vlm.yaml evaluates it from frames, with the blank-frame ablation.
set -euo pipefail
work=${1:-build/babyai-vlm}
episodes=${2:-200}
envs=babyai/balrog-goto-v0,babyai/balrog-pickup-v0,babyai/balrog-open-v0,babyai/balrog-putnext-v0
envs=$envs,babyai/balrog-pick_up_seq_go_to-v0
mkdir -p "$work"
lma eval --agents expert --envs "$envs" --env-arg text=goal --episodes "$episodes" --seed 100000 --out "$work/runs"
lma finetune --from "$(ls -d "$work"/runs/*-eval-expert-* | head -1)" --base llamacpp:smollm2-135m \
  --new-vision 112/16 --out "$work/vlm" --lora --epochs 2 --batch-size 8 --lr 1e-3 --save-every 50
