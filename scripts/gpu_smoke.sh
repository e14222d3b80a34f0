#!/usr/bin/env bash
# GPU smoke test: migrate a copy of target_repo with `refactor apply`, then prove it still
# trains on CUDA with `refactor verify --device cuda`.
#
# The GPU machine has Python 3.12 with torch, transformers, peft and accelerate, but no network
# and none of trl, datasets, libcst, rope, wandb, jupytext, qwen-vl-utils (nor, on some images,
# typer/rich). Those come as wheels from ./wheels, fetched beforehand on a machine that can
# reach the package index:
#
#   bash scripts/gpu_smoke.sh --download-wheels      # fills ./wheels (Python 3.12, manylinux x86_64)
#   bash scripts/gpu_smoke.sh                        # on the GPU machine, from the repository root
#
# Environment: PYTHON (default python3), WHEELS (default ./wheels), STEPS (default 8),
# OUT (where verify.json and the logs go; default ./gpu-smoke-out), APPLY_FLAGS (default
# "--fit-stack --keep-behaviour": the plan's text as the installed TRL accepts it, every config
# field kept; APPLY_FLAGS="" migrates by the plan's letter, and verify then fails stack
# compatibility and config behaviour, naming each field).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
WHEELS="${WHEELS:-wheels}"
STEPS="${STEPS:-8}"
APPLY_FLAGS="${APPLY_FLAGS-"--fit-stack --keep-behaviour"}"
OUT="${OUT:-gpu-smoke-out}"

# Pinned to the versions the test suite runs against. qwen-vl-utils is installed without its
# dependencies: it only needs PyAV for videos, which the smoke run never loads.
PACKAGES=(
  trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 xxhash==4.1.0 fsspec==2026.9.0
  libcst==1.9.0 rope==1.15.2 pytoolconfig==1.3.1 platformdirs==4.14.8
  wandb==0.31.0 cwevals==0.0.1b1 protobuf==7.36.2 pydantic==2.14.4 pydantic-core==2.50.5
  annotated-types==0.8.0 typing-inspection==0.4.5 googleapis-common-protos==1.76.0
  opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-proto==1.45.2
  opentelemetry-semantic-conventions==0.66b2 opentelemetry-exporter-otlp-proto-http==1.45.2
  opentelemetry-exporter-otlp-proto-common==1.45.2 opentelemetry-exporter-http-transport==0.66b2
  opentelemetry-exporter-otlp-common==0.66b2 httpx==0.28.1 httpcore==1.0.9 h11==0.16.0 anyio==4.16.0
  sniffio==1.3.1 distro==1.9.0
  jupytext==1.19.6 nbformat==5.11.1 fastjsonschema==2.22.3 jsonschema==4.26.0
  jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 attrs==26.1.0
  jupyter-core==5.9.1 traitlets==5.16.1 markdown-it-py==4.3.0 mdit-py-plugins==0.7.0 mdurl==0.1.2
  typer==0.29.2 rich==15.0.0 click==8.5.1 shellingham==1.5.4 pygments==2.21.0 annotated-doc==0.0.7
  matplotlib==3.11.2 contourpy==1.3.3 cycler==0.12.1 fonttools==4.68.0 kiwisolver==1.5.1 pyparsing==3.3.3
  pyflakes==4.0.0
)
NO_DEPS_PACKAGES=(qwen-vl-utils==0.0.14)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [[ "${1:-}" == "--download-wheels" ]]; then
  mkdir -p "$WHEELS"
  "$PYTHON" -m pip download --only-binary=:all: --no-deps --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    --platform any -d "$WHEELS" "${PACKAGES[@]}" "${NO_DEPS_PACKAGES[@]}"
  count=$(find "$WHEELS" -name '*.whl' | wc -l)
  echo "$count wheels, $(du -sh "$WHEELS" | cut -f1) in $WHEELS"
  exit 0
fi

mkdir -p "$OUT"
started=$(now)
echo "== machine"
"$PYTHON" --version
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi unavailable"

echo "== install wheels from $WHEELS"
if [[ ! -d "$WHEELS" ]]; then
  echo "error: $WHEELS does not exist; run 'bash scripts/gpu_smoke.sh --download-wheels' where the index is reachable" >&2
  exit 2
