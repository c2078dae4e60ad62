"""Classification results, explanations, the model card, thresholds that persist, readiness,
metrics and request ids."""

import json
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from model import Classifier
from model.explain import explain
from serve.api import create_app
from tests.api_support import api_settings, clone, headers

H = headers("all")


@pytest.fixture()
def client(tmp_path, tiny_classifier):
    with TestClient(create_app(api_settings(tmp_path), tiny_classifier)) as c:
        yield c


class NoExplainModel:
    """A model kind without ``token_contributions`` (a third party's; every kind this
    package ships has one)."""

    kind = "opaque"

    def __init__(self, inner):
        self.inner = inner

    def predict_proba(self, texts):
        return self.inner.predict_proba(texts)


class SlowExplainModel(NoExplainModel):
    def token_contributions(self, text, class_id):
        time.sleep(0.5)
        return [("late", 1.0)]


def test_single_and_batch(client, tiny_classifier):
    r = client.post("/v1/classify", json={"title": "Glock 19 with 2 mags", "id": "g1"}, headers=H)
    assert r.status_code == 200
    [res] = r.json()["results"]
    assert res["id"] == "g1" and res["label"] == "weapons"
    assert set(res["scores"]) == set(tiny_classifier.labels.names)
    assert res["decision"] in {"block", "review", "allow"} and "weapons" in res["reason"]
    assert res["model_version"] == r.json()["model_version"] == "baseline-test"
    assert "explanation" not in res or res["explanation"] is None

    listings = [{"title": "5g MDMA crystal 84% pure", "id": "a"},
                {"title": "garden hose 50ft", "description": "green, 15 m", "id": "b"},
                {"title": "US fullz with SSN DOB"}]
    r = client.post("/v1/classify", json={"listings": listings}, headers=H)
    results = r.json()["results"]
    assert [x["id"] for x in results] == ["a", "b", None]
    expected = tiny_classifier.predict(listings)
    assert [x["label"] for x in results] == [p.label for p in expected]
    np.testing.assert_allclose([x["scores"]["drugs"] for x in results],
                               [p.scores["drugs"] for p in expected])


def test_explain_returns_words(client):
    r = client.post("/v1/classify?explain=true&top_k=3",
                    json={"title": "Glock 19 with 2 mags"}, headers=H)
    explanation = r.json()["results"][0]["explanation"]
    assert explanation["status"] == "ok" and explanation["class_name"] == "weapons"
    assert explanation["unit"] == "margin"  # the baseline's; log-odds for the other kinds
    assert 1 <= len(explanation["words"]) <= 3
    assert {w["word"] for w in explanation["words"]} <= {"Glock", "19", "with", "2", "mags"}


def test_explain_unsupported_model_says_so(tmp_path, tiny_classifier):
    opaque = Classifier(NoExplainModel(tiny_classifier.model), tiny_classifier.labels,
                        thresholds=tiny_classifier.thresholds, config={"version": "opaque-1"})
    with TestClient(create_app(api_settings(tmp_path), opaque)) as c:
        r = c.post("/v1/classify?explain=true", json={"title": "Glock 19"}, headers=H)
        assert r.status_code == 200
        explanation = r.json()["results"][0]["explanation"]
        assert explanation["status"] == "unsupported" and explanation["words"] == []
        assert explanation["unit"] == ""
        assert "opaque" in explanation["detail"]


def test_explain_helper_respects_budget(tiny_classifier):
    slow = Classifier(SlowExplainModel(tiny_classifier.model), tiny_classifier.labels,
                      thresholds=tiny_classifier.thresholds, config={"version": "slow"})
    result = explain(slow, "Glock 19", top_k=5, time_budget_s=0.05)
    assert result.status == "timeout" and result.words == []
    assert explain(slow, "Glock 19", top_k=5, time_budget_s=0).status == "skipped"
    ok = explain(tiny_classifier, {"title": "Xanax 2mg bars"}, top_k=2, time_budget_s=5)
    assert ok.status == "ok" and ok.class_name == "drugs" and len(ok.words) == 2
    forced = explain(tiny_classifier, "Xanax 2mg bars", top_k=2, time_budget_s=5,
                     class_name="weapons")
    assert forced.class_name == "weapons"


def test_model_card(client, tiny_classifier):
    card = client.get("/v1/model", headers=H).json()
    assert card["version"] == "baseline-test" and card["kind"] == "baseline"
    assert card["labels"] == list(tiny_classifier.labels.names)
    assert card["thresholds"]["drugs"] == {"block": 0.6, "review": 0.3}
    assert card["explanations"] is True and card["thresholds_overridden"] is False
    assert "files" not in card["config"]


def test_model_card_names_the_training_data(tmp_path, tiny_classifier):
    trained = clone(tiny_classifier)
    trained.config["dataset"] = {"name": "default", "fingerprint": "549a193f"}
    with TestClient(create_app(api_settings(tmp_path), trained)) as c:
        assert c.get("/v1/model", headers=H).json()["data_fingerprint"] == "549a193f"


