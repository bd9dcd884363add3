#!/usr/bin/env bash
# The GPU proof of issue 15, sized for under 10 minutes on one H100/H200 with PyTorch, no amfast
# and no network. Prepare here with `make gpu-prepare` (builds .gpu/: wheels and a data slice),
# carry .gpu to the GPU machine, and run this from the repository root there:
#   bash benches/gpu_check.sh [OUT]        # OUT: where the numbers go (default gpu-check-out)
# It prints and saves: SFT tokens/s and MFU at 8k and 32k on a Qwen2.5-0.5B-shaped model in bf16
# (benches/sft_throughput.py), GPU embedding throughput (all-MiniLM-L6-v2, fp16), and one recipe
# run (examples/demo_recipe.toml) with the transformers backend on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-check-out}
mkdir -p "$OUT"
SITE=/tmp/amfast-site
python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .gpu/wheels/*.whl
export PYTHONPATH="$SITE" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import amfast, torch; print('amfast', amfast.__version__, 'torch', torch.__version__)"

echo "== SFT throughput (Qwen2.5-0.5B shape, bf16)"
timeout 300 python3 benches/sft_throughput.py --shape qwen2.5-0.5b --seq-len 8192 32768 \
    --warmup 2 --steps 4 --work /tmp/sft-work --results-dir "$OUT" 2>&1 | tee "$OUT/sft.txt"

echo "== embedding throughput (all-MiniLM-L6-v2, fp16 on the GPU)"
timeout 120 python3 - "$OUT" <<'PY' 2>&1 | tee "$OUT/embed.txt"
import gzip, json, sys, time
import torch
from transformers import AutoConfig, AutoModel
from amfast.embed import SentenceTransformerEmbedder
# all-MiniLM-L6-v2's config and tokenizer with random weights of its shape (same cost per text).
torch.manual_seed(0)
AutoModel.from_config(AutoConfig.from_pretrained(".gpu/minilm")).save_pretrained(".gpu/minilm")
rows = [json.loads(l) for l in gzip.open(".gpu/data/math_problems_union.jsonl.gz", "rt")]
texts = [r["problem"] for r in rows][:50_000]
embedder = SentenceTransformerEmbedder(
    ".gpu/minilm", device="cuda", batch_size=512, dtype="float16", progress=False
)
embedder.embed(texts[:2048])  # warm-up
torch.cuda.synchronize(); start = time.perf_counter()
vectors = embedder.embed(texts)
torch.cuda.synchronize(); seconds = time.perf_counter() - start
result = {"texts": len(texts), "seconds": seconds, "texts_per_s": len(texts) / seconds,
          "shape": list(vectors.shape), "gpu": torch.cuda.get_device_name()}
print(json.dumps(result))
json.dump(result, open(f"{sys.argv[1]}/embed.json", "w"))
PY

echo "== one recipe run on the GPU (tiny random-weight model, transformers backend)"
python3 -m amfast.tiny_model demo-out/tiny-model .gpu/data/math/math_train.jsonl.gz
sed -e 's|../../shared/benchmarks|../.gpu/data|g' -e 's|device = "cpu"|device = "cuda"|' \
    examples/demo_recipe.toml > examples/gpu_recipe.toml
timeout 240 python3 -m amfast.cli.main run examples/gpu_recipe.toml --no-progress 2>&1 \
    | tee "$OUT/recipe.txt"
echo "done: numbers in $OUT/"
