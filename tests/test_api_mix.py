"""`GET /v1/mix`: the served marketplace's class mix, estimated by BBSE from the labels of
the listings the API scored (at the training mix, whatever target prior is in force)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from model import Classifier, registry
from model.market_mix import LabelWindow
from model.priors import bbse_adapt, confusion_matrix, label_shift_record, parse_prior
from serve.api import create_app
from tests.api_support import api_settings, headers
from tests.fixtures import rows

CLASSES = ["benign", "drugs", "weapons", "counterfeit", "stolen_data"]
LAWFUL_MARKET = "benign=0.97,drugs=0.02,weapons=0.004,counterfeit=0.003,stolen_data=0.003"
H = headers("all")


def save_default(tiny_classifier, root: Path, version: str, *, record: bool = True) -> Path:
    """A models folder whose default is the tiny bundle, with (or without) what a trained
    bundle records for adaptation."""
    data = rows()
    config = {**tiny_classifier.config, "version": version}
    if record:
        config.update(label_shift_record(
            tiny_classifier.predict_proba([t for t, _ in data]),
            [CLASSES.index(label) for _, label in data], CLASSES))
    Classifier(tiny_classifier.model, tiny_classifier.labels,
               thresholds={n: t.to_dict() for n, t in tiny_classifier.thresholds.items()},
               config=config).save(root / version)
    registry.set_default(version, root)
    return root


@contextlib.contextmanager
def serving(root: Path, tmp_path: Path, **settings: Any) -> Iterator[TestClient]:
    """A client of the API serving ``root``'s default bundle, loaded afresh."""
    app = create_app(api_settings(tmp_path, models_dir=str(root), **settings))
    with TestClient(app) as client:
        client.post("/v1/admin/reload", headers=H)
        yield client


def lawful_traffic(n: int) -> list[dict[str, str]]:
    lawful = [t for t, label in rows() if label == "benign"]
    return [{"title": lawful[i % len(lawful)]} for i in range(n)]


def test_the_window_keeps_the_last_labels_in_order():
    window = LabelWindow(5, 5)
    window.add(np.array([0, 1, 2]))
    window.add(np.array([3, 4, 0, 1]))
    assert window.seen == 7 and len(window) == 5
    assert window.labels().tolist() == [2, 3, 4, 0, 1]  # the oldest two are gone
    assert window.counts.tolist() == [1, 1, 1, 1, 1]
    window.add(np.arange(5).repeat(3) % 5)  # a batch longer than the window
    assert window.labels().tolist() == [3, 3, 4, 4, 4]
    assert window.counts.tolist() == [0, 0, 0, 2, 3]
    off = LabelWindow(0, 5)
    off.add(np.array([1, 2]))
    assert off.labels().tolist() == [] and off.seen == 2
    with pytest.raises(ValueError, match="window"):
        LabelWindow(-1, 5)


def test_a_new_model_starts_new_windows(tiny_classifier, tmp_path):
    root = save_default(tiny_classifier, tmp_path / "models", "baseline-mix")
    with serving(root, tmp_path, mix_min_rows=10) as client:
        client.post("/v1/classify", json={"listings": lawful_traffic(12)}, headers=H)
        assert client.get("/v1/mix", headers=H).json()["listings"] == 12
        save_default(tiny_classifier, root, "baseline-mix2")
        client.post("/v1/admin/reload", headers=H)
        answer = client.get("/v1/mix", headers=H).json()
    assert (answer["model_version"], answer["listings"], answer["seen"]) == (
        "baseline-mix2", 0, 0)


def test_at_training_mix_takes_the_target_prior_out_again(tiny_classifier, tmp_path):
    root = save_default(tiny_classifier, tmp_path / "models", "baseline-mix")
    clf = Classifier.load("default", root)
    titles = [t for t, _ in rows()]
    plain = clf.predict_proba(titles)
    np.testing.assert_array_equal(clf.at_training_mix(plain), plain)
    clf.set_target_prior(LAWFUL_MARKET)
    served = clf.predict_proba(titles)
    assert np.abs(served - plain).max() > 0.05
    np.testing.assert_allclose(clf.at_training_mix(served), plain, atol=1e-9)


