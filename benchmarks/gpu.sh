#!/usr/bin/env bash
# The GPU check in one command (sized for one H100/H200, under 8 minutes):
#   (a) simulation, Gaussian LDS d = 4, m = 2^18, T = 1024, float32 (steps/s);
#   (b) the main job, Student-t LDS d = 3, m, T in {32, 128, 512}, R = 4096 (fits/s, compile, run);
#   (c) the 1-vs-n-device bit-identity check.
# Writes benchmarks/results/gpu.json (gpu_quick.json with --quick: tiny sizes, runs on a CPU).
# Usage: benchmarks/gpu.sh [--quick] [--out DIR] [--cpu-devices N]; PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" -m benchmarks.bench_gpu "$@"
