"""Text normalisation speed: microseconds per text over a built split's titles and descriptions.

    python benchmarks/normalise_benchmark.py                    # test split, 3 rounds
    python benchmarks/normalise_benchmark.py --split train --rounds 1

Normalisation runs on every listing the API, the scanner and training see (title and
description separately), so it is a fixed cost under every model. Descriptions are cut to
800 characters first, as ``model.text.listing_text`` does with its default limit. The
first round warms caches; the figure to quote is the best round.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from data.dataset import load_splits
    from model.text import DEFAULT_MAX_DESCRIPTION_CHARS, normalise

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=ROOT / "artifacts/data/default")
    parser.add_argument("--split", default="test")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    frame = load_splits(args.dataset, [args.split])[args.split]
    cut = 2 * DEFAULT_MAX_DESCRIPTION_CHARS
    texts = frame["title"].astype(str).tolist() + [
        d[:cut] for d in frame["description"] if isinstance(d, str)]
    mean_chars = sum(map(len, texts)) / max(1, len(texts))
    print(f"{len(texts):,} texts from {args.split} (titles and descriptions), "
          f"{mean_chars:.0f} characters on average")
    best = float("inf")
    for round_ in range(1, args.rounds + 1):
        start = time.perf_counter()
        for text in texts:
            normalise(text)
        per_text = 1e6 * (time.perf_counter() - start) / max(1, len(texts))
        best = min(best, per_text)
        print(f"round {round_}: {per_text:.1f} µs per text")
    print(f"best: {best:.1f} µs per text ({1e6 / best:,.0f} texts/s on one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
