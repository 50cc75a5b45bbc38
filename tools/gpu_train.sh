#!/usr/bin/env bash
# Train on a lent GPU machine (the device tool), one call at a time; run from the checkout's root.
#
#   tools/gpu_train.sh stage                   # stage the carried parts, nothing else
#   tools/gpu_train.sh SECONDS [train flags]   # stage, train <= SECONDS, export, send back
#   MODELS="mbt2018 bmshj2018-hyperprior mbt2018-mean mbt2018-context" tools/gpu_train.sh SECONDS [flags]
#                                              # one run per architecture, all at once (ablation)
#   tools/gpu_train.sh send NAME...            # send exports a call could not fit (NAME.safetensors)
#
# Lessons of 2026-11-24 (docs/training.md, "Training on a lent GPU machine"):
# - a carried path is gone at the next call: every call copies what it carries (.gpu/train/p*,
#   .gpu/val, .gpu/init from tools/pack_train.py) to $GPU_DATA (default /data), which stays
#   while the machine is held;
# - the machine goes back 30 s after a call ends, and with it any background run: so train in
#   the foreground of one call, with a time limit, and export in that same call;
# - files come back at most 16 MB each and 64 MiB a call: float16 exports are split into parts
#   (cat NAME.safetensors.part-* > NAME.safetensors; compare with the printed SHA-256), as many
#   exports as fit; `send` the others in the next call.
# This script owns --data, --val, --cache-dir, --out and --model (MODELS, default mbt2018); pass
# the other flags (--crop, --batch, --lr, --steps, --milestones, --init "$GPU_DATA/init/F", ...).
set -u
D=${GPU_DATA:-/data}
send() {  # split exports into $OUT while they fit (56 MiB a call, under the 64 MiB limit)
    local total=0 name size f
    for name in "$@"; do
        f="$D/$name.safetensors"
        [ -f "$f" ] || { echo "no export $name"; continue; }
        size=$(stat -c %s "$f")
        if [ -n "${OUT:-}" ] && [ $((total + size)) -le $((56 * 1048576)) ]; then
            sha256sum "$f"; split -b 16000000 "$f" "$OUT/$name.safetensors.part-"; total=$((total + size))
        else
            echo "not sent (over a call's limit): $name; next call: tools/gpu_train.sh send $name"
        fi
    done
}
if [ "${1:-}" = send ]; then shift; send "$@"; exit 0; fi
mkdir -p "$D/train"
for p in .gpu/train/*; do [ -d "$p" ] && cp -rn "$p" "$D/train/"; done
for p in .gpu/val .gpu/init; do [ -d "$p" ] && cp -rn "$p" "$D/"; done
du -sh "$D"/train/* "$D"/val "$D"/init 2>/dev/null
[ "${1:-}" = stage ] && exit 0
secs=$1; shift
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
MODELS=${MODELS:-mbt2018}
# One process decodes the images into the shared cache before the runs start.
python3 -c "import sys; from licodec.train.data import ImageCache, list_images; ImageCache(list_images(sys.argv[1]), sys.argv[2], progress=False)" "$D/train" "$D/cache"
for m in $MODELS; do
    timeout -s TERM "$secs" python3 -m licodec.train --data "$D/train" --val "$D/val" --cache-dir "$D/cache" \
        --no-progress --model "$m" --out "$D/run-$m" "$@" > "$D/train-$m.log" 2>&1 &
done
wait
for m in $MODELS; do
    # The step reached, whether the run finished or the time limit stopped it (checkpoint saved).
    python3 -m licodec.train --out "$D/run-$m" --resume --steps 1 --export "$D/$m.safetensors" --export-fp16 >> "$D/train-$m.log" 2>&1
    echo "== $m"; tail -n 3 "$D/train-$m.log"; tail -n 1 "$D/run-$m/train.csv" 2>/dev/null
done
send $MODELS
[ -n "${OUT:-}" ] && tar czf "$OUT/logs.tgz" -C "$D" $(cd "$D" && ls -d train-*.log run-*/train.csv run-*/val.csv 2>/dev/null)
exit 0