def test_the_api_estimates_the_served_mix_once_it_has_scored_enough(tiny_classifier, tmp_path):
    root = save_default(tiny_classifier, tmp_path / "models", "baseline-mix")
    with serving(root, tmp_path, mix_min_rows=40) as client:
        client.post("/v1/classify", json={"listings": lawful_traffic(30)}, headers=H)
        early = client.get("/v1/mix", headers=H).json()
        assert early["estimated_mix"] is None and early["listings"] == 30
        assert "needs at least 40" in early["detail"]
        client.post("/v1/classify", json={"listings": lawful_traffic(50)}, headers=H)
        mix = client.get("/v1/mix", headers=H).json()
        assert client.get("/v1/mix").status_code == 401  # a classify key is needed
    assert mix["listings"] == mix["seen"] == 80 and mix["method"] == "bbse"
    assert sum(mix["estimated_mix"].values()) == pytest.approx(1, abs=1e-4)
    # the estimate is BBSE's on the labels the model gave these listings
    clf = Classifier.load("default", root)
    labels = clf.predict_proba([x["title"] for x in lawful_traffic(30) + lawful_traffic(50)])
    expected = bbse_adapt(np.eye(5)[labels.argmax(axis=1)],
                          confusion_matrix(clf.config["validation_confusion"], CLASSES)).prior
    assert list(mix["estimated_mix"].values()) == pytest.approx(expected.tolist(), abs=1e-4)
    assert mix["estimated_mix"]["benign"] > 0.5  # lawful traffic
    for name, (low, high) in mix["interval"].items():
        assert low - 1e-4 <= mix["estimated_mix"][name] <= high + 1e-4
    assert "validation matrix's" in mix["interval_covers"]
    served = dict(zip(CLASSES, parse_prior(mix["suggested_target_prior"], CLASSES),
                      strict=True))
    assert served["benign"] == pytest.approx(mix["estimated_mix"]["benign"], abs=0.01)
    assert mix["target_prior"] is None


def test_a_target_prior_in_force_does_not_change_what_the_window_reads(tiny_classifier,
                                                                        tmp_path):
    """The confusion matrix was counted at the training mix, so the window must hold the
    labels at that mix: the same traffic gives the same estimate with or without a target."""
    root = save_default(tiny_classifier, tmp_path / "models", "baseline-mix")
    estimates = []
    for name, target in (("plain", None), ("served", LAWFUL_MARKET)):
        with serving(root, tmp_path / name, mix_min_rows=20, target_prior=target) as client:
            traffic = [{"title": t} for t, _ in rows()] * 3
            client.post("/v1/classify", json={"listings": traffic}, headers=H)
            estimates.append(client.get("/v1/mix", headers=H).json())
    assert estimates[1]["target_prior"] is not None
    assert estimates[0]["estimated_mix"] == estimates[1]["estimated_mix"]


def test_the_mix_says_why_there_is_no_estimate(tiny_classifier, tmp_path):
    old = save_default(tiny_classifier, tmp_path / "old", "baseline-old", record=False)
    with serving(old, tmp_path / "a", mix_min_rows=1) as client:
        client.post("/v1/classify", json={"listings": lawful_traffic(5)}, headers=H)
        answer = client.get("/v1/mix", headers=H).json()
    assert answer["estimated_mix"] is None and "no validation confusion matrix" in answer["detail"]
    root = save_default(tiny_classifier, tmp_path / "models", "baseline-mix")
    with serving(root, tmp_path / "b", mix_window=0, mix_min_rows=1) as client:
        client.post("/v1/classify", json={"listings": lawful_traffic(5)}, headers=H)
        answer = client.get("/v1/mix", headers=H).json()
    assert answer["estimated_mix"] is None and "off" in answer["detail"]
    assert answer["listings"] == 0


def test_metrics_export_the_served_mix_once_there_is_an_estimate(tiny_classifier, tmp_path):
    root = save_default(tiny_classifier, tmp_path / "models", "baseline-mix")
    with serving(root, tmp_path, mix_min_rows=20) as client:
        assert "contraband_estimated_class_share{" not in client.get("/metrics").text
        client.post("/v1/classify", json={"listings": lawful_traffic(40)}, headers=H)
        text = client.get("/metrics").text
        mix = client.get("/v1/mix", headers=H).json()
    series = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith("contraband_estimated_class_share{")}
    assert len(series) == 3 * len(CLASSES)
    key = 'contraband_estimated_class_share{bound="estimate",class_name="benign"}'
    assert series[key] == pytest.approx(mix["estimated_mix"]["benign"])
    low = series['contraband_estimated_class_share{bound="low",class_name="benign"}']
    assert low == pytest.approx(mix["interval"]["benign"][0])


