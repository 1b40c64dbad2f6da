#!/usr/bin/env bash
# Rebuild the shipped planner llamacpp:smollm2-135m-babyai from scratch:
#   bash docs/examples/babyai-planner.sh [WORK_DIR]
# 1. BabyAI's bot plays BALROG's five tasks on training seeds 100000+ with 25% injected mistakes
#    (docs/examples/babyai-planner-data.yaml): 130 episodes of open, putnext and pick_up_seq_go_to,
#    80 of goto and pickup (the short ones);
# 2. lma finetune trains a LoRA adapter (r=16, all linear layers) on SmolLM2-135M-Instruct, on the
#    exact prompts the planner is asked (prompt layout 2, 16 steps of history), the bot's calls only;
# 3. the adapter is written as a llama.cpp LoRA GGUF with its manifest (checksums, this recipe): round 1;
# 4. round 2 continues it (--warm-start) on 400 new expert runs of putnext and pick_up_seq_go_to that
#    start with a decoy, the bot on the misread mission until it carries the wrong object
#    (docs/examples/babyai-planner-decoy.yaml), and 60 new noisy runs of every task (seeds 230000+, so
#    that it keeps them): 1 epoch at lr 5e-4, at most 2 conversations per episode.
# Copy WORK_DIR/smollm2-135m-babyai.{gguf,json} to lma/models/planners/ to ship it.
# On 2 CPU cores with bfloat16 (AVX512-BF16): a few minutes of expert runs, then about 80 minutes of
# training for round 1 (2 epochs, 412 steps of 4: 79 minutes at 344 tokens/s) and 66 for round 2
# (262 steps of 4 at 284 tokens/s); docs/results.md has what each reaches.
set -euo pipefail
work=${1:-build/babyai-planner}
data=docs/examples/babyai-planner-data.yaml
mkdir -p "$work"
lma eval --config "$data" --envs babyai/balrog-open-v0,babyai/balrog-putnext-v0,babyai/balrog-pick_up_seq_go_to-v0 \
  --episodes 130 --out "$work/runs/hard"
lma eval --config "$data" --envs babyai/balrog-goto-v0,babyai/balrog-pickup-v0 --episodes 80 --out "$work/runs/easy"
lma finetune --from "$(ls -d "$work"/runs/hard/*-eval-*),$(ls -d "$work"/runs/easy/*-eval-*)" --save-data "$work/data.jsonl"
lma finetune --from "$work/data.jsonl" --base llamacpp:smollm2-135m --out "$work/adapter" --lora --adapter-only \
  --batch-size 4 --epochs 2 --lr 1e-3 --max-length 1536 --save-every 25
lma finetune --export-gguf "$work/adapter" --base llamacpp:smollm2-135m --out "$work/round1.gguf"
lma eval --config docs/examples/babyai-planner-decoy.yaml --out "$work/runs/decoy"
lma eval --config "$data" --episodes 60 --seed 230000 --out "$work/runs/mixed"
lma finetune --from "$(ls -d "$work"/runs/decoy/*-eval-*),$(ls -d "$work"/runs/mixed/*-eval-*)" \
  --base llamacpp:smollm2-135m --warm-start "llamacpp:smollm2-135m?lora=$work/round1.gguf" --out "$work/adapter2" \
  --lora --adapter-only --batch-size 4 --epochs 1 --lr 5e-4 --max-length 1536 --max-per-episode 2 --seed 0 --save-every 25
lma finetune --export-gguf "$work/adapter2" --base llamacpp:smollm2-135m --out "$work/smollm2-135m-babyai.gguf"
