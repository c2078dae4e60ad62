"""The cascade model kind: a fast model answers what it is sure of, a slow one the rest.

The baseline scores every listing; listings whose highest class probability is at least the
cut keep the baseline's answer, the others are scored again by the transformer, whose
probabilities are blended with the baseline's (``slow_weight`` × transformer + the rest ×
baseline; 1.0 = the transformer alone). The cut and the weight are chosen on validation data
at build time (``training.transformer.cascade``). Each sub-model
lives in its own sub-folder of the bundle and is loaded by its own kind class:

    cascade.json        {"cut": 0.9, "slow_weight": 0.5, "parts": {"baseline": ..., ...}}
    baseline/...        the fast model's files
    transformer/...     the slow model's files
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.bundle import BundleError
from model.kinds import kind_class
from model.occlusion import LOG_ODDS, log_odds_contributions

CASCADE_FILE = "cascade.json"
FAST, SLOW = "baseline", "transformer"


class CascadeModel:
    kind = "cascade"
    contribution_unit = LOG_ODDS

    def __init__(self, fast: Any, slow: Any, cut: float, slow_weight: float = 1.0) -> None:
        if not 0.0 <= cut <= 1.0:
            raise ValueError(f"the cascade cut must be within [0, 1], got {cut}")
        if not 0.0 < slow_weight <= 1.0:
            raise ValueError(f"the cascade's slow_weight must be within (0, 1], got {slow_weight}")
        self.fast = fast
        self.slow = slow
        self.cut = float(cut)
        self.slow_weight = float(slow_weight)

    def blend(self, fast_proba: np.ndarray, slow_proba: np.ndarray) -> np.ndarray:
        """Scores for routed listings: the transformer's, blended with the baseline's."""
        w = self.slow_weight
        return slow_proba if w == 1.0 else w * slow_proba + (1.0 - w) * fast_proba

    def route(self, fast_proba: np.ndarray) -> np.ndarray:
        """True where the fast model is not sure enough and the slow one must answer."""
        if len(fast_proba) == 0:
            return np.zeros(0, dtype=bool)
        return fast_proba.max(axis=1) < self.cut

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        proba = np.array(self.fast.predict_proba(texts), dtype=np.float64)
        routed = np.flatnonzero(self.route(proba))
        if len(routed):
            slow = np.asarray(self.slow.predict_proba([texts[i] for i in routed]))
            if slow.shape != (len(routed), proba.shape[1]):
                raise BundleError(
                    f"the cascade's {SLOW} returned shape {slow.shape}; the {FAST} has "
                    f"{proba.shape[1]} classes"
                )
            proba[routed] = self.blend(proba[routed], slow)
        return proba

    def token_contributions(self, text: str, class_id: int) -> list[tuple[str, float]]:
        """Each word's effect on the class's log-odds as the cascade serves it (each variant
        routed on its own), with the word minus without it (``model.occlusion``)."""
        return log_odds_contributions(text, self.predict_proba, class_id)

    def save(self, directory: str | os.PathLike) -> list[str]:
        directory = Path(directory)
        written = []
        for name, part in ((FAST, self.fast), (SLOW, self.slow)):
            sub = directory / name
            sub.mkdir(parents=True, exist_ok=False)
            written += [f"{name}/{f}" for f in part.save(sub)]
        meta = {"cut": self.cut, "slow_weight": self.slow_weight,
                "parts": {FAST: self.fast.kind, SLOW: self.slow.kind}}
        (directory / CASCADE_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return [*written, CASCADE_FILE]

    @classmethod
    def load(cls, directory: str | os.PathLike, config: dict[str, Any]) -> CascadeModel:
        directory = Path(directory)
        try:
            meta = json.loads((directory / CASCADE_FILE).read_text(encoding="utf-8"))
            cut = float(meta["cut"])
            slow_weight = float(meta.get("slow_weight", 1.0))  # bundles before blending
            kinds = {name: str(meta["parts"][name]) for name in (FAST, SLOW)}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"{directory / CASCADE_FILE} is missing or invalid: {exc}") from exc
        if "cascade" in kinds.values():
            raise BundleError(f"{directory}: a cascade cannot contain another cascade")
        parts = {
            name: kind_class(kind).load(directory / name, {**config, "kind": kind})
            for name, kind in kinds.items()
        }
        return cls(parts[FAST], parts[SLOW], cut, slow_weight)
