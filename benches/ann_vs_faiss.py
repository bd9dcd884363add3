"""Similarity graph (all pairs with cosine >= threshold): amfast vs FAISS, usearch and numpy.

Same vectors for every tool: `--rows` unit vectors of `--dim` dimensions from a fixed seed, in
clusters (`--family-size` rows around one N(0, 1) centre plus N(0, `--noise`²) per component:
two members have cosine ≈ 1 - noise², 0.952 at the default 0.22, so pairs straddle the 0.95
threshold), or real embeddings from `--embeddings file.npy`. Generated vectors are written in
chunks to a memory-mapped `.npy` (`--dtype float16` halves it), so 10M rows fit.

Tools, each in its own subprocess (peak RSS from VmHWM; `--threads` via RAYON_NUM_THREADS,
OMP/OpenBLAS thread variables and `faiss.omp_set_num_threads`); a tool whose package is not
installed is reported as skipped:

- `amfast-clustered`: `similarity_graph(method="clustered", nprobe=--nprobe)` (k-means on a
  sample, N/1000 cells, exact blocked products with the rows of the nprobe nearest cells).
- `amfast-hnsw`: `similarity_graph(method="hnsw", quantization=f16)` (build + query + f32
  re-score + collapse of identical rows).
- `amfast-exact`: `similarity_graph(method="exact")` (blocked product; skipped above 100k rows).
- `numpy-ivf`: the same algorithm as amfast-clustered in numpy (BLAS): spherical k-means on
  the same sample size, the same cell count and nprobe, `Q @ B.T >= threshold` per cell.
- `faiss-ivf`: `IndexIVFFlat(d, N/1000, inner product)` trained on the same sample size,
  `nprobe`, `range_search(threshold)` (FAISS's IVF-flat).
- `faiss-hnsw`: `IndexHNSWFlat(d, 16, METRIC_INNER_PRODUCT)`, efConstruction 128, efSearch 128,
  `search(k=32)`, pairs >= threshold.
- `usearch-hnsw`: `usearch.index.Index(ndim=d, metric="ip", dtype="f32")` (M 16, efC 128,
  efS 128), batch `add` then `search(count=32)`, pairs >= threshold.
- `faiss-flat`: `IndexFlatIP.range_search(threshold)`: exact.

Ground truth: for generated vectors, every within-family pair at or above the threshold by
exact cosine (families are far apart: cross-family cosines are ≈ 0 ± 0.05, never near the
cut); for `--embeddings`, the pairs of faiss-flat or amfast-exact. Recall = share of the true
pairs a tool reports; false = reported pairs below the threshold by exact cosine.
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


CHUNK_ROWS = 250_000
SAMPLE_PER_CELL = 40  # amfast's kmeans::SAMPLE_PER_CELL, given to the IVF peers too
KMEANS_ITERATIONS = 8  # amfast's kmeans::ITERATIONS


def write_vectors(path: str, args: argparse.Namespace) -> np.ndarray:
    """Unit vectors in families around random centres (fixed seed), written chunk by chunk.

    Families are drawn per chunk of `CHUNK_ROWS` rows and shuffled within it, so memory stays
    at one chunk. Returns each row's family id.
    """
    rows, dim = args.rows, args.dim
    rng = np.random.default_rng(args.seed)
    family = np.empty(rows, dtype=np.int64)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=args.dtype, shape=(rows, dim))
    for start in range(0, rows, CHUNK_ROWS):
        count = min(CHUNK_ROWS, rows - start)
        local = rng.permutation(count) // args.family_size
        centres = rng.standard_normal((int(local.max()) + 1, dim), dtype=np.float32)
        chunk = centres[local] + args.noise * rng.standard_normal((count, dim), dtype=np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        out[start : start + count] = chunk
        family[start : start + count] = start + local
    out.flush()
    del out
    return family


def family_truth(vectors: np.ndarray, family: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    """Every within-family pair with exact cosine >= threshold."""
    order = np.argsort(family, kind="stable")
    bounds = np.flatnonzero(np.diff(family[order])) + 1
    truth: set[tuple[int, int]] = set()
    for members in np.split(order, bounds):
        if len(members) < 2:
            continue
        unit = vectors[np.sort(members)].astype(np.float32)
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        similarity = unit @ unit.T
        first, second = np.nonzero(np.triu(similarity >= threshold, k=1))
        ids = np.sort(members)
        truth.update(zip(ids[first].tolist(), ids[second].tolist(), strict=True))
    return truth


def kmeans_cells(vectors: np.ndarray, cells: int, nprobe: int) -> np.ndarray:
    """numpy (BLAS) spherical k-means like amfast's: `(N, nprobe)` nearest cells per row."""
    rows = len(vectors)
    sample = vectors[
        np.arange(min(rows, cells * SAMPLE_PER_CELL)) * rows // min(rows, cells * SAMPLE_PER_CELL)
    ].astype(np.float32)
    centroids = sample[np.arange(cells) * len(sample) // cells].copy()
    for _ in range(KMEANS_ITERATIONS):
        nearest = np.argmax(sample @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, nearest, sample)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        filled = norms[:, 0] > 0
        centroids[filled] = sums[filled] / norms[filled]
    ranked = np.empty((rows, nprobe), dtype=np.int64)
    for start in range(0, rows, 16_384):
        scores = vectors[start : start + 16_384].astype(np.float32) @ centroids.T
        top = np.argpartition(-scores, nprobe - 1, axis=1)[:, :nprobe]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        ranked[start : start + 16_384] = np.take_along_axis(top, order, axis=1)
    return ranked


def numpy_ivf(vectors: np.ndarray, threshold: float, nprobe: int) -> tuple[Any, Any]:
    """Pairs >= threshold from each cell's rows against the rows that probe it (BLAS)."""
    cells = max(1, len(vectors) // 1000)
    ranked = kmeans_cells(vectors, cells, nprobe)
    order = np.argsort(ranked[:, 0], kind="stable")
    bounds = np.searchsorted(ranked[order, 0], np.arange(cells + 1))
    extra_rows = np.repeat(np.arange(len(vectors)), nprobe - 1)
    extra_cells = ranked[:, 1:].ravel()
    extra_order = np.argsort(extra_cells, kind="stable")
    extra_bounds = np.searchsorted(extra_cells[extra_order], np.arange(cells + 1))
    lefts, rights = [], []
    for cell in range(cells):
        own = order[bounds[cell] : bounds[cell + 1]]
        if len(own) == 0:
            continue
        probing = extra_rows[extra_order[extra_bounds[cell] : extra_bounds[cell + 1]]]
        queries = np.concatenate([own, probing])
        base = vectors[own].astype(np.float32)
        first, second = np.nonzero(vectors[queries].astype(np.float32) @ base.T >= threshold)
        lefts.append(queries[first])
        rights.append(own[second])
    return np.concatenate(lefts), np.concatenate(rights)


def run_tool(tool: str, path: str, args: argparse.Namespace, out: str) -> None:
    """Runs one tool on the saved vectors and writes its pairs and timing (child process)."""
    vectors = np.load(path, mmap_mode="r")
    threshold, threads = args.threshold, args.threads
    started = time.perf_counter()
    if tool.startswith("amfast"):
        from amfast.dedup.semantic import similarity_graph

        method = tool.removeprefix("amfast-")
        graph = similarity_graph(
            vectors, threshold=threshold, method=method, nprobe=args.nprobe, num_threads=threads
        )
        left, right = graph.left, graph.right
    elif tool == "numpy-ivf":
        left, right = numpy_ivf(vectors, threshold, args.nprobe)
    elif tool == "usearch-hnsw":
        from usearch.index import Index

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = Index(
            ndim=vectors.shape[1],
            metric="ip",
            dtype="f32",
            connectivity=16,
            expansion_add=128,
            expansion_search=128,
        )
        index.add(np.arange(len(vectors)), vectors, threads=threads)
        found = index.search(vectors, 32, threads=threads)
        scores = 1.0 - found.distances
        keep = (scores >= threshold) & (found.keys < len(vectors))
        left = np.repeat(np.arange(len(vectors)), keep.sum(axis=1))
        right = found.keys[keep].astype(np.int64)
    else:
        import faiss

        faiss.omp_set_num_threads(threads)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        if tool in ("faiss-flat", "faiss-ivf"):
            if tool == "faiss-flat":
                index = faiss.IndexFlatIP(dim)
            else:
                cells = max(1, len(vectors) // 1000)
                index = faiss.IndexIVFFlat(
                    faiss.IndexFlatIP(dim), cells, faiss.METRIC_INNER_PRODUCT
                )
                index.cp.max_points_per_centroid = SAMPLE_PER_CELL
                index.cp.niter = KMEANS_ITERATIONS
                index.cp.spherical = True
                index.train(vectors)
                index.nprobe = args.nprobe
            index.add(vectors)
            limits, _, found = index.range_search(vectors, threshold)
            left = np.repeat(np.arange(len(vectors)), np.diff(limits).astype(np.int64))
            right = found
        else:
            index = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
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


PACKAGES = {"faiss": "faiss-cpu", "usearch": "usearch", "amfast": "amfast", "numpy": "numpy"}


def installed(tool: str) -> bool:
    """Whether the package a tool runs is importable."""
    import importlib.util

    return importlib.util.find_spec(tool.split("-")[0]) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--family-size", type=int, default=4)
    parser.add_argument("--noise", type=float, default=0.22)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--nprobe", type=int, default=2)
    parser.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--embeddings", help="real (N, d) float32 .npy instead of generated")
    parser.add_argument(
        "--tools",
        default="amfast-clustered,amfast-hnsw,amfast-exact,numpy-ivf,faiss-ivf,faiss-hnsw,"
        "usearch-hnsw,faiss-flat",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scratch", help="folder for the vectors (default: a temp folder)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_tool(args.child[0], args.child[1], args, args.child[2])
        return
    with tempfile.TemporaryDirectory(prefix="amfast-ann-bench-", dir=args.scratch) as scratch:
        path = str(Path(scratch) / "vectors.npy")
        family = None
        if args.embeddings:
            vectors = np.load(args.embeddings).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            np.save(path, np.ascontiguousarray(vectors, dtype=args.dtype))
        else:
            family = write_vectors(path, args)
        vectors = np.load(path, mmap_mode="r")
        tools = [tool for tool in args.tools.split(",") if tool]
        if len(vectors) > 100_000:
            tools = [tool for tool in tools if tool not in ("amfast-exact", "faiss-flat")]
        skipped = [tool for tool in tools if not installed(tool)]
        tools = [tool for tool in tools if tool not in skipped]
        results: dict[str, dict[str, Any]] = {}
        pairs: dict[str, set[tuple[int, int]]] = {}
        for tool in tools:
            out = str(Path(scratch) / tool)
            threads = str(args.threads)
            env = {
                **os.environ,
                "RAYON_NUM_THREADS": threads,
                "OMP_NUM_THREADS": threads,
                "OPENBLAS_NUM_THREADS": threads,
                "MKL_NUM_THREADS": threads,
            }
            command = [sys.executable, __file__, "--threshold", str(args.threshold)]
            command += ["--threads", threads, "--nprobe", str(args.nprobe)]
            command += ["--child", tool, path, out]
            subprocess.run(command, check=True, env=env)
            stored = np.load(out + ".npz")
            pairs[tool] = pair_set(stored["left"], stored["right"])
            results[tool] = json.loads(Path(out + ".json").read_text())
        if family is not None:
            truth_tool = "within-family exact"
            truth = family_truth(vectors, family, args.threshold)
        else:
            truth_tool = "faiss-flat" if "faiss-flat" in pairs else "amfast-exact"
            truth = pairs.get(truth_tool, set())
        print(f"rows {len(vectors):,}  dim {vectors.shape[1]}  {args.dtype}  ", end="")
        print(f"threshold {args.threshold}  nprobe {args.nprobe}  threads {args.threads}  ", end="")
        print(f"true pairs {len(truth):,} ({truth_tool})  load {os.getloadavg()[0]:.1f}")
        if skipped:
            print(f"skipped (not installed): {', '.join(skipped)}")
        print("\n| tool | seconds | rows/s | pairs | recall | false | peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for tool, result in results.items():
            found = pairs[tool]
            extra = np.array(sorted(found - truth), dtype=np.int64).reshape(-1, 2)
            similarity = np.einsum(
                "ij,ij->i",
                np.asarray(vectors[extra[:, 0]], dtype=np.float32),
                np.asarray(vectors[extra[:, 1]], dtype=np.float32),
            )
            result.update(
                pairs=len(found),
                recall=len(found & truth) / len(truth) if truth else 1.0,
                false=int((similarity < args.threshold - 1e-6).sum()),
            )
            print(
                f"| {tool} | {result['seconds']:.1f} | {len(vectors) / result['seconds']:,.0f} "
                f"| {len(found):,} | {result['recall']:.4f} | {result['false']} "
                f"| {result['peak_rss'] / 1e6:,.0f} |"
            )
    RESULTS_DIR.mkdir(exist_ok=True)
    report = {
        "args": vars(args),
        "skipped": skipped,
        "load_average": os.getloadavg(),
        "machine": machine_info(("amfast", "faiss-cpu", "usearch", "numpy")),
        "results": results,
    }
    target = RESULTS_DIR / f"ann_vs_faiss-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
