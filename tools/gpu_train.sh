#!/usr/bin/env bash
# Train on a lent GPU machine (the device tool); run from the checkout's root.
#
# The lease, in back-to-back calls (docs/training.md, "Training on a lent GPU machine"):
#   (0. tools/gpu_train.sh stage                   carry .gpu/train/pK: one more part of the photos
#                                                  staged before the run starts; repeat per part)
#   1. tools/gpu_train.sh start SECONDS --anneal-seconds A [flags]
#                                                  carry .gpu/train/p1 .gpu/val .gpu/exact .whl:
#                                                  stage, start the run in the background (setsid);
#                                                  it trains SECONDS (setup included), its last A
#                                                  seconds at a tenth of the learning rate (the
#                                                  anneal, same process: no second start or
#                                                  compile), then checks cross-machine exactness
#   2. tools/gpu_train.sh collect [SECONDS]        wait for the run, export float16, send it back
#                                                  in parts with the logs
# Other verbs:
#   tools/gpu_train.sh bench                       stage, time the step (benchmarks/bench_train.py)
#   tools/gpu_train.sh finish SECONDS [flags]      wait for the run, continue it <= SECONDS (e.g. at
#                                                  --lr 1e-5: an anneal in a second process), export, send
#   tools/gpu_train.sh stage                       stage the carried parts, nothing else
#   tools/gpu_train.sh SECONDS [flags]             stage, train <= SECONDS in the foreground, export, send
#   MODELS="mbt2018 bmshj2018-hyperprior ..." tools/gpu_train.sh SECONDS [flags]   several architectures at once
#   MODELS="..." tools/gpu_train.sh start SECONDS [flags], then collect [SECONDS]
#                                                  several runs side by side to their --steps, then
#                                                  export and send without an anneal (the ablation)
#   VARIANTS="noise ste" VARIANT_noise="--decoder-rounding noise" VARIANT_ste="--decoder-rounding ste" \
#     tools/gpu_train.sh start SECONDS [flags]     runs side by side that differ in their flags (a recipe
#                                                  measurement at equal compute): run folders run-MODEL.NAME,
#                                                  exports MODEL.NAME.safetensors (names: letters, digits, _)
#   REFINE="--relative --coder-arithmetic" tools/gpu_train.sh collect [SECONDS]
#                                                  also refine each export's entropy side on the GPU
#                                                  (python -m licodec.train.refine; untimed there): NAME.refined
#                                                  is sent first, then the plain exports as they fit
#   tools/gpu_train.sh send NAME...                send exports a call could not fit (NAME.safetensors)
#   tools/gpu_train.sh dry                         the whole lease on this machine's CPU, tiny (the test)
#
# Lessons (2026-11-24, 2026-11-27):
# - a carried path is gone at the next call: every call copies what it carries to $GPU_DATA
#   (default /data), which stays while the machine is held;
# - the machine goes back 30 s after a call ends, and with it everything on it: calls must follow
#   each other at once; a run started with setsid lives on between calls, not after;
# - files come back at most 16 MB each and 64 MiB a call: float16 exports are split into parts
#   (cat NAME.safetensors.part-* > NAME.safetensors; compare with the printed SHA-256).
# This script owns --data, --val, --cache-dir, --out and --model (MODELS, default mbt2018); pass
# the other flags (--crop, --batch, --lr, --init, --compile, ...). SPEED_FLAGS (default: compiled
# step with CUDA graphs, NHWC, crops cut on the GPU) are added to every run; SPEED_FLAGS= turns them off.
set -u
D=${GPU_DATA:-/data}
OUT=${OUT:-}
SPEED_FLAGS=${SPEED_FLAGS---compile reduce-overhead --channels-last --device-data}
MODELS=${MODELS:-mbt2018}
VARIANTS=${VARIANTS:-}  # e.g. "noise ste": one run per model and variant, each with the flags in $VARIANT_<name>
export PYTHONUNBUFFERED=1

