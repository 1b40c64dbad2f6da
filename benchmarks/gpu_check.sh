#!/bin/bash
# One short GPU run of the serving benchmark (benchmarks/serve_throughput.py --gpu): decode tokens/s
# of the transformers backend and of `lma serve` at 1, 32 and 8 concurrent requests (512-token
# prompts, 128 new tokens) on a random 1.24B Llama in bf16, plus stock `generate` at batch 1.
# Targets: >= 600 tok/s at 1 request, >= 8,000 tok/s aggregate at 32.
#
# Made for a GPU machine without network: nothing is downloaded. It needs python3 with torch
# (CUDA) and transformers there. `lma serve`'s half needs fastapi + uvicorn; where they are not
# installed, wheels in .whl/serve/ are used (fetch them beforehand on a machine with PyPI, with
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 -d .whl/serve fastapi starlette uvicorn pydantic pydantic_core \
#     typing-inspection annotated-types annotated-doc typing_extensions
# ); without either only the local backend is measured.
#
# Run from the repository root: bash benchmarks/gpu_check.sh
# It stops itself after 6 minutes (BENCH_TIMEOUT seconds) and prints each figure as it is measured;
# the full output is also written to $OUT/serve_throughput.txt.
set -u -o pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if ls .whl/serve/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/lma-site .whl/serve/*.whl \
        && export PYTHONPATH=/tmp/lma-site
fi
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader 2>/dev/null
python3 -c "import torch, transformers; print('torch', torch.__version__, '| transformers', transformers.__version__, '| cuda', torch.cuda.is_available())" || exit 1
modes=local,serve
python3 -c "import fastapi, uvicorn" 2>/dev/null || { echo "fastapi/uvicorn not importable: measuring the local backend only"; modes=local; }
log="${OUT:-/tmp}/serve_throughput.txt"
timeout "${BENCH_TIMEOUT:-360}" python3 benchmarks/serve_throughput.py --gpu --baseline --modes "$modes" \
    --concurrency 1,32,8 --rounds 3 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
echo "exit status $status (124 = stopped at the time limit; the figures printed above stand)"
exit "$status"
