"""How long a word-level explanation takes, per bundle, on the realistic mix of listings.

    python benchmarks/explain_benchmark.py --models default artifacts/exp/tS13r

Every model kind explains by word occlusion (``model/occlusion.py``): one extra scoring per
word it reads, all of a listing's variants in one call. The API waits ``explain_budget_s``
(0.25 s by default) for a request's explanations and answers ``timeout`` past it; this
prints, per bundle, the time one explanation takes (p50, p95, max) on seeded listings of
the test and cross-market splits (titles, and titles with descriptions where they have
one), the share that fits the API's default budget, and the words scored per listing.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.transformer_benchmark import sample_listings  # noqa: E402

API_BUDGET_S = 0.25  # serve/api/settings.py: explain_budget_s


def measure(name: str, listings: list[dict], args: argparse.Namespace) -> dict:
    """Time one explanation per listing for bundle ``name``; a JSON-ready dict."""
    from model import Classifier
    from model.explain import OK, explain

    clf = Classifier.load(name, args.models_dir)
    explain(clf, listings[0], top_k=10, time_budget_s=60)  # warm-up: pools, lazy weights
    seconds, words, failed = [], [], 0
    for listing in listings:
        [text] = clf.prepare([listing])
        start = time.perf_counter()
        result = explain(clf, listing, top_k=10, time_budget_s=60)
        seconds.append(time.perf_counter() - start)
        failed += result.status != OK
        readable = getattr(clf.model, "readable_words", None)
        words.append(readable(text) if readable else len(text.split()))
    ms = 1000 * np.asarray(seconds)
    return {"bundle": clf.path.name, "kind": clf.config["kind"], "listings": len(listings),
            "not_ok": failed, "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "max_ms": round(float(ms.max()), 2),
            "within_api_budget": round(float(np.mean(ms <= 1000 * API_BUDGET_S)), 4),
            "mean_words_scored": round(float(np.mean(words)), 1),
            "max_words_scored": int(max(words))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["default"],
                        help="bundles: names, paths, kinds or 'default'")
    parser.add_argument("--models-dir", default=None, help="models folder (default as usual)")
    parser.add_argument("--dataset", type=Path, default=ROOT / "artifacts/data/default")
    parser.add_argument("--listings", type=int, default=300, help="listings explained")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.listings < 1:
        parser.error(f"--listings must be at least 1, got {args.listings}")
    from model.kinds import THREADS_ENV

    os.environ[THREADS_ENV] = str(args.threads)  # read when a transformer bundle loads
    _, mix = sample_listings(args.dataset, 0, args.listings, args.seed)
    results = [measure(name, mix, args) for name in args.models]
    print(f"listings={len(mix)} threads={args.threads} cpus={os.cpu_count()} "
          f"loadavg={os.getloadavg()[0]:.2f}")
    print(f"{'kind':<12}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'≤ 0.25 s':>10}"
          f"{'words':>7}{'max':>5}{'not ok':>8}  bundle")
    for r in results:
        print(f"{r['kind']:<12}{r['p50_ms']:>9}{r['p95_ms']:>9}{r['max_ms']:>9}"
              f"{r['within_api_budget']:>10.1%}{r['mean_words_scored']:>7}"
              f"{r['max_words_scored']:>5}{r['not_ok']:>8}  {r['bundle']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