send() {  # split exports into $OUT while they fit (SEND_MIB, default 62 MiB a call: the logs fit under the 64 MiB limit)
    local total=0 name size f
    for name in "$@"; do
        f="$D/$name.safetensors"
        [ -f "$f" ] || { echo "no export $name"; continue; }
        size=$(stat -c %s "$f")
        if [ -n "$OUT" ] && [ $((total + size)) -le $((${SEND_MIB:-62} * 1048576)) ]; then
            sha256sum "$f"; split -b "${PART_BYTES:-16000000}" "$f" "$OUT/$name.safetensors.part-"; total=$((total + size))
        else
            echo "not sent (over a call's limit): $name; next call: tools/gpu_train.sh send $name"
        fi
    done
}

stage() {  # copy what this call carried to $D; install carried wheels; build the C kernels
    mkdir -p "$D/train"
    for p in .gpu/train/*; do [ -d "$p" ] && cp -rn "$p" "$D/train/"; done
    for p in .gpu/val .gpu/init .gpu/exact; do [ -d "$p" ] && cp -rn "$p" "$D/"; done
    if ls .whl/*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$D/site" .whl/*.whl
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}:$D/site
    [ -f "$D/built" ] || { python3 setup.py -q build_ext --inplace >/dev/null 2>&1; touch "$D/built"; }
    du -sh "$D"/train/* "$D"/val "$D"/init 2>/dev/null | tr '\n' ' '; echo
}

runs() {  # the runs: MODEL, or MODEL.VARIANT for each variant
    local m v
    for m in $MODELS; do
        if [ -z "$VARIANTS" ]; then echo "$m"; else for v in $VARIANTS; do echo "$m.$v"; done; fi
    done
}

run_model() {  # run_model RUN SECONDS [flags]: one run, <= SECONDS; continues the run folder's checkpoint if any
    local r=$1 secs=$2 m=${1%%.*} vf="" t0 rc left; shift 2
    if [ "$r" != "$m" ]; then vf="VARIANT_${r#*.}"; set -- ${!vf-} "$@"; fi  # the variant's flags, then the call's
    t0=$(date +%s)
    # --time-limit: the run checkpoints and stops itself (with --anneal-seconds A, its last A
    # seconds at a tenth of the rate); timeout is the backstop
    timeout -s TERM $((secs + 60)) python3 -m licodec.train --data "$D/train" --val "$D/val" --cache-dir "$D/cache" \
        --no-progress --model "$m" --out "$D/run-$r" --resume $SPEED_FLAGS --time-limit "$secs" "$@" >> "$D/train-$r.log" 2>&1
    rc=$?
    left=$((secs - $(date +%s) + t0))
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ -n "$SPEED_FLAGS" ] && [ $left -gt 5 ] && [ ! -f "$D/stop" ]; then
        # plan B: a fast step that fails falls back to the plain one for the time left
        echo "== $r: exit $rc with SPEED_FLAGS ($SPEED_FLAGS); plan B: without them, ${left}s" | tee -a "$D/train-$r.log"
        timeout -s TERM $((left + 60)) python3 -m licodec.train --data "$D/train" --val "$D/val" --cache-dir "$D/cache" \
            --no-progress --model "$m" --out "$D/run-$r" --resume --time-limit "$left" "$@" >> "$D/train-$r.log" 2>&1
    fi
}

train() {  # train SECONDS [flags]: one run per model (and variant), side by side
    local secs=$1 r; shift
    for r in $(runs); do run_model "$r" "$secs" "$@" & done
    wait
}

export_send() {  # the step reached, whether the run finished or its time limit stopped it
    local r
    for r in $(runs); do  # side by side: each export loads torch and the run on the CPU
        OMP_NUM_THREADS=2 python3 -m licodec.train --out "$D/run-$r" --resume --steps 1 --export "$D/$r.safetensors" --export-fp16 >> "$D/train-$r.log" 2>&1 &
    done
    wait
    for r in $(runs); do echo "== $r"; tail -n 3 "$D/train-$r.log"; tail -n 1 "$D/run-$r/train.csv" 2>/dev/null; done
    local first=""
    if [ -n "${REFINE-}" ]; then  # the entropy side fitted to the coded rate (docs/training.md, "Entropy refinement")
        for r in $(runs); do
            python3 -m licodec.train.refine --init "$D/$r.safetensors" --data "$D/train" --out "$D/$r.refined.safetensors" \
                --device "${REFINE_DEVICE:-cuda}" --threads 4 $REFINE > "$D/refine-$r.log" 2>&1
            echo "== $r refined (exit $?)"; tail -n 9 "$D/refine-$r.log"
            first="$first $r.refined"
        done
    fi
    send $first $(runs)
    [ -n "$OUT" ] && tar czf "$OUT/logs.tgz" -C "$D" $(cd "$D" && ls -d train-*.log refine-*.log run-*/train.csv run-*/val.csv run-*/val-ema.csv bench*.md exactness.md 2>/dev/null)
}

