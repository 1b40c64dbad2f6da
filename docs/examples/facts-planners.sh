#!/usr/bin/env bash
# Rebuild the Type II and Type IV planners of memory/facts-v0, each trained on its own wiring's prompts:
#   bash docs/examples/facts-planners.sh [WORK_DIR]
# 1. teacher:memory/facts plays 240 training episodes as type2 (no memory) and as type4 (graph
#    memory recalled into every prompt), docs/examples/facts-planners-data.yaml;
# 2. lma finetune trains one LoRA adapter per type (r=16, all linear layers) on SmolLM2-135M-Instruct,
#    on the successful episodes' exact prompts: Type II learns to read the memo and answer, Type IV
#    also to answer a question asked again from the recalled memory of the episode that answered it;
# 3. Type II is written as a whole GGUF, Type IV's adapter as a llama.cpp LoRA GGUF with its manifest.
# Evaluate them: docs/examples/facts-memory.yaml. On 2 CPU cores without bfloat16 the recording takes
# a few minutes, Type II about 25 minutes and Type IV about 80.
set -euo pipefail
work=${1:-build/facts-planners}
data=docs/examples/facts-planners-data.yaml
mkdir -p "$work"
for agent in type2 type4; do
  LMA_HOME="$work/home-$agent" lma eval --config "$data" --agents "$agent" --out "$work/runs/$agent"
  lma finetune --from "$(ls -d "$work/runs/$agent"/*-eval-*)" --save-data "$work/data-$agent.jsonl"
done
# Type II: two epochs, merged, then two more on the merged model (the first two teach "read, then
# answer with what was read", the next two which memo); Type IV: three epochs. One at a time:
# two trainings side by side on 2 cores take longer than one after the other.
train="--lora --batch-size 4 --lr 1.5e-3 --max-length 1536 --save-every 21"
lma finetune --from "$work/data-type2.jsonl" --base llamacpp:smollm2-135m --out "$work/type2-first" $train --epochs 2
lma finetune --from "$work/data-type2.jsonl" --base "transformers:$work/type2-first" --out "$work/type2" $train --epochs 2
lma finetune --export-gguf "$work/type2" --base llamacpp:smollm2-135m --out "$work/facts-type2.gguf"
lma finetune --from "$work/data-type4.jsonl" --base llamacpp:smollm2-135m --out "$work/adapter-type4" $train \
  --adapter-only --epochs 3
lma finetune --export-gguf "$work/adapter-type4" --base llamacpp:smollm2-135m --out "$work/facts-type4.gguf"
