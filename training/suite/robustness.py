"""How much macro-F1 a bundle loses when the test listings are obfuscated.

Every perturbation in :mod:`training.suite.perturb` is applied to the raw title and
description of each test row; the perturbed listing then goes through the bundle's own
``prepare`` (so ``model.text.normalise`` can undo what it knows how to), and the drop in
macro-F1 against the clean rows, prepared the same way, is reported in points (× 100).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd

from model import Classifier
from model.text import normalise
from training.metrics import to_ids
from training.suite.common import listings_of, rounded, score
from training.suite.perturb import PERTURBATIONS, perturb_listing

# Shown in the report to illustrate each perturbation (written for this project, not data).
DEMO_TEXT = "Cocaine 1g 90% pure - stealth shipping worldwide"


def perturbed_listings(listings: list[dict[str, Any]], name: str,
                       seed: int) -> list[dict[str, Any]]:
    """``listings`` with perturbation ``name``; row ``i`` always gets the same random draw."""
    out = []
    for i, item in enumerate(listings):
        rng = random.Random(f"{seed}:{name}:{i}")
        title, description = perturb_listing(item["title"], item["description"], name, rng)
        out.append({"title": title, "description": description})
    return out


def examples(seed: int = 0) -> dict[str, dict[str, str]]:
    """The demo text under each perturbation and what normalisation makes of it."""
    result = {}
    for name, fn in PERTURBATIONS.items():
        perturbed = fn(DEMO_TEXT, random.Random(f"{seed}:{name}:demo"))
        result[name] = {"perturbed": perturbed, "normalised": normalise(perturbed)}
    return result


def robustness_suite(
    classifier: Classifier,
    frame: pd.DataFrame,
    *,
    seed: int = 0,
    names: list[str] | None = None,
) -> dict[str, Any]:
    """Clean and perturbed macro-F1 on ``frame`` (rows with title, description, label)."""
    labels = classifier.labels
    names = names or list(PERTURBATIONS)
    listings = listings_of(frame)
    y = to_ids(frame["label"], labels)
    clean_proba = classifier.predict_proba(listings)
    clean = score(y, clean_proba, labels)
    clean_pred = clean_proba.argmax(axis=1)
    results: dict[str, Any] = {}
    for name in names:
        proba = classifier.predict_proba(perturbed_listings(listings, name, seed))
        metrics = score(y, proba, labels)
        results[name] = {
            "macro_f1": rounded(metrics["macro_f1"]),
            "drop_points": rounded(100 * (clean["macro_f1"] - metrics["macro_f1"]), 2),
            "flip_rate": rounded(float(np.mean(proba.argmax(axis=1) != clean_pred))),
            "per_class_f1": {n: rounded(c["f1"]) for n, c in metrics["per_class"].items()
                             if c["support"]},
        }
    worst = max(results.items(), key=lambda kv: kv[1]["drop_points"], default=(None, None))
    return {
        "rows": len(frame),
        "seed": seed,
        "clean": {
            "macro_f1": rounded(clean["macro_f1"]),
            "per_class_f1": {n: rounded(c["f1"]) for n, c in clean["per_class"].items()
                             if c["support"]},
        },
        "perturbations": results,
        "worst": worst[0],
        "max_drop_points": worst[1]["drop_points"] if worst[1] else 0.0,
        "examples": examples(seed),
    }


def headline(result: dict[str, Any]) -> dict[str, float]:
    out = {"robustness.clean_macro_f1": result["clean"]["macro_f1"]}
    for name, r in result["perturbations"].items():
        out[f"robustness.{name}.drop_points"] = r["drop_points"]
    return out
