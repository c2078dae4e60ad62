"""Baseline, int8 transformer and cascade side by side: accuracy, throughput, latency, memory.

    python benchmarks/transformer_benchmark.py                      # newest bundle of each kind
    python benchmarks/transformer_benchmark.py --cascade cascade-2026... --threads 2

Each model is measured in its own fresh process, so its peak RSS is its own and the check
that serving never imports torch is honest. Printed per model:

- macro-F1 and per-class F1 on the chosen splits (default test, oot, cross_market);
- listings/s on titles alone (targets: int8 transformer >= 500/s on 2 threads);
- listings/s on a realistic mix of titles and title + description listings drawn from the
  test and cross_market splits (target: cascade >= 2,000/s), and the share the cascade
  routes to the transformer;
- single-listing latency p50 and p95 (target: p50 <= 20 ms);
- peak RSS of the process after loading the bundle and running the speed measurements
  (the sampled listings included; the accuracy pass over whole splits comes after).

Targets are printed next to the figures, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("baseline", "transformer", "cascade")


def sample_listings(dataset: Path, n_titles: int, n_mix: int, seed: int) -> tuple[list, list]:
    """Seeded ``(titles, mix)``: test titles alone, and test plus cross-market listings with
    their descriptions where they have one (the realistic mix)."""
    import pandas as pd

    from data.dataset import load_splits

    frames = load_splits(dataset, ["test", "cross_market"])
    rng = np.random.default_rng(seed)
    test = frames["test"]
    titles = test["title"].astype(str).to_numpy()[rng.permutation(len(test))[:n_titles]]
    both = pd.concat([frames["test"], frames["cross_market"]], ignore_index=True)
    rows = both.iloc[rng.permutation(len(both))[:n_mix]]
    mix = [{"title": t, "description": d if isinstance(d, str) else None}
           for t, d in zip(rows["title"], rows["description"], strict=True)]
    return [{"title": str(t)} for t in titles], mix


def _rate(clf, items: list, repeats: int = 1) -> float:
    clf.predict_proba(items[: min(64, len(items))])  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        clf.predict_proba(items)
    return repeats * len(items) / (time.perf_counter() - start)


def worker(args: argparse.Namespace) -> dict:
    """Measure one bundle in this process; a JSON-ready dict of figures."""
    from model.kinds import THREADS_ENV

    os.environ[THREADS_ENV] = str(args.threads)  # read when a transformer bundle loads
    from model import Classifier
    from training.transformer.metrics import split_metrics

    started = time.perf_counter()
    clf = Classifier.load(args.worker, args.models_dir)
    result: dict = {"bundle": clf.path.name, "kind": clf.config["kind"],
                    "load_s": round(time.perf_counter() - started, 2)}
    titles, mix = sample_listings(args.dataset, args.titles, args.mix, args.seed)
    result["titles_per_s"] = round(_rate(clf, titles))
    result["mix_per_s"] = round(_rate(clf, mix))
    if result["kind"] == "cascade":
        fast = clf.model.fast.predict_proba(clf.prepare(mix))
        result["mix_routed"] = round(float(clf.model.route(fast).mean()), 4)
    latencies = []
    for item in mix[: args.latency]:
        start = time.perf_counter()
        clf.predict([item])
        latencies.append(1000 * (time.perf_counter() - start))
    result["latency_p50_ms"] = round(float(np.percentile(latencies, 50)), 2)
    result["latency_p95_ms"] = round(float(np.percentile(latencies, 95)), 2)
    # before the accuracy pass below loads whole splits: the model, the runtime and the
    # sampled listings, which is what a serving process would hold
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if args.splits:
        from data.dataset import load_splits

        frames = load_splits(args.dataset, args.splits)
        result["metrics"] = {}
        for split, frame in frames.items():
            items = [{"title": t, "description": d if isinstance(d, str) else None}
                     for t, d in zip(frame["title"], frame["description"], strict=True)]
            proba = clf.predict_proba(items)
            y = frame["label"].map(clf.labels.label2id).to_numpy()
            m = split_metrics(y, proba, clf.labels)
            result["metrics"][split] = {
                "macro_f1": m["macro_f1"],
                "per_class_f1": {n: c["f1"] for n, c in m["per_class"].items() if c["support"]},
            }
    result["torch_imported"] = "torch" in sys.modules
    return result


def _print(results: list[dict], args: argparse.Namespace) -> None:
    print(f"threads={args.threads} titles={args.titles} mix={args.mix} "
          f"latency_n={args.latency} cpus={os.cpu_count()} "
          f"loadavg={os.getloadavg()[0]:.2f}")
    head = (f"{'kind':<12}{'titles/s':>10}{'mix/s':>10}{'routed':>8}{'p50 ms':>9}"
            f"{'p95 ms':>9}{'RSS MB':>8}  torch  bundle")
    print(head)
    for r in results:
        routed = f"{r['mix_routed']:.1%}" if "mix_routed" in r else "-"
        print(f"{r['kind']:<12}{r['titles_per_s']:>10}{r['mix_per_s']:>10}{routed:>8}"
              f"{r['latency_p50_ms']:>9}{r['latency_p95_ms']:>9}{r['peak_rss_mb']:>8}  "
              f"{'yes' if r['torch_imported'] else 'no ':<5}  {r['bundle']}")
    print("targets: transformer titles/s >= 500 on 2 threads; cascade mix/s >= 2000; "
          "p50 <= 20 ms")
    if not args.splits:
        return
    names = sorted({c for r in results for s in r["metrics"].values()
                    for c in s["per_class_f1"]})
    print()
    print(f"{'split':<14}{'kind':<12}{'macro-F1':>9}  " + "  ".join(f"{n:>11}" for n in names))
    for split in args.splits:
        for r in results:
            m = r["metrics"].get(split)
            if m is None:
                continue
            cells = "  ".join(f"{m['per_class_f1'][n]:>11.4f}" if n in m["per_class_f1"]
                              else f"{'-':>11}" for n in names)
            print(f"{split:<14}{r['kind']:<12}{m['macro_f1']:>9.4f}  {cells}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for kind in KINDS:
        parser.add_argument(f"--{kind}", default=kind,
                            help=f"{kind} bundle (default: newest {kind} bundle); '-' skips it")
    parser.add_argument("--models-dir", default=None, help="models folder (default as usual)")
    parser.add_argument("--dataset", type=Path, default=ROOT / "artifacts/data/default")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    parser.add_argument("--titles", type=int, default=2000, help="titles for the title rate")
    parser.add_argument("--mix", type=int, default=5000, help="listings for the mix rate")
    parser.add_argument("--latency", type=int, default=300, help="single-listing calls timed")
    parser.add_argument("--splits", default="test,oot,cross_market",
                        help="splits to score ('' for none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.splits = [s for s in args.splits.split(",") if s]
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    results = []
    for kind in KINDS:
        name = getattr(args, kind)
        if name == "-":
            continue
        cmd = [sys.executable, __file__, "--worker", name, "--dataset", str(args.dataset),
               "--threads", str(args.threads), "--titles", str(args.titles), "--mix",
               str(args.mix), "--latency", str(args.latency), "--splits",
               ",".join(args.splits), "--seed", str(args.seed)]
        if args.models_dir:
            cmd += ["--models-dir", args.models_dir]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{kind}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if not results:
        print("nothing measured", file=sys.stderr)
        return 1
    _print(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
