#!/usr/bin/env bash
# Install ecgnas and its test tools into ./.venv. The CPU build of torch goes first, so that
# no dependency pulls a multi-GB CUDA build; on a GPU machine install the torch you want first.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  python -m pip install -q "torch==2.13.0"
fi
python -m pip install -q -e ".[dev]"
