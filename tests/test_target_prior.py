"""A marketplace's class mix, set once: every score corrected to it, in the library, the API
and `contraband serve`; bad mixes are refused with the reason."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from cli.main import main
from model import BundleError, Classifier, registry
from model.priors import parse_prior, prior_spec, source_prior
from serve.api import create_app
from tests.api_support import api_settings, headers
from tests.fixtures import rows

CLASSES = ["benign", "drugs", "weapons", "counterfeit", "stolen_data"]
LAWFUL_MARKET = "benign=0.97,drugs=0.02,weapons=0.004,counterfeit=0.003,stolen_data=0.003"
H = headers("all")


@pytest.fixture()
def with_prior(tiny_classifier, tmp_path: Path) -> Path:
    """A models folder whose default records the training mix, as trained bundles do."""
    mix = source_prior(tiny_classifier.predict_proba([t for t, _ in rows()]), CLASSES)
    config = {**tiny_classifier.config, "version": "baseline-mix", "source_prior": mix}
    root = tmp_path / "models"
    Classifier(tiny_classifier.model, tiny_classifier.labels,
               thresholds={n: t.to_dict() for n, t in tiny_classifier.thresholds.items()},
               config=config).save(root / "baseline-mix")
    registry.set_default("baseline-mix", root)
    return root


def test_the_scores_odds_are_multiplied_by_target_over_training_mix(with_prior):
    clf = Classifier.load("default", with_prior)
    titles = [t for t, _ in rows()][:20]
    before = clf.predict_proba(titles)
    clf.set_target_prior(LAWFUL_MARKET)
    after = clf.predict_proba(titles)
    weights = parse_prior(LAWFUL_MARKET, CLASSES) / clf.source_prior
    # every pair of classes: odds after = odds before x ratio of the weights
    np.testing.assert_allclose(after[:, 1] / after[:, 0],
                               before[:, 1] / before[:, 0] * weights[1] / weights[0])
    np.testing.assert_allclose(after.sum(axis=1), 1.0)
    assert (after[:, 0] >= before[:, 0] - 1e-12).all()  # a lawful market: benign only rises
    assert clf.target_prior == pytest.approx(parse_prior(LAWFUL_MARKET, CLASSES))
    assert clf.predict(titles[:1])[0].scores["benign"] == pytest.approx(after[0, 0])
    clf.set_target_prior(None)
    np.testing.assert_allclose(clf.predict_proba(titles), before)


@pytest.mark.parametrize(("spec", "message"), [
    ("benign=0.9,drugs=0.1", r"no value for class\(es\) \['weapons'"),
    (LAWFUL_MARKET + ",guns=0.1", r"unknown class\(es\) \['guns'\]"),
    (LAWFUL_MARKET.replace("drugs=0.02", "drugs=0"), "positive"),
    (LAWFUL_MARKET.replace("drugs=0.02", "drugs:0.02"), "is not CLASS=SHARE"),
    (LAWFUL_MARKET.replace("drugs=0.02", "drugs=lots"), "'lots' is not a number"),
])
def test_a_bad_mix_is_refused_with_the_reason(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_prior(spec, CLASSES)


def test_an_estimated_mix_is_written_as_a_spec_with_no_zero_share():
    estimate = {"benign": 0.9712, "drugs": 0.0288, "weapons": 0.0, "counterfeit": 0.0,
                "stolen_data": 0.0}
    spec = prior_spec(estimate)
    assert spec == "benign=0.9712,drugs=0.0288,weapons=0.001,counterfeit=0.001,stolen_data=0.001"
    assert parse_prior(spec, CLASSES)[0] == pytest.approx(0.9712 / 1.003)
    with pytest.raises(ValueError, match="floor"):
        prior_spec(estimate, floor=0)


def test_a_bundle_without_a_training_mix_cannot_take_a_target(tiny_classifier):
    with pytest.raises(BundleError, match="source prior"):
        tiny_classifier.set_target_prior(LAWFUL_MARKET)


def _wait_ready(client: TestClient, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").text
        time.sleep(0.02)


def test_the_api_serves_scores_corrected_to_the_configured_mix(with_prior, tmp_path):
    listing = {"title": rows()[0][0]}
    plain = api_settings(tmp_path / "a", models_dir=str(with_prior))
    with TestClient(create_app(plain)) as client:
        _wait_ready(client)
        before = client.post("/v1/classify", json=listing, headers=H).json()["results"][0]
        assert client.get("/v1/model", headers=H).json()["target_prior"] is None
    served = api_settings(tmp_path / "b", models_dir=str(with_prior), target_prior=LAWFUL_MARKET)
    with TestClient(create_app(served)) as client:
        _wait_ready(client)
        after = client.post("/v1/classify", json=listing, headers=H).json()["results"][0]
        card = client.get("/v1/model", headers=H).json()
        assert card["target_prior"] == pytest.approx(
            dict(zip(CLASSES, parse_prior(LAWFUL_MARKET, CLASSES), strict=True)))
        assert client.post("/v1/admin/reload", headers=H).json()["reloaded"]
        again = client.post("/v1/classify", json=listing, headers=H).json()["results"][0]
    assert after["scores"]["benign"] > before["scores"]["benign"]
    assert again["scores"] == pytest.approx(after["scores"])  # a reload keeps the mix


def test_an_api_with_a_bad_mix_never_serves_uncorrected_scores(with_prior, tmp_path):
    settings = api_settings(tmp_path, models_dir=str(with_prior),
                            target_prior="benign=0.9,drugs=0.1")
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        while "weapons" not in client.get("/readyz").text:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert client.get("/readyz").status_code == 503
        assert client.post("/v1/classify", json={"title": "x"}, headers=H).status_code == 503


@pytest.fixture()
def fake_uvicorn(monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))  # serve sets CONTRABAND_* variables
    calls: list = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    return calls


def test_serve_checks_the_mix_before_starting(fake_uvicorn, with_prior, tmp_path, capsys):
    base = ["serve", "--no-auth", "--models-dir", str(with_prior), "--feedback-db",
            str(tmp_path / "f.sqlite3")]
    assert main([*base, "--target-prior", "benign=0.5,guns=0.5"]) == 2
    assert "unknown class(es) ['guns']" in capsys.readouterr().err
    assert fake_uvicorn == []
    assert main([*base, "--target-prior", LAWFUL_MARKET]) == 0
    assert os.environ["CONTRABAND_TARGET_PRIOR"] == LAWFUL_MARKET
    assert len(fake_uvicorn) == 1
