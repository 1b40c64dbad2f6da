#!/bin/bash
# One short GPU run (issue 15 §4), about 7 minutes of GPU time:
#  1. the GPU's measured copy bandwidth and the batch-1 decode bound it implies for the model
#     (benchmarks/gpu_bandwidth.py);
#  2. decode tokens/s of the transformers backend and of `lma serve` at 1, 8, 32 and 64 concurrent
#     requests (512-token prompts, 128 new tokens) on the random 1.24B Llama in bf16
#     (benchmarks/serve_throughput.py --gpu), plus stock `generate` at batch 1.
# Targets: >= 600 tok/s at 1 request, >= 8,000 tok/s aggregate at 32.
#
# Made for a GPU machine without network: nothing is downloaded. It needs python3 with torch
# (CUDA) and transformers there (the device image has both). `lma serve`'s half needs fastapi +
# uvicorn, which that image lacks: they travel as wheels in .whl/serve/ (ignored by git, so name
# .whl in the run's carry), fetched beforehand on a machine with PyPI with
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 -d .whl/serve fastapi starlette uvicorn pydantic pydantic_core \
#     typing-inspection annotated-types annotated-doc typing_extensions
# (pin the versions the project's venv has); without them only the local backend is measured.
#
# Run from the repository root: bash benchmarks/gpu_check.sh
# `bash benchmarks/gpu_check.sh --cpu` is the dry run for a machine without a GPU: the same steps
# on serve_throughput.py's small CPU Llama at 1 and 2 requests (PYTHON=.venv/bin/python there).
# The serving step stops itself after BENCH_TIMEOUT seconds (420) and prints each figure as it is
# measured; the output is also written to $OUT/gpu_check.txt.
set -u -o pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
python="${PYTHON:-python3}"
if [ "${1:-}" = "--cpu" ]; then
    gpu=() levels=1,2 bandwidth=(--gib 0.25 --repeats 3) extra=(--prompt-tokens 128 --new-tokens 16 --rounds 1 --threads 2)
else
    gpu=(--gpu --baseline) levels=1,8,32,64 bandwidth=() extra=(--rounds 2)
fi
if ls .whl/serve/*.whl >/dev/null 2>&1 && ! "$python" -c "import fastapi, uvicorn" 2>/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/lma-site .whl/serve/*.whl \
        && export PYTHONPATH=/tmp/lma-site
fi
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
log="${OUT:-/tmp}/gpu_check.txt"
: >"$log"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader 2>/dev/null | tee -a "$log"
"$python" -c "import torch, transformers; print('torch', torch.__version__, '| transformers', transformers.__version__, '| cuda', torch.cuda.is_available())" 2>&1 | tee -a "$log" || exit 1
modes=local,serve
"$python" -c "import fastapi, uvicorn" 2>/dev/null || { echo "fastapi/uvicorn not importable: measuring the local backend only" | tee -a "$log"; modes=local; }
"$python" benchmarks/gpu_bandwidth.py ${bandwidth[@]+"${bandwidth[@]}"} 2>&1 | tee -a "$log"
timeout "${BENCH_TIMEOUT:-420}" "$python" benchmarks/serve_throughput.py ${gpu[@]+"${gpu[@]}"} --modes "$modes" \
    --concurrency "$levels" "${extra[@]}" 2>&1 | tee -a "$log"
status=${PIPESTATUS[0]}
echo "exit status $status (124 = stopped at the time limit; the figures printed above stand)" | tee -a "$log"
exit "$status"
