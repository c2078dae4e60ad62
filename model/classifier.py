"""``Classifier``: the whole product behind one line.

    Classifier.load("default").predict(["Glock 19 + 2 mags"])
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model import registry
from model.bundle import CARD_FILE, BundleError, finalise_bundle, verify_bundle
from model.kinds import kind_class
from model.labels import LabelSet
from model.priors import (
    AUTO,
    PriorAdaptation,
    adapter,
    recorded_source_prior,
    reweighted,
    target_weights,
)
from model.text import DEFAULT_MAX_DESCRIPTION_CHARS, listing_text
from model.thresholds import ClassThresholds, decide, parse_thresholds


@dataclass(frozen=True)
class BundleInfo:
    """A verified bundle's description, from :meth:`Classifier.inspect`."""

    path: Path
    config: dict[str, Any]
    labels: LabelSet

    @property
    def version(self) -> str:
        return str(self.config["version"])


@dataclass(frozen=True)
class Listing:
    """One marketplace listing: a title and, where the source has one, a description.

    ``market`` names the marketplace it comes from, where the caller knows it: a server
    that tracks each marketplace's class mix (:mod:`model.market_mix`) corrects the scores
    of its listings to it. The model itself never reads it."""

    title: str
    description: str | None = None
    id: str | None = None
    market: str | None = None

    @classmethod
    def coerce(cls, item: str | Listing | Mapping[str, Any]) -> Listing:
        if isinstance(item, Listing):
            return item
        if isinstance(item, str):
            return cls(item)
        if isinstance(item, dict | Mapping):  # dict first: ABC checks are slow per row
            title = item.get("title")
            if not isinstance(title, str):
                raise ValueError(f"a listing needs a string 'title', got {type(title).__name__}")
            description = item.get("description")
            if description is not None and not isinstance(description, str):
                raise ValueError("a listing's 'description' must be a string or null")
            ident = item.get("id")
            market = item.get("market")
            if market is not None and not isinstance(market, str):
                raise ValueError("a listing's 'market' must be a string or null")
            return cls(title, description, None if ident is None else str(ident), market)
        raise TypeError(f"cannot read a listing from a {type(item).__name__}")


