"""Similarity graph (all pairs with cosine >= threshold): amfast vs FAISS, usearch and numpy.

Same vectors for every tool: `--rows` unit vectors of `--dim` dimensions from a fixed seed, in
clusters (`--family-size` rows around one N(0, 1) centre plus N(0, `--noise`²) per component:
two members have cosine ≈ 1 - noise², 0.952 at the default 0.22, so pairs straddle the 0.95
threshold), or real embeddings from `--embeddings file.npy`. Generated vectors are written in
chunks to a memory-mapped `.npy` (`--dtype float16` halves it), so 10M rows fit.

Each tool is swept over its speed/recall knob, cheapest configuration first, and a sweep stops
at the first configuration that reaches `--target` recall (0.999); the summary compares each
tool's cheapest configuration at the target, as a ratio to the fastest peer's, all from the same
run. Every configuration runs in its own subprocess (peak RSS from VmHWM; `--threads` via
RAYON_NUM_THREADS, OMP/OpenBLAS thread variables and `faiss.omp_set_num_threads`); a tool whose
package is not installed is reported as skipped:

- `amfast-clustered`: `similarity_graph(method="clustered", probe_margin=m, nprobe=--max-probes)`
  for m in `--margins` (k-means on a sample, 2·√N cells, exact blocked products with the rows
  of the nearest cell and of every further cell within m of it).
- `amfast-ray`: the same clustered graph as `amfast clean --engine ray` builds it: cells planned
  in the process, swept as Ray tasks (`similarity_graph_on_ray`, 4 groups per CPU of a local Ray
  of `--threads` CPUs started before the clock), edges merged.
- `amfast-hnsw`: `similarity_graph(method="hnsw", quantization=f16)`, efSearch in `--efs`.
- `amfast-exact`: `similarity_graph(method="exact")` (blocked product; skipped above 100k rows).
- `numpy-ivf`: k-means cells + exact `Q @ B.T >= threshold` per cell in numpy (BLAS), `--nprobes`
  nearest cells, N / `--rows-per-cell` cells, amfast's sample size and iterations.
- `faiss-ivf`: `IndexIVFFlat(quantizer, d, N / rows-per-cell, inner product)` trained on the
  same sample size, `nprobe` in `--nprobes`, `range_search(threshold)` (FAISS's IVF-flat).
- `faiss-hnsw`: `IndexHNSWFlat(d, 16, METRIC_INNER_PRODUCT)`, efConstruction 128, efSearch in
  `--efs`, `search(k=32)`, pairs >= threshold.
- `usearch-hnsw`: `usearch.index.Index(ndim=d, metric="ip", dtype="f32")` (M 16, efC 128,
  efSearch in `--efs`), batch `add` then `search(count=32)`, pairs >= threshold.
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


def numpy_ivf(vectors: np.ndarray, threshold: float, nprobe: int, cells: int) -> tuple[Any, Any]:
    """Pairs >= threshold from each cell's rows against the rows that probe it (BLAS)."""
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


