#!/usr/bin/env bash
# The one prepared device check (ploutos/bench/gpu_check.py), in one call on a GPU machine:
#   bash scripts/gpu_check.sh [OUT_DIR] [extra options of `python -m ploutos.bench gpu`]
# Writes OUT_DIR/gpu_check.json and OUT_DIR/gpu_check.md (default OUT_DIR: outputs/gpu_check, ignored by git).
# Without CUDA it runs the same steps on the CPU at tiny sizes. No network is used.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-outputs/gpu_check}"
shift || true
# 8 minutes at most: the check rewrites its files after every step, so a cut leaves them.
timeout --signal=INT --kill-after=20 480 python -m ploutos.bench gpu --out "$out" "$@"
