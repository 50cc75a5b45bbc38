#!/usr/bin/env bash
# The full classical sweep on Kodak from an empty cache, timed; keeps the compact curves.
#   bash benchmarks/classical_kodak.sh [extra bench-classical options, e.g. --workers 2]
# Needs the eval extra: pip install -e ".[eval]"
set -euo pipefail
cd "$(dirname "$0")/.."
KODAK=${KODAK:-../shared/datasets/kodak}
OUT=${OUT:-results/classical-kodak-fresh}
rm -rf "$OUT"
start=$(date +%s)
python3 -m licodec.eval.cli bench-classical "$KODAK" --out "$OUT" "$@"
end=$(date +%s)
echo "wall time: $((end - start)) s (including process start-up)"
mkdir -p benchmarks/results
cp "$OUT/classical.json" benchmarks/results/kodak_classical.json
cp "$OUT/report.md" benchmarks/results/kodak_classical.md