def test_thresholds_persist_across_app_recreation(tmp_path, tiny_classifier):
    settings = api_settings(tmp_path)
    listing = {"title": "5g MDMA crystal 84% pure"}
    with TestClient(create_app(settings, tiny_classifier)) as c:
        before = c.post("/v1/classify", json=listing, headers=H).json()["results"][0]
        assert before["decision"] == "block"
        r = c.put("/v1/thresholds", json={"thresholds": {"drugs": {"block": 1.01,
                                                                     "review": 0.99}}},
                  headers=H)
        assert r.status_code == 200, r.text
        assert r.json()["thresholds"]["drugs"] == {"block": 1.01, "review": 0.99}
        after = c.post("/v1/classify", json=listing, headers=H).json()["results"][0]
        assert after["decision"] != "block"
    stored = json.loads(settings.thresholds_file.read_text())
    assert stored["baseline-test"]["drugs"] == {"block": 1.01, "review": 0.99}
    # the caller's classifier object is untouched
    assert tiny_classifier.thresholds["drugs"].block == 0.6
    with TestClient(create_app(settings, tiny_classifier)) as c:
        card = c.get("/v1/model", headers=H).json()
        assert card["thresholds"]["drugs"] == {"block": 1.01, "review": 0.99}
        assert card["thresholds"]["weapons"] == {"block": 0.6, "review": 0.3}
        assert card["thresholds_overridden"] is True
    # overrides are keyed by version: another model keeps its own thresholds
    with TestClient(create_app(settings, clone(tiny_classifier, "other-version"))) as c:
        assert c.get("/v1/model", headers=H).json()["thresholds"]["drugs"]["block"] == 0.6


def test_an_unreadable_overrides_file_is_reported_not_a_crash(tmp_path, tiny_classifier):
    settings = api_settings(tmp_path)
    settings.thresholds_file.parent.mkdir(parents=True, exist_ok=True)
    settings.thresholds_file.write_text("{not json")
    with TestClient(create_app(settings, tiny_classifier)) as c:
        card = c.get("/v1/model", headers=H)
        assert card.status_code == 200
        assert card.json()["thresholds_overridden"] is False
        assert "not readable JSON" in card.json()["thresholds_error"]
        r = c.put("/v1/thresholds", json={"thresholds": {"drugs": {"block": 0.9}}}, headers=H)
        assert r.status_code == 500 and str(settings.thresholds_file) in r.json()["message"]
        assert c.get("/v1/model", headers=H).json()["thresholds"]["drugs"]["block"] == 0.6


def test_readyz_and_503_without_a_model(tmp_path):
    settings = api_settings(tmp_path)  # its models folder is empty
    with TestClient(create_app(settings)) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        deadline = time.monotonic() + 10
        while "no model bundles" not in c.get("/readyz").text and time.monotonic() < deadline:
            time.sleep(0.02)
        r = c.get("/readyz")
        assert r.status_code == 503 and "no model bundles" in r.json()["reason"]
        r = c.post("/v1/classify", json={"title": "a"}, headers=H)
        assert r.status_code == 503 and "no model" in r.json()["message"]


def test_readyz_when_loaded(client):
    assert client.get("/readyz").json() == {"status": "ready", "model_version": "baseline-test"}


def test_metrics_content(client):
    client.post("/v1/classify", json={"listings": [{"title": "Glock 19 with 2 mags"},
                                                   {"title": "garden hose"}]}, headers=H)
    client.post("/v1/classify", json={"title": "a"})  # 401
    text = client.get("/metrics").text
    for needle in (
        'contraband_http_requests_total{method="POST",route="/v1/classify",status="200"} 1.0',
        'contraband_http_requests_total{method="POST",route="/v1/classify",status="401"} 1.0',
        'contraband_http_errors_total{kind="client",route="/v1/classify"} 1.0',
        'contraband_http_request_duration_seconds_bucket{le="0.5",method="POST",'
        'route="/v1/classify"}',
        'contraband_predictions_total{decision="block",label="weapons"} 1.0',
        'contraband_class_score_count{class_name="drugs"} 2.0',
        'contraband_class_score_bucket{class_name="weapons",le="1.0"} 2.0',
        'contraband_batch_listings_count',
        'contraband_model_info{kind="baseline",version="baseline-test"} 1.0',
    ):
        assert needle in text, needle


def test_request_id_is_echoed_or_made(client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = client.post("/v1/classify", json={}, headers={**H, "X-Request-ID": "bad id\twith tab"})
    made = r.headers["x-request-id"]
    assert made != "bad id\twith tab" and r.json()["request_id"] == made


def test_an_unexpected_error_is_a_500_with_the_request_id(tmp_path, tiny_classifier,
                                                        monkeypatch):
    from serve.api.routes import model_card

    def broken(_clf):
        raise RuntimeError("a bug")

    monkeypatch.setattr(model_card, "supports_explanations", broken)
    app = create_app(api_settings(tmp_path), tiny_classifier)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/v1/model", headers={**H, "X-Request-ID": "trace-500"})
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    assert r.headers["x-request-id"] == "trace-500" == r.json()["request_id"]


def test_unknown_route_is_json_404(client):
    r = client.get("/v2/nothing")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
