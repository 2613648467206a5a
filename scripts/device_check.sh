#!/usr/bin/env bash
# The GPU check of ecgnas: one prepared script of at most 8 minutes for a machine with a CUDA
# GPU (issue 15). Two steps:
#
#   bash scripts/device_check.sh prepare    # here, with internet to the package registries:
#                                           # wheels the GPU machine lacks -> .whl/, the 22 DS1
#                                           # records -> .devdata/mitdb/ (both git-ignored)
#   bash scripts/device_check.sh run        # on the GPU machine (carry .whl and .devdata):
#                                           # installs, runs the device-touching tests on CUDA,
#                                           # a short `ecgnas search --device cuda` and the
#                                           # throughput benchmark on the GPU; figures go to
#                                           # reports/ecg_throughput_cuda.{md,json} and
#                                           # reports/device_check.md (and $OUT when set)
#
# Only DS1 records travel: nothing here reads DS2. The machine is assumed to have python3 with
# a CUDA build of torch (and torch-geometric, scipy, numpy, typer); what it lacks comes as
# wheels. Any step that fails fails the script; each step has its own time limit.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-run}"
WHEELS=(optuna alembic sqlalchemy colorlog mako greenlet wfdb soundfile cffi pycparser)
DS1_RECORDS="101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230"

if [[ "$MODE" == "prepare" ]]; then
  grep -qx "/.whl/" .git/info/exclude || echo "/.whl/" >> .git/info/exclude
  grep -qx "/.devdata/" .git/info/exclude || echo "/.devdata/" >> .git/info/exclude
  rm -rf .whl && mkdir -p .whl .devdata/mitdb
  py="${PY:-.venv/bin/python}"
  for name in "${WHEELS[@]}"; do  # the versions tested here, where installed here
    version=$("$py" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p' || true)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform any -d .whl "$name${version:+==$version}"
  done
  src="${ECGNAS_DATA_DIR:-../shared/data}/mitdb"
  for r in $DS1_RECORDS; do cp "$src/$r".{dat,hea,atr} .devdata/mitdb/; done
  du -sh .whl .devdata
  exit 0
fi

[[ "$MODE" == "run" ]] || { echo "usage: $0 prepare|run" >&2; exit 2; }
START=$(date +%s)
LOG=reports/device_check.md
mkdir -p reports
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
export ECGNAS_DATA_DIR="$PWD/.devdata" ECGNAS_CACHE_DIR=/tmp/ecgnas-cache ECGNAS_TEST_DEVICE=cuda
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))"
{
  echo "# Device check ($(date -u +%F' '%H:%M) UTC)"
  echo
  echo "- GPU: $(python3 -c 'import torch; print(torch.cuda.get_device_name(0))'), torch $(python3 -c 'import torch; print(torch.__version__)')"
} > "$LOG"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log its wall time and status
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s) rc=0
  timeout "$limit" "$@" || rc=$?
  echo "- $name: exit $rc, $(( $(date +%s) - t0 )) s" >> "$LOG"
  return $rc
}

step "device tests on CUDA (tests/test_device.py, tests/train/test_trainer.py)" 150 \
  python3 -m pytest -q -p no:cacheprovider tests/test_device.py tests/train/test_trainer.py
step "ecgnas search --space ecgjoint --device cuda (6 evaluations)" 150 \
  python3 -m ecgnas search --dataset mitbih --space ecgjoint --method random --gpu-days 0.01 \
  --max-evals 6 --device cuda --run-dir /tmp/device-search
grep -E "evaluations|device time" /tmp/device-search/report.md >> "$LOG" || true
step "throughput benchmark on the GPU (scripts/ecg_throughput.py --device cuda)" 150 \
  python3 scripts/ecg_throughput.py --device cuda --out reports
echo "- total: $(( $(date +%s) - START )) s" >> "$LOG"
if [[ -n "${OUT:-}" ]]; then cp reports/device_check.md reports/ecg_throughput_cuda.* "$OUT"/; fi
cat "$LOG"