def test_listings_that_name_their_market_are_scored_at_its_mix(tiny_classifier, tmp_path):
    root = save_default(tiny_classifier, tmp_path / "models", "baseline-mix")
    probe = {"title": "fresh organic basil"}
    with serving(root, tmp_path, mix_min_rows=20) as client:
        shop = [{**x, "market": "shop"} for x in lawful_traffic(30)]
        first = client.post("/v1/classify", json={"listings": shop}, headers=H).json()
        mix = client.get("/v1/mix", params={"market": "shop"}, headers=H).json()
        plain = client.post("/v1/classify", json=probe, headers=H).json()["results"][0]
        named = client.post("/v1/classify", json={**probe, "market": "shop"},
                            headers=H).json()["results"][0]
        after = client.get("/v1/mix", params={"market": "shop"}, headers=H).json()
        metrics = client.get("/metrics").text
        unknown = client.get("/v1/mix", params={"market": "elsewhere"}, headers=H).json()
        everything = client.get("/v1/mix", headers=H).json()
    # the market's first listings are its evidence: scored at the training mix
    assert all(r["market_mix"] is None for r in first["results"])
    assert plain["market_mix"] is None
    assert named["market_mix"] == {"market": "shop", "listings": 30}
    # corrected to the shop's estimated mix, as --target-prior set to it would score it
    clf = Classifier.load("default", root)
    clf.set_target_prior(mix["suggested_target_prior"])
    expected = clf.predict([probe])[0].scores
    assert named["scores"] == pytest.approx(expected, abs=1e-6)
    assert named["scores"]["benign"] > plain["scores"]["benign"]
    assert mix["market"] == "shop" and mix["listings"] == 30
    assert after["listings"] == 31  # the probe joined the window after it was scored
    # 31 listings named the shop; the last one was scored at its estimated mix
    assert 'contraband_market_listings_total{adapted="yes"} 1.0' in metrics
    assert 'contraband_market_listings_total{adapted="no"} 30.0' in metrics
    assert "contraband_markets_held 1.0" in metrics
    assert unknown["listings"] == 0 and "market 'elsewhere'" in unknown["detail"]
    assert everything["market"] is None and everything["listings"] == 32


def test_market_adaptation_can_be_switched_off(tiny_classifier, tmp_path):
    root = save_default(tiny_classifier, tmp_path / "models", "baseline-mix")
    with serving(root, tmp_path, mix_min_rows=5, market_adaptation=False) as client:
        shop = [{**x, "market": "shop"} for x in lawful_traffic(10)]
        client.post("/v1/classify", json={"listings": shop}, headers=H)
        named = client.post("/v1/classify", json=shop[0], headers=H).json()["results"][0]
        plain = client.post("/v1/classify", json=lawful_traffic(1)[0], headers=H).json()
        mix = client.get("/v1/mix", params={"market": "shop"}, headers=H).json()
    assert named["market_mix"] is None
    assert named["scores"] == plain["results"][0]["scores"]
    assert mix["estimated_mix"] is not None  # still estimated, for GET /v1/mix


@pytest.mark.parametrize("market", ["", "  ", "\n", "x" * 201])
def test_a_bad_market_name_is_a_422_that_names_the_field(tiny_classifier, tmp_path, market):
    root = save_default(tiny_classifier, tmp_path / "models", "baseline-mix")
    with serving(root, tmp_path) as client:
        response = client.post("/v1/classify", json={"listings": [
            {"title": "a", "market": "ok"}, {"title": "b", "market": market}]}, headers=H)
        query = client.get("/v1/mix", params={"market": market}, headers=H)
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["fields"]] == ["body.listings.1.market"]
    assert query.status_code == 422


def test_a_query_parameter_given_twice_is_a_422(tiny_classifier, tmp_path):
    root = save_default(tiny_classifier, tmp_path / "models", "baseline-mix")
    with serving(root, tmp_path) as client:
        response = client.get("/v1/mix?market=a&market=b", headers=H)
    assert response.status_code == 422
    assert "['market'] given more than once" in response.json()["message"]
    assert response.json()["fields"][0]["field"] == "query.market"