watch() {  # watch SECONDS: until the runs end or SECONDS pass, each model's last log row every minute
    local end=$(( $(date +%s) + $1 )) m left
    while [ "$(date +%s)" -lt "$end" ] && [ ! -f "$D/phase-a-done" ]; do
        left=$(( end - $(date +%s) )); [ "$left" -gt 60 ] && left=60
        while [ "$left" -gt 0 ] && [ ! -f "$D/phase-a-done" ]; do sleep 2; left=$((left - 2)); done  # back at once when the runs end
        for r in $(runs); do echo "$(date +%T) $r: $(tail -n 1 "$D/run-$r/train.csv" 2>/dev/null)"; done
        nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
    done
}

cache() {  # one process decodes the images into the shared cache before the runs start
    python3 -c "import sys; from licodec.train.data import ImageCache, list_images; ImageCache(list_images(sys.argv[1]), sys.argv[2], progress=False)" "$D/train" "$D/cache"
}

case "${1:-}" in
send) shift; send "$@" ;;
stage) stage ;;
bench)
    stage
    { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; python3 -c "import torch; print('torch', torch.__version__)"; } | tee "$D/bench.md"
    for flags in "" "--channels-last --device-data"; do
        timeout 60 python3 benchmarks/bench_train.py --device cuda --data "$D/train" --cache-dir "$D/cache" --only 192:192:256,192:192:128 \
            --batch 16 --warmup 10 --steps 20 --blocks 5 $flags 2>&1 | tee -a "$D/bench.md"
    done
    [ -n "$OUT" ] && cp "$D/bench.md" "$OUT/"
    ;;
start)
    shift; secs=$1; shift
    stage
    cache
    echo "$secs $(date +%s)" > "$D/started"
    rm -f "$D/phase-a-done" "$D/stop"
    setsid bash -c "$(declare -f runs run_model train); D='$D' MODELS='$MODELS' VARIANTS='$VARIANTS' SPEED_FLAGS='$SPEED_FLAGS' PYTHONPATH='$PYTHONPATH' train $secs $*; touch '$D/phase-a-done'" > "$D/start.log" 2>&1 < /dev/null &
    watch "${WATCH:-45}"  # the run's first seconds, seen from here (the machine is held meanwhile anyway)
    if [ -d "$D/exact" ]; then OMP_NUM_THREADS=4 timeout 120 python3 tools/exactness.py check "$D/exact" 2>&1 | tee "$D/exactness.md"; [ -n "$OUT" ] && cp "$D/exactness.md" "$OUT/"; fi
    for r in $(runs); do echo "== $r"; tail -n 5 "$D/train-$r.log"; tail -n 2 "$D/run-$r/train.csv" 2>/dev/null; done
    ;;
