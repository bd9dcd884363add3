"""Similarity graph (all pairs with cosine >= threshold): amfast (usearch HNSW) vs FAISS.

Same vectors for every tool: `--rows` unit vectors of `--dim` dimensions from a fixed seed, in
clusters (`--family-size` rows around one N(0, 1) centre plus N(0, `--noise`²) per component:
two members have cosine ≈ 1 - noise², 0.952 at the default 0.22, so pairs straddle the 0.95
threshold), or real embeddings from `--embeddings file.npy`.

Tools, each in its own subprocess (peak RSS from VmHWM; `--threads` via RAYON_NUM_THREADS
/ `faiss.omp_set_num_threads`):

- `amfast-hnsw`: `similarity_graph(method="hnsw", quantization=f16)` (build + query + f32
  re-score + collapse of identical rows).
- `amfast-exact`: `similarity_graph(method="exact")` (blocked product; skipped above 100k rows).
- `faiss-hnsw`: `IndexHNSWFlat(d, 16, METRIC_INNER_PRODUCT)`, efConstruction 128, efSearch 128,
  `search(k=32)`, pairs >= threshold.
- `faiss-flat`: `IndexFlatIP.range_search(threshold)`: exact; its pairs are the ground truth.

Recall = share of ground-truth pairs a tool reports; false = reported pairs below the threshold
by exact cosine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from machine import REPO, machine_info

RESULTS_DIR = REPO / "benches" / "results"


def make_vectors(rows: int, dim: int, family_size: int, noise: float, seed: int) -> np.ndarray:
    """Unit vectors in families around random centres (fixed seed)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((rows // family_size + 1, dim), dtype=np.float32)
    vectors = centres[np.arange(rows) // family_size]
    vectors += noise * rng.standard_normal((rows, dim), dtype=np.float32)
    vectors = vectors[rng.permutation(rows)]
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def run_tool(tool: str, path: str, threshold: float, threads: int, out: str) -> None:
    """Runs one tool on the saved vectors and writes its pairs and timing (child process)."""
    vectors = np.load(path)
    started = time.perf_counter()
    if tool.startswith("amfast"):
        from amfast.dedup.semantic import similarity_graph

        method = "exact" if tool == "amfast-exact" else "hnsw"
        graph = similarity_graph(vectors, threshold=threshold, method=method, num_threads=threads)
        left, right = graph.left, graph.right
    else:
        import faiss

        faiss.omp_set_num_threads(threads)
        if tool == "faiss-flat":
            index = faiss.IndexFlatIP(vectors.shape[1])
            index.add(vectors)
            limits, _, found = index.range_search(vectors, threshold)
            left = np.repeat(np.arange(len(vectors)), np.diff(limits).astype(np.int64))
            right = found
        else:
            index = faiss.IndexHNSWFlat(vectors.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 128
            index.add(vectors)
            index.hnsw.efSearch = 128
            scores, found = index.search(vectors, 32)
            keep = (scores >= threshold) & (found >= 0)
            left = np.repeat(np.arange(len(vectors)), keep.sum(axis=1))
            right = found[keep]
        keep = left != right
        left, right = np.minimum(left, right)[keep], np.maximum(left, right)[keep]
    seconds = time.perf_counter() - started
    np.savez(out, left=left, right=right, seconds=seconds)
    # VmHWM, not ru_maxrss: the latter survives exec, so it would include the parent's peak.
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    Path(out + ".json").write_text(json.dumps({"seconds": seconds, "peak_rss": peak}))


def pair_set(left: np.ndarray, right: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(left.tolist(), right.tolist(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--family-size", type=int, default=4)
    parser.add_argument("--noise", type=float, default=0.22)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--embeddings", help="real (N, d) float32 .npy instead of generated")
    parser.add_argument("--tools", default="amfast-hnsw,amfast-exact,faiss-hnsw,faiss-flat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_tool(args.child[0], args.child[1], args.threshold, args.threads, args.child[2])
        return
    with tempfile.TemporaryDirectory(prefix="amfast-ann-bench-") as scratch:
        path = str(Path(scratch) / "vectors.npy")
        if args.embeddings:
            vectors = np.load(args.embeddings).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        else:
            vectors = make_vectors(args.rows, args.dim, args.family_size, args.noise, args.seed)
        np.save(path, np.ascontiguousarray(vectors, dtype=np.float32))
        tools = args.tools.split(",")
        if len(vectors) > 100_000 and "amfast-exact" in tools:
            tools.remove("amfast-exact")
        results: dict[str, dict[str, Any]] = {}
        pairs: dict[str, set[tuple[int, int]]] = {}
        for tool in tools:
            out = str(Path(scratch) / tool)
            env = {**os.environ, "RAYON_NUM_THREADS": str(args.threads)}
            command = [sys.executable, __file__, "--threshold", str(args.threshold)]
            command += ["--threads", str(args.threads), "--child", tool, path, out]
            subprocess.run(command, check=True, env=env)
            stored = np.load(out + ".npz")
            pairs[tool] = pair_set(stored["left"], stored["right"])
            results[tool] = json.loads(Path(out + ".json").read_text())
        truth_tool = "faiss-flat" if "faiss-flat" in pairs else "amfast-exact"
        truth = pairs.get(truth_tool, set())
        unit = vectors.astype(np.float32)
        print(
            f"rows {len(vectors):,}  dim {vectors.shape[1]}  threshold {args.threshold}  ", end=""
        )
        print(f"threads {args.threads}  true pairs {len(truth):,} ({truth_tool})\n")
        print("| tool | seconds | rows/s | pairs | recall | false | peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for tool, result in results.items():
            found = pairs[tool]
            false = sum(
                1 for a, b in found - truth if float(unit[a] @ unit[b]) < args.threshold - 1e-6
            )
            result.update(
                pairs=len(found),
                recall=len(found & truth) / len(truth) if truth else 1.0,
                false=false,
            )
            print(
                f"| {tool} | {result['seconds']:.1f} | {len(vectors) / result['seconds']:,.0f} "
                f"| {len(found):,} | {result['recall']:.4f} | {false} "
                f"| {result['peak_rss'] / 1e6:,.0f} |"
            )
    RESULTS_DIR.mkdir(exist_ok=True)
    report = {
        "args": vars(args),
        "machine": machine_info(("amfast", "faiss-cpu", "numpy")),
        "results": results,
    }
    target = RESULTS_DIR / f"ann_vs_faiss-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