fi
t0=$(now)
# Into a separate target directory, so the image's own torch/transformers stay untouched.
SITE="${SITE:-$(mktemp -d)/site}"
"$PYTHON" -m pip install --quiet --no-index --no-deps --no-cache-dir --upgrade \
  --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
# A training environment keeps its modules' bytecode. Some GPU images ship torch's packages
# half-compiled and set PYTHONDONTWRITEBYTECODE, so every process would compile thousands of
# modules again (measured on the H200: a whole verify 40 s instead of 18-25 s). Compile them once,
# into a cache of their own; the image's files stay as they are.
if [[ -n "${PYTHONDONTWRITEBYTECODE:-}" || -n "${COMPILE_BYTECODE:-}" ]]; then
  unset PYTHONDONTWRITEBYTECODE
  export PYTHONPYCACHEPREFIX="${PYTHONPYCACHEPREFIX:-$HOME/.cache/refactor-pycache}"
  stack=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')
  "$PYTHON" -m compileall -q -j 0 "$stack" "$SITE" "$PWD/codemods" > /dev/null 2>&1 || true
  echo "bytecode compiled into $PYTHONPYCACHEPREFIX"
fi
t1=$(now)
echo "install: $(elapsed "$t0" "$t1") s"
"$PYTHON" - <<'EOF'
from importlib import metadata
import torch
names = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "wandb", "libcst", "rope", "jupytext")
print(" | ".join(f"{n} {metadata.version(n)}" for n in names))
print("cuda available:", torch.cuda.is_available(), "| bf16:", torch.cuda.is_available() and torch.cuda.is_bf16_supported())
EOF

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r target_repo "$work/repo"
find "$work/repo" -name __pycache__ -prune -exec rm -rf {} +
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

echo "== apply"
t0=$(now)
# shellcheck disable=SC2086 # APPLY_FLAGS is a list of flags
"$PYTHON" -m codemods.cli apply "$work/repo" --allow-dirty --clear-stale-outputs --no-diff $APPLY_FLAGS > "$OUT/apply.log" 2>&1 \
  || { tail -n 40 "$OUT/apply.log"; echo "apply failed" >&2; exit 1; }
t1=$(now)
tail -n 3 "$OUT/apply.log"
echo "apply: $(elapsed "$t0" "$t1") s"

echo "== verify (cuda, $STEPS steps per variant)"
t0=$(now)
set +e
COLUMNS=160 "$PYTHON" -m codemods.cli verify "$work/repo" --device cuda --steps "$STEPS" --report "$OUT/verify.json" \
  2>&1 | tee "$OUT/verify.log"
status=${PIPESTATUS[0]}
set -e
t1=$(now)
echo "verify: $(elapsed "$t0" "$t1") s (exit $status)"

"$PYTHON" - "$OUT/verify.json" <<'EOF' || true
import json, sys
report = json.load(open(sys.argv[1]))
training = report.get("training") or {}
print(f"passed={report['passed']} device={training.get('device')} ({training.get('device_name', '?')})")
print(f"training process: imports {training.get('import_seconds')} s, total {training.get('wall_seconds')} s")
for record in training.get("variants", []):
    print(
        f"  {record['variant']:<20} {record['steps']} steps  loss {record['first_loss']} -> {record['last_loss']}"
        f"  run {record['wandb_run_name']}  {record['wall_seconds']} s"
    )
for check in report["checks"]:
    print(f"  {check['name']:<16} {check['status']:<8} {check['duration_s']} s")
split = report.get("timings") or {}
print(
    f"split: imports {split.get('imports')} s, CUDA start {split.get('cuda_start')} s, "
    f"variants {split.get('variants')}, parity {split.get('parity')} s"
)
parity = next((c for c in report["checks"] if c["name"] == "loss parity"), {})
for variant, result in ((parity.get("data") or {}).get("variants") or {}).items():
    print(f"  parity {variant:<20} {result['status']}  max relative difference {result['max_relative_difference']}")
print(f"plot and W&B offline runs: {report.get('artifacts', {}).get('plot')}, {report.get('artifacts', {}).get('wandb_runs')}")
EOF
echo "total: $(elapsed "$started" "$(now)") s"
exit "$status"
