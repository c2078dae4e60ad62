"""contraband adapt: a scan's scores corrected to each market's class mix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model import Classifier, registry
from model.priors import label_shift_record, parse_prior
from serve.scan import ScanOptions, run_scan
from serve.scan.adapt import ADAPTED_COLUMN, AdaptError, AdaptOptions, adapt_scan
from tests.fixtures import rows

CLASSES = ["benign", "drugs", "weapons", "counterfeit", "stolen_data"]
SCORES = [f"score_{c}" for c in CLASSES]


def with_record(tiny_classifier, models_dir: Path, version: str, *keys: str) -> str:
    """The tiny bundle saved again as ``version``, with what a trained bundle records for
    adaptation (from its scores on in-domain listings: here its own fixture rows), or only
    the ``keys`` of it."""
    data = rows()
    record = label_shift_record(tiny_classifier.predict_proba([t for t, _ in data]),
                                [CLASSES.index(label) for _, label in data], CLASSES)
    config = {**tiny_classifier.config, "version": version,
              **{k: v for k, v in record.items() if k in (keys or record)}}
    Classifier(tiny_classifier.model, tiny_classifier.labels,
               thresholds={n: t.to_dict() for n, t in tiny_classifier.thresholds.items()},
               config=config).save(models_dir / version)
    return version


@pytest.fixture()
def adaptable(models_dir: Path, tiny_classifier) -> str:
    """A bundle that records its training mix and validation confusion matrix."""
    return with_record(tiny_classifier, models_dir, "baseline-mix")


def scanned(models_dir: Path, model: str, tmp_path: Path) -> Path:
    """A scan of a lawful shop (300 rows) and a small darknet market (40 rows)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = rows()
    lawful = [t for t, label in data if label == "benign"]
    illicit = [t for t, label in data if label != "benign"]
    titles = [lawful[i % len(lawful)] for i in range(300)] + illicit[:40]
    markets = ["shop"] * 300 + ["darknet"] * min(40, len(illicit))
    pd.DataFrame({"id": range(len(markets)), "title": titles[:len(markets)],
                  "market": markets}).to_parquet(tmp_path / "in.parquet")
    run_scan(ScanOptions(inputs=[str(tmp_path / "in.parquet")], output=str(tmp_path / "scan"),
                         model=model, models_dir=str(models_dir), progress=False,
                         chunk_rows=50, workers=1))
    return tmp_path / "scan"


def test_adapt_corrects_each_large_market_and_keeps_every_column(models_dir, adaptable,
                                                                 tmp_path):
    scan = scanned(models_dir, adaptable, tmp_path)
    out = tmp_path / "adapted.parquet"
    summary = adapt_scan(AdaptOptions(scan=scan, output=out, model=adaptable,
                                      models_dir=str(models_dir), by="market", min_rows=100))
    before = pd.concat([pd.read_parquet(p) for p in sorted((scan / "parts").glob("*.parquet"))],
                       ignore_index=True)
    after = pd.read_parquet(out)
    assert list(after.columns) == [*before.columns, ADAPTED_COLUMN]
    assert after["id"].tolist() == before["id"].tolist()  # every row, in order
    assert summary["method"] == "bbse"  # the bundle records a confusion matrix
    assert f"validation matrix's ({len(rows())} listings)" in summary["prior_interval_covers"]
    shop, darknet = summary["groups"]["shop"], summary["groups"]["darknet"]
    assert shop["adapted"] and shop["prior"]["benign"] > 0.9
    for name, (low, high) in shop["prior_interval"].items():
        assert low <= shop["prior"][name] + 1e-4 and shop["prior"][name] <= high + 1e-4
    assert shop["flagged_after"] <= shop["flagged_before"]
    assert not darknet["adapted"] and "fewer than 100" in darknet["why"]
    is_shop = (after["market"] == "shop").to_numpy()
    assert after[ADAPTED_COLUMN].tolist() == is_shop.tolist()
    np.testing.assert_allclose(after.loc[~is_shop, SCORES], before.loc[~is_shop, SCORES])
    assert not np.allclose(after.loc[is_shop, SCORES], before.loc[is_shop, SCORES])
    np.testing.assert_allclose(after[SCORES].sum(axis=1), 1.0)
    argmax = np.asarray(CLASSES)[after[SCORES].to_numpy().argmax(axis=1)]
    assert after["label"].tolist() == argmax.tolist()
    assert set(after["decision"]) <= {"allow", "review", "block"}
    saved = json.loads(out.with_suffix(".adapt.json").read_text())
    assert saved["groups"]["shop"]["prior"] == shop["prior"]
    # the estimate, ready for `contraband serve --target-prior`
    served = dict(zip(CLASSES, parse_prior(shop["target_prior"], CLASSES), strict=True))
    assert served["benign"] == pytest.approx(shop["prior"]["benign"], abs=0.01)
    assert min(served.values()) > 0


