"""Correct a finished scan's scores to each market's own class mix (label-shift adaptation).

A scan scores each listing alone, with probabilities calibrated to the training data's mix
(about half drugs). A crawl of one market has its own: a classifieds site is nearly all
lawful, a darknet shop nearly all illicit. ``adapt_scan`` estimates each group's mix from
its own scores (BBSE where the bundle records its validation confusion matrix, else EM) and
corrects them (:mod:`model.priors`), then recomputes label and decision.

Two passes over the scan's Parquet files, one file at a time: the first reads only the
group and score columns, the second rewrites each batch with the corrected columns, so
memory grows with the score columns (40 bytes a row for five classes), not with the text.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from model import BundleError, Classifier
from model.priors import (
    AUTO,
    MIN_GROUP_ROWS,
    Estimator,
    adapt_groups,
    adapter,
    named_intervals,
    named_shares,
    prior_spec,
    recorded_source_prior,
)
from model.thresholds import decide, parse_thresholds
from serve.scan.manifest import Manifest, ManifestMismatch
from serve.scan.writer import PARTS_DIR

log = logging.getLogger(__name__)
ADAPTED_COLUMN = "prior_adapted"
MISSING_GROUP = "(missing)"


class AdaptError(ValueError):
    """The scan output cannot be adapted; the message says why."""


@dataclass(frozen=True)
class AdaptOptions:
    scan: Path  # a scan's output folder (its parts/), a folder of Parquet files, or one file
    output: Path  # a .parquet file to write
    model: str = "default"
    models_dir: str | None = None
    by: str | None = None  # column naming each row's market; None: the whole scan is one
    min_rows: int = MIN_GROUP_ROWS  # smaller groups keep their scores
    overwrite: bool = False
    method: str = AUTO  # model.priors.METHODS


def scan_files(path: Path) -> list[Path]:
    """The Parquet files of a scan output, in a fixed order."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".parquet":
            raise AdaptError(f"{path}: adapt reads Parquet scan outputs, not {path.suffix!r}")
        return [path]
    if (path / PARTS_DIR).is_dir():
        try:
            manifest = Manifest.load(path)
        except ManifestMismatch as exc:
            raise AdaptError(str(exc)) from exc
        if manifest is not None:
            return _committed_parts(path, manifest)
        path = path / PARTS_DIR
    files = sorted(path.glob("*.parquet")) if path.is_dir() else []
    if not files:
        raise AdaptError(f"{path}: no Parquet files found (expected a scan's output)")
    return files


def _committed_parts(path: Path, manifest: Manifest) -> list[Path]:
    """A scan's own folder: only the parts its manifest committed (a killed run may have
    left a half-written one), and only once the scan has finished."""
    if not manifest.data.get("complete"):
        done = sum(1 for f in manifest.data["files"].values() if f.get("complete"))
        raise AdaptError(f"{path}: the scan is not finished ({done} of "
                         f"{len(manifest.data['files'])} input files done); run the same "
                         "`contraband scan` command again to finish it, then adapt")
    files = [path / PARTS_DIR / name for name in manifest.parts()]
    if not files:
        raise AdaptError(f"{path}: the scan holds no scored rows")
    return files


