#!/usr/bin/env bash
# Train on a lent GPU machine (the device tool), one call at a time; run from the checkout's root.
#
#   tools/gpu_train.sh stage                  # stage the carried parts, nothing else
#   tools/gpu_train.sh SECONDS [train flags]  # stage, train <= SECONDS, export, send back
#
# Lessons of 2026-11-24 (docs/training.md, "Training on a lent GPU"):
# - a carried path is gone at the next call: every call copies what it carries (.gpu/train/p*,
#   .gpu/val, .gpu/init from tools/pack_train.py) to $GPU_DATA (default /data), which stays
#   while the machine is held;
# - the machine goes back 30 s after a call ends, and with it any background run: so train in
#   the foreground of one call, with a time limit, and export and send back in that same call;
# - files come back at most 16 MB each: the float16 export is split into parts
#   (cat export.safetensors.part-* > model.safetensors; compare with the printed SHA-256).
# This script owns --data, --val, --cache-dir and --out; pass the other flags (--model, --crop,
# --batch, --lr, --steps, --milestones, --init "$GPU_DATA/init/NAME.safetensors", ...).
set -u
D=${GPU_DATA:-/data}
mkdir -p "$D/train"
for p in .gpu/train/*; do [ -d "$p" ] && cp -rn "$p" "$D/train/"; done
for p in .gpu/val .gpu/init; do [ -d "$p" ] && cp -rn "$p" "$D/"; done
du -sh "$D"/train/* "$D"/val "$D"/init 2>/dev/null
[ "${1:-}" = stage ] && exit 0
secs=$1; shift
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout -s TERM "$secs" python3 -m licodec.train --data "$D/train" --val "$D/val" --cache-dir "$D/cache" \
    --no-progress --out "$D/run" "$@" > "$D/train.log" 2>&1
echo "training ended: rc $?"
# The step reached, whether the run finished or the time limit stopped it (checkpoint saved).
python3 -m licodec.train --out "$D/run" --resume --steps 1 --export "$D/export.safetensors" --export-fp16 >> "$D/train.log" 2>&1
tail -n 5 "$D/train.log"; tail -n 9 "$D/run/val.csv" 2>/dev/null
if [ -n "${OUT:-}" ] && [ -f "$D/export.safetensors" ]; then
    sha256sum "$D/export.safetensors"
    split -b 16000000 "$D/export.safetensors" "$OUT/export.safetensors.part-"
fi
[ -n "${OUT:-}" ] && tar czf "$OUT/logs.tgz" -C "$D" train.log run/train.csv run/val.csv 2>/dev/null
exit 0