def test_adapt_refuses_what_it_cannot_do(models_dir, adaptable, tmp_path):
    scan = scanned(models_dir, adaptable, tmp_path)
    out = tmp_path / "adapted.parquet"
    base = {"scan": scan, "output": out, "models_dir": str(models_dir)}
    other = scanned(models_dir, "baseline-test", tmp_path / "other")
    with pytest.raises(AdaptError, match="scored by"):  # another bundle's scores
        adapt_scan(AdaptOptions(**{**base, "scan": other}, model=adaptable))
    registry.set_default(adaptable, models_dir)
    with pytest.raises(AdaptError, match="'vendor'"):
        adapt_scan(AdaptOptions(**base, by="vendor"))
    with pytest.raises(AdaptError, match=r"\.parquet"):
        adapt_scan(AdaptOptions(**{**base, "output": tmp_path / "adapted.csv"}))
    adapt_scan(AdaptOptions(**base))
    with pytest.raises(AdaptError, match="--overwrite"):
        adapt_scan(AdaptOptions(**base))
    adapt_scan(AdaptOptions(**base, overwrite=True))


def test_adapt_reads_only_a_finished_scans_committed_parts(models_dir, adaptable, tmp_path):
    scan = scanned(models_dir, adaptable, tmp_path)
    base = {"scan": scan, "output": tmp_path / "a.parquet", "model": adaptable,
            "models_dir": str(models_dir)}
    rows_scanned = adapt_scan(AdaptOptions(**base))["rows"]
    parts = sorted((scan / "parts").glob("*.parquet"))
    (scan / "parts" / "part-99999.parquet").write_bytes(parts[0].read_bytes())  # uncommitted
    assert adapt_scan(AdaptOptions(**base, overwrite=True))["rows"] == rows_scanned
    manifest = json.loads((scan / "manifest.json").read_text())
    manifest["complete"] = False  # as a killed scan leaves it
    (scan / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AdaptError, match="the scan is not finished"):
        adapt_scan(AdaptOptions(**base, overwrite=True))


def test_a_bundle_without_a_source_prior_cannot_adapt(models_dir, tmp_path):
    scan = scanned(models_dir, "baseline-test", tmp_path)
    with pytest.raises(AdaptError, match="source prior"):
        adapt_scan(AdaptOptions(scan=scan, output=tmp_path / "a.parquet", model="baseline-test",
                                models_dir=str(models_dir)))


def test_a_bundle_from_before_bbse_adapts_by_em_and_refuses_bbse(models_dir, tiny_classifier,
                                                                  tmp_path):
    old = with_record(tiny_classifier, models_dir, "baseline-em", "source_prior")
    scan = scanned(models_dir, old, tmp_path)
    base = {"scan": scan, "model": old, "models_dir": str(models_dir), "by": "market",
            "min_rows": 100}
    summary = adapt_scan(AdaptOptions(**base, output=tmp_path / "a.parquet"))
    assert summary["method"] == "em" and summary["groups"]["shop"]["iterations"] > 1
    assert "prior_interval" not in summary["groups"]["shop"]  # EM has none
    with pytest.raises(AdaptError, match=r"no validation confusion matrix.*method 'em'"):
        adapt_scan(AdaptOptions(**base, output=tmp_path / "b.parquet", method="bbse"))


def test_adapt_command_prints_each_market(models_dir, adaptable, tmp_path, capsys):
    from cli.main import main

    scan = scanned(models_dir, adaptable, tmp_path)
    code = main(["adapt", str(scan), "--output", str(tmp_path / "a.parquet"), "--model",
                 adaptable, "--by", "market", "--min-rows", "100"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "shop: 300 rows" in printed and "not adapted" in printed
    assert "rows adapted (bbse)" in printed
    assert re.search(r"estimated mix benign [01]\.\d{3} \[[01]\.\d{3}–[01]\.\d{3}\]",
                     printed)  # the estimate with its interval
    assert "contraband serve --target-prior benign=" in printed
    assert main(["adapt", str(scan), "--output", str(tmp_path / "em.parquet"), "--model",
                 adaptable, "--method", "em"]) == 0
    assert "rows adapted (em)" in capsys.readouterr().out
    assert main(["adapt", str(scan), "--output", str(tmp_path / "a.parquet"),
                 "--model", adaptable]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_parts_with_different_columns_are_a_clear_error(models_dir, adaptable, tmp_path):
    scan = scanned(models_dir, adaptable, tmp_path)
    parts = sorted((scan / "parts").glob("*.parquet"))
    odd = pd.read_parquet(parts[-1]).assign(extra=1.5)  # a column the other parts lack
    odd.to_parquet(parts[-1])
    with pytest.raises(AdaptError, match="one file"):
        adapt_scan(AdaptOptions(scan=scan, output=tmp_path / "a.parquet", model=adaptable,
                                models_dir=str(models_dir)))
    assert not (tmp_path / "a.parquet").exists()


def test_a_lawful_market_that_flags_more_after_adapting_is_called_out():
    from serve.scan.adapt import look_alike_warning

    shop = {"adapted": True, "flagged_before": 0, "flagged_after": 64,
            "prior": {"benign": 0.81, "weapons": 0.19, "drugs": 0.0}}
    warning = look_alike_warning(shop, "benign")
    assert warning and "weapons at 19.0%" in warning and "0 -> 64" in warning
    darknet = {**shop, "prior": {"benign": 0.0, "weapons": 0.1, "drugs": 0.9}}
    assert look_alike_warning(darknet, "benign") is None  # flagging more is the point there
    assert look_alike_warning({**shop, "flagged_after": 0}, "benign") is None
    assert look_alike_warning({"adapted": False, "flagged_before": 0, "flagged_after": 0},
                              "benign") is None