collect)  # collect [SECONDS]: wait (at most SECONDS, default 580) for the runs that start began, export, send
    shift; secs=${1:-580}
    stage
    watch "$secs"
    [ -f "$D/phase-a-done" ] || { echo "== runs still going after ${secs}s: stopping them (SIGTERM: checkpoint)"; touch "$D/stop"; pkill -TERM -f '(^|/)python3 -m licodec.train --data'; while pgrep -f '(^|/)python3 -m licodec.train --data' >/dev/null; do sleep 1; done; }
    export_send
    ;;
finish)
    shift; secs=$1; shift
    stage
    while [ ! -f "$D/phase-a-done" ]; do sleep 2; done
    for r in $(runs); do echo "== $r (first part)"; tail -n 3 "$D/train-$r.log"; done
    train "$secs" "$@"
    export_send
    ;;
dry)  # the lease path on this machine's CPU with tiny data: stage, start (with the anneal), collect, reassemble, check
    set -e
    W=$(mktemp -d); export GPU_DATA=$W/data OUT=$W/out; mkdir -p "$OUT"
    python3 -c "import sys; sys.path.insert(0, '.'); from tests.train.conftest import write_images; from pathlib import Path; write_images(Path(sys.argv[1]), count=8); write_images(Path(sys.argv[2]), count=2, seed=99)" "$W/.gpu/train/p1" "$W/.gpu/val"
    R=$PWD; cd "$W"; ln -s "$R/licodec" licodec; ln -s "$R/tools" tools
    mkdir -p "$GPU_DATA"; touch "$GPU_DATA/built"
    small="-N 16 -M 16 --crop 64 --batch 2 --device cpu --threads 1 --val-images 2 --val-every 5 --log-every 5 --holdout 0 --warmup 0"
    # DRY_SPEED_FLAGS: the fast-step flags to try (default none; e.g. "--channels-last --device-data")
    # two variants side by side (the second with straight-through rounding), each annealed at its end
    export VARIANTS="base ste" VARIANT_ste="--decoder-rounding ste"
    WATCH=2 SPEED_FLAGS=${DRY_SPEED_FLAGS-} "$R/tools/gpu_train.sh" start 25 --anneal-seconds 8 --lr 1e-3 --steps 100000 $small
    REFINE="--holdout 1 --crops 4 --crop 64 --steps 2 --batch 2 --relative --coder-arithmetic" REFINE_DEVICE=cpu \
        SPEED_FLAGS=${DRY_SPEED_FLAGS-} "$R/tools/gpu_train.sh" collect 120
    for r in mbt2018.base mbt2018.ste; do
        { grep -q "annealing at step" "$GPU_DATA/train-$r.log" && tail -n 1 "$GPU_DATA/run-$r/train.csv" | grep -q ",0.0001,"; } \
            || { echo "dry run: $r did not anneal"; exit 1; }
        for f in $r $r.refined; do
            cat "$OUT/$f".safetensors.part-* > "$W/$f.safetensors"
            sha256sum "$W/$f.safetensors" "$W/data/$f.safetensors"
            cmp "$W/$f.safetensors" "$W/data/$f.safetensors"
        done
    done
    python3 -c "import sys; from licodec.train.checkpoint import load_entry; print('dry run: decoder rounding', *(load_entry(p, 'config')['decoder_rounding'] for p in sys.argv[1:]))" \
        "$GPU_DATA/run-mbt2018.base/checkpoint.safetensors" "$GPU_DATA/run-mbt2018.ste/checkpoint.safetensors"
    echo "dry run: annealed in the same run"
    python3 -c "import sys; from licodec.models.io import load_model; print('dry run: refined', *(load_model(p)[2]['entropy_refinement']['steps'] for p in sys.argv[1:]))" \
        "$W/mbt2018.base.refined.safetensors" "$W/mbt2018.ste.refined.safetensors"
    echo "dry run: reassembled export identical"
    rm -rf "$W"
    ;;
*)
    secs=$1; shift
    stage
    cache
    train "$secs" "$@"
    export_send
    ;;
esac
exit 0
