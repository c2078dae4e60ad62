"""Baseline throughput (listings/s in batch) and single-listing latency on this machine.

    python benchmarks/baseline_throughput.py [--model baseline] [--rows 20000]

Listings are drawn from the built dataset's test split (titles with descriptions where the
source has them, i.e. a realistic mix), and also as titles only. Prints the figures and,
with --json, writes them to a file. Target (2 cores): >= 5,000 listings/s in batch.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from data.dataset import dataset_dir
from model import Classifier

_worker_classifier: Classifier | None = None


def _init_worker(model: str) -> None:
    global _worker_classifier
    _worker_classifier = Classifier.load(model)


def _score(chunk: list[dict]) -> int:
    """What :func:`batch_rate` times for one batch: scores, then decisions."""
    assert _worker_classifier is not None
    _worker_classifier.decide(_worker_classifier.predict_proba(chunk))
    return len(chunk)


def batch_rate(classifier: Classifier, listings: list[dict], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(listings), batch):
        proba = classifier.predict_proba(listings[i : i + batch])
        classifier.decide(proba)
    return len(listings) / (time.perf_counter() - started)


def parallel_rate(model: str, listings: list[dict], batch: int, workers: int) -> float:
    chunks = [listings[i : i + batch] for i in range(0, len(listings), batch)]
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(model,)) as pool:
        list(pool.map(_score, chunks[:workers]))  # warm-up: load the bundle in each worker
        started = time.perf_counter()
        done = sum(pool.map(_score, chunks))
    return done / (time.perf_counter() - started)


def latencies_ms(classifier: Classifier, listings: list[dict], n: int) -> list[float]:
    out = []
    for listing in listings[:n]:
        started = time.perf_counter()
        classifier.predict([listing])
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="baseline")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    classifier = Classifier.load(args.model)
    test = pd.read_parquet(dataset_dir(args.dataset) / "test.parquet")
    sample = test.sample(min(args.rows, len(test)), random_state=0)
    mixed = [
        {"title": t, "description": d if isinstance(d, str) else None}
        for t, d in zip(sample["title"], sample["description"], strict=True)
    ]
    titles = [{"title": t} for t in sample["title"]]
    batch_rate(classifier, mixed[:2000], args.batch)  # warm-up

    figures = {
        "model": classifier.version,
        "rows": len(mixed),
        "cpu_count": os.cpu_count(),
        "mean_chars_mixed": float(np.mean([len(x["title"]) + len(x["description"] or "")
                                           for x in mixed])),
        "batch": args.batch,
        "listings_per_s_one_process_mixed": batch_rate(classifier, mixed, args.batch),
        "listings_per_s_one_process_titles": batch_rate(classifier, titles, args.batch),
        f"listings_per_s_{args.workers}_processes_mixed": parallel_rate(
            args.model, mixed, args.batch, args.workers),
        f"listings_per_s_{args.workers}_processes_titles": parallel_rate(
            args.model, titles, args.batch, args.workers),
    }
    single = latencies_ms(classifier, mixed, 500)
    figures.update(
        latency_ms_p50=statistics.median(single),
        latency_ms_p95=float(np.percentile(single, 95)),
        latency_ms_p99=float(np.percentile(single, 99)),
        # this process holds the test split and the listings besides the model; each worker
        # of the parallel figures holds only the model and its batches
        peak_rss_mib_main_process=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        peak_rss_mib_largest_worker=resource.getrusage(
            resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        load_average_1m=os.getloadavg()[0],
    )
    for key, value in figures.items():
        print(f"{key:42s} {value:,.1f}" if isinstance(value, float) else f"{key:42s} {value}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
