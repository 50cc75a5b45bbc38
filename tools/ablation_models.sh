#!/usr/bin/env bash
# The ablation's 4,474-step models (docs/ablation.md) left the package on 2026-11-27: the
# package ships the default model only. Their files stay in the repository's history; this
# puts them back in a folder to use by name:
#
#   tools/ablation_models.sh [DIR]                       # default runs/ablation-models
#   LICODEC_MODEL_PATH=runs/ablation-models licodec models
set -eu
cd "$(dirname "$0")/.."
DIR=${1:-runs/ablation-models}
COMMIT=7a752fd  # the last commit with them in licodec/weights/
mkdir -p "$DIR"
for n in bmshj2018-hyperprior-vr192 mbt2018-mean-vr192 mbt2018-context-vr192 mbt2018-vr192-s4474; do
    git show "$COMMIT:licodec/weights/$n.safetensors" > "$DIR/$n.safetensors.tmp"
    mv "$DIR/$n.safetensors.tmp" "$DIR/$n.safetensors"
    cp "docs/ablation/models/$n.json" "$DIR/$n.json"
done
echo "4 models in $DIR: LICODEC_MODEL_PATH=$DIR"