def run_tool(
    tool: str, path: str, config: dict[str, Any], args: argparse.Namespace, out: str
) -> None:
    """Runs one configuration of one tool on the saved vectors; writes its pairs and timing."""
    vectors = np.load(path, mmap_mode="r")
    threshold, threads = args.threshold, args.threads
    if tool == "amfast-ray":
        import ray

        # A local Ray of `threads` CPUs, started before the clock (a cluster is already up).
        ray.init(num_cpus=threads, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter()
    if tool == "amfast-ray":
        from amfast.clean.engines.ray import similarity_graph_on_ray

        vectors = np.ascontiguousarray(vectors)
        graph = similarity_graph_on_ray(
            ray, vectors, threshold=threshold, plan_threads=threads, **config
        )
        left, right = graph.left, graph.right
    elif tool.startswith("amfast"):
        from amfast.dedup.semantic import similarity_graph

        method = tool.removeprefix("amfast-")
        graph = similarity_graph(
            vectors, threshold=threshold, method=method, num_threads=threads, **config
        )
        left, right = graph.left, graph.right
    elif tool == "numpy-ivf":
        left, right = numpy_ivf(vectors, threshold, config["nprobe"], config["cells"])
    elif tool == "usearch-hnsw":
        from usearch.index import Index

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = Index(
            ndim=vectors.shape[1],
            metric="ip",
            dtype="f32",
            connectivity=16,
            expansion_add=128,
            expansion_search=config["ef"],
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
                index = faiss.IndexIVFFlat(
                    faiss.IndexFlatIP(dim), dim, config["cells"], faiss.METRIC_INNER_PRODUCT
                )
                index.cp.max_points_per_centroid = SAMPLE_PER_CELL
                index.cp.niter = KMEANS_ITERATIONS
                index.cp.spherical = True
                index.train(vectors)
                index.nprobe = config["nprobe"]
            index.add(vectors)
            limits, _, found = index.range_search(vectors, threshold)
            left = np.repeat(np.arange(len(vectors)), np.diff(limits).astype(np.int64))
            right = found
        else:
            index = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 128
            index.add(vectors)
            index.hnsw.efSearch = config["ef"]
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


def sweeps(tool: str, rows: int, args: argparse.Namespace) -> list[list[dict[str, Any]]]:
    """The configurations of `tool`, as sweeps ordered cheapest first (a sweep stops at the
    first configuration that reaches the target recall: later ones only cost more)."""
    if tool in ("amfast-clustered", "amfast-ray"):
        return [
            [
                {"nprobe": args.max_probes, "probe_margin": margin, "cells": None}
                for margin in args.margins
            ]
        ]
    if tool in ("numpy-ivf", "faiss-ivf"):
        return [
            [{"nprobe": nprobe, "cells": max(1, rows // per_cell)} for nprobe in args.nprobes]
            for per_cell in args.rows_per_cell
        ]
    if tool in ("amfast-hnsw",):
        return [[{"expansion_search": ef} for ef in args.efs]]
    if tool in ("faiss-hnsw", "usearch-hnsw"):
        return [[{"ef": ef} for ef in args.efs]]
    return [[{}]]


def pair_set(left: np.ndarray, right: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(left.tolist(), right.tolist(), strict=True))


PACKAGES = {
    "faiss": "faiss-cpu",
    "usearch": "usearch",
    "amfast": "amfast",
    "ray": "ray",
    "numpy": "numpy",
}


def installed(tool: str) -> bool:
    """Whether the package a tool runs is importable."""
    import importlib.util

    packages = ["ray", "amfast"] if tool == "amfast-ray" else [tool.split("-")[0]]
    return all(importlib.util.find_spec(package) is not None for package in packages)


def floats(text: str) -> list[float]:
    return [float(value) for value in text.split(",") if value]


def ints(text: str) -> list[int]:
    return [int(value) for value in text.split(",") if value]


def label(config: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in config.items()) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--family-size", type=int, default=4)
    parser.add_argument("--noise", type=float, default=0.22)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--target", type=float, default=0.999, help="recall to reach")
    parser.add_argument(
        "--margins",
        type=floats,
        default=floats("0.02,0.025,0.03,0.035,0.04,0.05,0.06"),
        help="amfast-clustered probe margins swept (ascending)",
    )
    parser.add_argument(
        "--max-probes", type=int, default=32, help="amfast-clustered nprobe (a cap with margins)"
    )
    parser.add_argument(
        "--nprobes", type=ints, default=ints("2,4,8,12,16,24,32"), help="IVF peers' nprobe sweep"
    )
    parser.add_argument(
        "--rows-per-cell", type=ints, default=ints("1000,250"), help="IVF peers' rows per cell"
    )
    parser.add_argument("--efs", type=ints, default=ints("128,256,512"), help="HNSW efSearch sweep")
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
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, path, config, out = args.child
        run_tool(tool, path, json.loads(config), args, out)
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
        if family is not None:
            truth_tool = "within-family exact"
            truth = family_truth(vectors, family, args.threshold)
        else:
            truth_tool = "faiss-flat" if "faiss-flat" in tools else "amfast-exact"
            tools.sort(key=lambda tool: tool != truth_tool)  # the truth first
            truth = set()
        print(f"rows {len(vectors):,}  dim {vectors.shape[1]}  {args.dtype}  ", end="")
        print(f"threshold {args.threshold}  target recall {args.target}  ", end="")
        print(f"threads {args.threads}  load {os.getloadavg()[0]:.1f}")
        if skipped:
            print(f"skipped (not installed): {', '.join(skipped)}")
        print("\n| tool | configuration | seconds | pairs | recall | false | peak RSS MB |")
        print("|---|---|---:|---:|---:|---:|---:|")
        results: list[dict[str, Any]] = []
        for tool in tools:
            for sweep in sweeps(tool, len(vectors), args):
                for config in sweep:
                    result = run_config(tool, config, path, scratch, args)
                    found = result.pop("found")
                    if not truth and tool == truth_tool:
                        truth = found
                    extra = np.array(sorted(found - truth), dtype=np.int64).reshape(-1, 2)
                    similarity = np.einsum(
                        "ij,ij->i",
                        np.asarray(vectors[extra[:, 0]], dtype=np.float32),
                        np.asarray(vectors[extra[:, 1]], dtype=np.float32),
                    )
                    result.update(
                        tool=tool,
                        config=config,
                        pairs=len(found),
                        recall=len(found & truth) / len(truth) if truth else 1.0,
                        false=int((similarity < args.threshold - 1e-6).sum()),
                        load=os.getloadavg()[0],
                    )
                    results.append(result)
                    print(
                        f"| {tool} | {label(config)} | {result['seconds']:.1f} "
                        f"| {len(found):,} | {result['recall']:.4f} | {result['false']} "
                        f"| {result['peak_rss'] / 1e6:,.0f} |",
                        flush=True,
                    )
                    if result["recall"] >= args.target:
                        break
        print(f"\n({len(truth):,} true pairs: {truth_tool}; load now {os.getloadavg()[0]:.1f})")
        cheapest: dict[str, dict[str, Any]] = {}
        for result in results:
            if result["recall"] >= args.target and (
                result["tool"] not in cheapest
                or result["seconds"] < cheapest[result["tool"]]["seconds"]
            ):
                cheapest[result["tool"]] = result
        peers = [result for tool, result in cheapest.items() if not tool.startswith("amfast")]
        fastest = min(peers, key=lambda result: result["seconds"]) if peers else None
        print(f"\nCheapest configuration per tool at recall >= {args.target}", end="")
        print(f" (ratio: seconds / fastest peer {fastest['tool']})" if fastest else "")
        print("\n| tool | configuration | seconds | recall | ratio |\n|---|---|---:|---:|---:|")
        for tool in tools:
            if tool not in cheapest:
                print(f"| {tool} | not reached | - | - | - |")
                continue
            result = cheapest[tool]
            ratio = f"{result['seconds'] / fastest['seconds']:.2f}" if fastest else "-"
            print(
                f"| {tool} | {label(result['config'])} | {result['seconds']:.1f} "
                f"| {result['recall']:.4f} | {ratio} |"
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


def run_config(
    tool: str, config: dict[str, Any], path: str, scratch: str, args: argparse.Namespace
) -> dict[str, Any]:
    """One configuration in its own subprocess: seconds, peak RSS and the pair set."""
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
    command += ["--threads", threads, "--child", tool, path, json.dumps(config), out]
    subprocess.run(command, check=True, env=env)
    stored = np.load(out + ".npz")
    result: dict[str, Any] = json.loads(Path(out + ".json").read_text())
    result["found"] = pair_set(stored["left"], stored["right"])
    return result


if __name__ == "__main__":
    main()