def adapt_scan(options: AdaptOptions) -> dict[str, Any]:
    """Write ``options.output``: the scan's rows with scores, label and decision corrected
    per group; returns (and writes next to it, as ``.adapt.json``) a summary per group."""
    if options.min_rows < 1:
        raise AdaptError(f"min_rows must be at least 1, got {options.min_rows}")
    output = Path(options.output)
    if output.suffix != ".parquet":
        raise AdaptError(f"{output}: the output must be a .parquet file")
    if output.exists() and not options.overwrite:
        raise AdaptError(f"{output} exists; pass --overwrite to replace it")
    files = scan_files(options.scan)
    info = Classifier.inspect(options.model, options.models_dir)
    names = list(info.labels.names)
    try:
        source = recorded_source_prior(info.config, names)
    except (BundleError, ValueError) as exc:
        raise AdaptError(f"bundle {info.version}: no usable source prior: {exc}") from exc
    try:
        estimator = adapter(options.method, info.config, names)
    except (BundleError, ValueError) as exc:
        raise AdaptError(str(exc)) from exc
    thresholds = parse_thresholds(info.config.get("thresholds") or {}, info.labels)
    scores = [f"score_{n}" for n in names]

    proba, groups = _read_scores(files, scores, options.by, info.version)
    adapted, changed, summary_groups = _adapt_groups(proba, groups, estimator, info.labels,
                                                     options.min_rows)

    decisions, _ = decide(adapted, info.labels, thresholds, with_reasons=False)
    labels = np.asarray(names, dtype=object)[adapted.argmax(axis=1)]
    _write(files, output, scores, adapted, labels, np.asarray(decisions, dtype=object), changed)
    summary = {"scan": str(options.scan), "output": str(output), "model_version": info.version,
               "by": options.by, "rows": len(proba), "method": estimator.method,
               "source_prior": named_shares(source, names),
               "prior_interval_covers": estimator.interval_covers,
               "groups": summary_groups}
    output.with_suffix(".adapt.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _adapt_groups(proba: np.ndarray, groups: np.ndarray, estimator: Estimator, labels: Any,
                  min_rows: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Each group adapted on its own (:func:`model.priors.adapt_groups`); the scores, which
    rows changed, and a summary entry per group (with a 95% interval for its estimated mix
    where the estimate has one)."""
    names, negative = list(labels.names), labels.index(labels.negative)
    adapted, fitted = adapt_groups(proba, groups, estimator.adapt, min_rows=min_rows)
    changed = np.zeros(len(proba), dtype=bool)
    summary: dict[str, Any] = {}
    for key, group in fitted.items():
        rows, result = group.rows, group.result
        entry: dict[str, Any] = {
            "rows": len(rows),
            "flagged_before": int((proba[rows].argmax(axis=1) != negative).sum())}
        if result is None:
            entry.update(adapted=False, why=f"fewer than {min_rows} rows")
        else:
            changed[rows] = True
            prior = named_shares(result.prior, names)
            entry.update(adapted=True, iterations=result.iterations, converged=result.converged,
                         prior=prior, target_prior=prior_spec(prior))
            if estimator.interval is not None:
                low, high = estimator.interval(proba[rows])
                entry["prior_interval"] = named_intervals(low, high, names)
        entry["flagged_after"] = int((adapted[rows].argmax(axis=1) != negative).sum())
        warning = look_alike_warning(entry, labels.negative)
        if warning:
            entry["warning"] = warning
        summary[key] = entry
    return adapted, changed, summary


def look_alike_warning(entry: dict[str, Any], negative: str) -> str | None:
    """A warning for a mostly lawful market that adaptation made flag *more* listings.

    That is how a lawful shop selling one look-alike (kitchen knives, supplements) shows
    up: the estimate reads the look-alikes as a sizeable share of the illicit class and
    then believes its borderline listings more. A market that is mostly illicit flagging more
    is the intended effect and gets no warning.
    """
    prior = entry.get("prior")
    if not entry.get("adapted") or prior is None or prior.get(negative, 0.0) < 0.5:
        return None
    if entry["flagged_after"] <= entry["flagged_before"]:
        return None
    rising = max((n for n in prior if n != negative), key=lambda n: prior[n])
    return (f"a mostly lawful market flagged more after adapting ({entry['flagged_before']} -> "
            f"{entry['flagged_after']}); the estimated mix puts {rising} at "
            f"{prior[rising]:.1%}: check whether this market sells look-alikes before trusting "
            "its adapted flags")


def _read_scores(files: list[Path], scores: list[str], by: str | None,
                 version: str) -> tuple[np.ndarray, np.ndarray]:
    """The score columns as one array, and each row's group (all one when ``by`` is None)."""
    blocks, groups = [], []
    for path in files:
        schema = pq.read_schema(path)
        needed = [*scores, "model_version", *([by] if by else [])]
        missing = [c for c in needed if c not in schema.names]
        if missing:
            raise AdaptError(f"{path}: no column(s) {missing}; adapt needs a scan's output "
                             "(score_<class>, model_version) and the --by column")
        table = pq.read_table(path, columns=needed)
        versions = set(pc.unique(table.column("model_version")).to_pylist())
        if versions - {version}:
            raise AdaptError(f"{path}: scored by {sorted(map(str, versions))}, not {version}; "
                             "pass the bundle that made the scan (--model)")
        block = np.column_stack([table.column(c).to_numpy(zero_copy_only=False)
                                 for c in scores]).astype(np.float64)
        if not np.all(np.isfinite(block)):
            raise AdaptError(f"{path}: a score is missing or not a number")
        blocks.append(block)
        if by:
            values = table.column(by).to_pylist()
            groups.append(np.array([MISSING_GROUP if v is None else str(v) for v in values],
                                   dtype=object))
        else:
            groups.append(np.full(len(block), "all", dtype=object))
    if not blocks:
        return np.zeros((0, len(scores))), np.zeros(0, dtype=object)
    return np.concatenate(blocks), np.concatenate(groups)


def _write(files: list[Path], output: Path, scores: list[str], proba: np.ndarray,
           labels: np.ndarray, decisions: np.ndarray, changed: np.ndarray) -> None:
    """Every input row and column, with the corrected ones replaced, to ``output`` (written
    to a temp name first, so a killed run never leaves a half file under the real name)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    writer = None
    start = 0
    try:
        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
                table = pa.Table.from_batches([batch])
                stop = start + len(table)
                replace = {"label": pa.array(labels[start:stop], pa.string()),
                           "decision": pa.array(decisions[start:stop], pa.string())}
                for k, column in enumerate(scores):
                    replace[column] = pa.array(proba[start:stop, k], pa.float64())
                for column, values in replace.items():
                    if column in table.column_names:
                        i = table.column_names.index(column)
                        table = table.set_column(i, column, values)
                table = table.append_column(ADAPTED_COLUMN, pa.array(changed[start:stop]))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                try:
                    table = table.cast(writer.schema)
                except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
                    raise AdaptError(
                        f"{path}: its columns differ from the scan's first part ({exc}); parts "
                        "from differently typed inputs do not share one schema: scan into "
                        "one file (--output FILE.parquet) and adapt that") from exc
                writer.write_table(table)
                start = stop
        if writer is None:  # no rows at all: still a valid (empty) file
            pq.write_table(pa.table({ADAPTED_COLUMN: pa.array([], pa.bool_())}), tmp)
        else:
            writer.close()
            writer = None
        if start != len(proba):  # checked before the output is replaced
            raise AdaptError(f"the scan changed while it was adapted ({start} rows read "
                             f"back, {len(proba)} scored); run adapt again")
        tmp.replace(output)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
