#!/usr/bin/env bash
# Train a BabyAI planner for BALROG's tasks from scratch, as a llama.cpp LoRA adapter:
#   bash docs/examples/babyai-planner.sh [WORK_DIR]
# 1. BabyAI's bot plays 100 episodes of each of BALROG's five tasks on training seeds 100000-100099
#    (evaluation uses seeds 0-49: disjoint);
# 2. lma finetune trains a LoRA adapter (r=16, all linear layers) on SmolLM2-135M-Instruct, on the
#    exact prompts the planner is asked (prompt layout 2, 16 steps of history);
# 3. the adapter is written as a llama.cpp LoRA GGUF with its manifest (checksums, this recipe).
# Then: lma eval --config docs/examples/balrog.yaml --model "llamacpp:smollm2-135m?lora=WORK_DIR/smollm2-135m-babyai.gguf"
# About 35 minutes on 2 CPU cores without bfloat16 (training ran at 79 tokens/s there). With these
# 60 optimizer steps the planner is undertrained (docs/results.md): it mostly repeats its last action.
set -euo pipefail
work=${1:-build/babyai-planner}
mkdir -p "$work"
lma eval --agents expert --envs babyai/balrog-goto-v0,babyai/balrog-pickup-v0,babyai/balrog-open-v0,babyai/balrog-putnext-v0,babyai/balrog-pick_up_seq_go_to-v0 \
  --episodes 100 --seed 100000 --workers 2 --no-frames --out "$work/runs"
run=$(ls -d "$work"/runs/*-eval-expert-* | tail -1)
lma finetune --from "$run" --base llamacpp:smollm2-135m --out "$work/adapter" --lora --adapter-only \
  --batch-size 4 --max-steps 60 --lr 2e-3
lma finetune --export-gguf "$work/adapter" --base llamacpp:smollm2-135m --out "$work/smollm2-135m-babyai.gguf"