@dataclass
class Prediction:
    label: str
    scores: dict[str, float]
    decision: str
    reason: str
    model_version: str
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Classifier:
    """A model kind plus everything needed to use it: labels, thresholds, text settings."""

    def __init__(
        self,
        model: Any,
        labels: LabelSet,
        *,
        thresholds: Mapping[str, ClassThresholds | Mapping[str, float]] | None = None,
        config: Mapping[str, Any] | None = None,
        path: Path | None = None,
    ) -> None:
        self.model = model
        self.labels = labels
        self.config: dict[str, Any] = dict(config or {})
        self.config.setdefault("kind", getattr(model, "kind", "unknown"))
        self.config.setdefault("version", _new_version(self.config["kind"]))
        self.config.setdefault("max_description_chars", DEFAULT_MAX_DESCRIPTION_CHARS)
        raw = {
            k: (v.to_dict() if isinstance(v, ClassThresholds) else dict(v))
            for k, v in (thresholds or self.config.get("thresholds") or {}).items()
        }
        self.thresholds = parse_thresholds(raw, labels)
        self.bundle_thresholds = self.thresholds  # as trained; overrides never change these
        self.path = path
        self.target_prior: np.ndarray | None = None  # see set_target_prior
        self._prior_weights: np.ndarray | None = None

    # -- loading and saving ------------------------------------------------------------
    @staticmethod
    def inspect(name: str | os.PathLike | None = "default",
                models_dir: str | os.PathLike | None = None) -> BundleInfo:
        """What a bundle is (path, config, labels, version), checksums verified, without
        loading its model: for a process that only hands the bundle to workers."""
        path = registry.resolve(name, models_dir)
        config = verify_bundle(path)
        return BundleInfo(path=path, config=config, labels=LabelSet.from_config(config))

    @classmethod
    def load(cls, name: str | os.PathLike | None = "default",
             models_dir: str | os.PathLike | None = None) -> Classifier:
        """Load a bundle by path, folder name, kind name or ``default``; checksums verified."""
        info = cls.inspect(name, models_dir)
        path, config = info.path, info.config
        try:
            model = kind_class(config["kind"]).load(path, config)
        except BundleError:
            raise
        except Exception as exc:  # a verified file that still fails to load
            raise BundleError(f"{path}: could not load the {config['kind']} model: {exc}") from exc
        return cls(model, info.labels, config=config, path=path)

    def save(self, directory: str | os.PathLike, *, card: str | None = None) -> Path:
        """Write the bundle to ``directory`` atomically (a temp folder, then a rename)."""
        directory = Path(directory)
        if directory.exists():
            raise FileExistsError(f"{directory} exists; bundles are never overwritten")
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
        try:
            self.model.save(tmp)
            (tmp / CARD_FILE).write_text(card or self.default_card(), encoding="utf-8")
            self.config = finalise_bundle(tmp, self.bundle_config())
            os.replace(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.path = directory
        return directory

    def bundle_config(self) -> dict[str, Any]:
        config = {k: v for k, v in self.config.items() if k not in ("files", "format_version")}
        config.update(
            kind=self.model.kind,
            id2label={str(i): n for i, n in self.labels.id2label.items()},
            label2id=self.labels.label2id,
            negative_label=self.labels.negative,
            thresholds={n: t.to_dict() for n, t in self.thresholds.items()},
        )
        if hasattr(self.model, "get_params"):
            config.setdefault("params", self.model.get_params())
        return config

    def default_card(self) -> str:
        return (
            f"# contraband {self.model.kind} model {self.version}\n\n"
            f"Classes: {', '.join(self.labels.names)}.\n"
        )

    # -- prediction --------------------------------------------------------------------
    @property
    def version(self) -> str:
        return str(self.config["version"])

    def prepare(self, listings: Iterable[str | Listing | Mapping[str, Any]]) -> list[str]:
        items = [Listing.coerce(x) for x in listings]
        return self.prepare_columns([x.title for x in items], [x.description for x in items])

    def prepare_columns(self, titles: Sequence[str],
                        descriptions: Sequence[str | None]) -> list[str]:
        """:meth:`prepare` for columns of titles and descriptions already checked to be
        strings (and None), as a scan reads them: no :class:`Listing` per row."""
        limit = int(self.config["max_description_chars"])
        return [listing_text(title, description, limit)
                for title, description in zip(titles, descriptions, strict=True)]

    def predict_proba_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities for already prepared texts (see :meth:`prepare`)."""
        proba = np.asarray(self.model.predict_proba(list(texts)), dtype=np.float64)
        if proba.shape != (len(texts), len(self.labels)):
            raise BundleError(
                f"model returned shape {proba.shape}, expected ({len(texts)}, {len(self.labels)})"
            )
        if self._prior_weights is not None:
            proba = reweighted(proba, self._prior_weights)
        return proba

    def predict_proba(self, listings: Iterable[str | Listing | Mapping[str, Any]]) -> np.ndarray:
        """Calibrated probabilities, one column per class in ``labels.names`` order."""
        return self.predict_proba_texts(self.prepare(listings))

    def decide(
        self, proba: np.ndarray, *, with_reasons: bool = True
    ) -> tuple[list[str], list[str]]:
        """Decisions (block / review / allow) and reasons for rows of probabilities."""
        return decide(proba, self.labels, self.thresholds, with_reasons=with_reasons)

    def predict(self, listings: Iterable[str | Listing | Mapping[str, Any]]) -> list[Prediction]:
        """Label, every class score, decision and reason for each listing."""
        items = [Listing.coerce(x) for x in listings]
        return self.predictions(items, self.predict_proba(items))

    def predictions(self, listings: Iterable[str | Listing | Mapping[str, Any]],
                    proba: np.ndarray) -> list[Prediction]:
        """What :meth:`predict` returns for ``listings``, from their probabilities ``proba``
        (rows in ``labels.names`` order): for scores corrected after :meth:`predict_proba`,
        such as a marketplace's mix (:mod:`model.market_mix`)."""
        items = [Listing.coerce(x) for x in listings]
        decisions, reasons = self.decide(proba)
        names = self.labels.names
        return [
            Prediction(
                label=names[int(np.argmax(row))],
                scores={n: float(p) for n, p in zip(names, row, strict=True)},
                decision=decision,
                reason=reason,
                model_version=self.version,
                id=item.id,
            )
            for item, row, decision, reason in zip(items, proba, decisions, reasons, strict=True)
        ]

    @property
    def source_prior(self) -> np.ndarray:
        """The class mix the scores are calibrated to, in ``labels.names`` order."""
        return recorded_source_prior(self.config, self.labels.names)

    def adapt_priors(self, proba: np.ndarray, method: str = AUTO) -> PriorAdaptation:
        """Scores of a batch from one market, corrected to that market's class mix as
        estimated from the batch itself (``method``: BBSE, EM, or auto, which is BBSE where
        the bundle records a validation confusion matrix; see :mod:`model.priors`). Pass
        scores at the training mix: with a target prior set (:meth:`set_target_prior`),
        :meth:`predict_proba`'s are already corrected to that mix."""
        return adapter(method, self.config, self.labels.names).adapt(proba)

    def set_target_prior(self, prior: str | Mapping[str, float] | None) -> None:
        """Correct every score from now on to the class mix of the marketplace being served
        (``"benign=0.97,drugs=0.02,..."`` or a mapping; None: the training mix again).

        One listing at a time, the model cannot know that a classifieds site is nearly all
        lawful; told so, each score's odds are multiplied by target mix / training mix
        (:mod:`model.priors`). ``contraband adapt`` prints an estimate per market. The
        thresholds stay as they are, so a lawful-heavy mix blocks less and with higher
        precision.
        """
        if prior is None:
            self.target_prior = self._prior_weights = None
            return
        self.target_prior, self._prior_weights = target_weights(prior, self.config,
                                                                self.labels.names)

    def target_prior_by_class(self) -> dict[str, float] | None:
        """The target prior in force by class name (None: the training mix)."""
        if self.target_prior is None:
            return None
        return {n: float(p) for n, p in zip(self.labels.names, self.target_prior, strict=True)}

    def at_training_mix(self, proba: np.ndarray) -> np.ndarray:
        """``proba`` from :meth:`predict_proba` with the target prior taken out again: the
        scores at the training mix, which is what the validation confusion matrix was
        counted at (BBSE reads predicted labels against it). Without a target prior,
        ``proba`` itself."""
        if self._prior_weights is None:
            return proba
        return reweighted(np.asarray(proba, dtype=np.float64), 1.0 / self._prior_weights)

    def set_thresholds(self, raw: Mapping[str, Mapping[str, float]]) -> None:
        """Use ``raw`` for the classes it names and the bundle's own thresholds for the rest
        (``{}`` drops every override); validated first."""
        merged = {n: t.to_dict() for n, t in self.bundle_thresholds.items()}
        for name, values in raw.items():
            merged[name] = {**merged.get(name, {}), **values}
        self.thresholds = parse_thresholds(merged, self.labels)
        self.config["thresholds"] = {n: t.to_dict() for n, t in self.thresholds.items()}


def _new_version(kind: str) -> str:
    return f"{kind}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}"
