#!/usr/bin/env bash
# The prepared device check: one command, under ten minutes, on a GPU machine without network.
#
#   bash benchmarks/gpu_check.sh            # run it (from the repository root)
#   bash benchmarks/gpu_check.sh --dry-run  # list every step, run nothing
#
# The GPU image is expected to have torch (CUDA), transformers, peft, pluggy and scikit-learn. What it lacks
# (TRL, datasets, gguf, math-verify, reasoning-gym, import-linter, ...) is installed from wheels in .whl/ (an
# ignored folder, at most 64 MiB), filled beforehand on a machine with network:
#   pip download --only-binary=:all: --no-deps -d .whl trl datasets gguf "math-verify[antlr4_13_2]" \
#       reasoning-gym import-linter pyarrow dill multiprocess xxhash
# The offline SmolLM2 weights are too large to bring along: the checks use tiny random-init models and the
# protein task's tiny random ESM2.
set -uo pipefail
cd "$(dirname "$0")/.."

DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
STEP=0
step() {  # step "what it does" command...
  STEP=$((STEP + 1))
  local what="$1"; shift
  echo "[$STEP] $what"
  echo "    \$ $*"
  [ "$DRY" = 1 ] && return 0
  local start=$SECONDS
  "$@"
  local status=$?
  echo "    -> exit $status in $((SECONDS - start)) s"
  [ "$status" -eq 0 ] || FAILED=1
  return 0
}
FAILED=0

step "what this machine has: python, torch, CUDA" \
  python -c "import sys, torch; print(sys.version.split()[0], torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-')"
step "install what the image lacks from .whl/ (no network; skipped for what is already importable)" \
  bash -c 'missing=""; for m in trl datasets gguf math_verify reasoning_gym importlinter; do python -c "import $m" 2>/dev/null || missing="$missing $m"; done; echo "missing:${missing:- nothing}"; [ -z "$missing" ] || pip install -q --no-index --find-links .whl trl datasets gguf "math-verify[antlr4_13_2]" reasoning-gym import-linter'
step "install boostlora itself from this checkout, without touching the image's packages" \
  pip install -q --no-deps --no-build-isolation -e .
step "the device-parametrised tests on cpu and cuda (bf16 end to end, merges, resume, export)" \
  env BOOSTLORA_TEST_DEVICES=cpu,cuda python -m pytest -q -p no:cacheprovider tests/math/test_math_bf16.py tests/core/test_loop.py tests/test_architecture.py
step "one bf16 cross-entropy round (protein) and one bf16 GRPO round (tiny Llama), cuda vs cpu" \
  python benchmarks/gpu_round_timing.py --devices cpu cuda

if [ "$DRY" = 1 ]; then
  echo "dry run: $STEP steps listed, nothing ran"
  exit 0
fi
[ "$FAILED" = 0 ] && echo "gpu check: all steps passed" || echo "gpu check: a step failed (see above)"
exit "$FAILED"
