"""Body size (413), batch size and text length (422 naming the field), rate limits (429),
and field paths in every validation error."""

import pytest
from fastapi.testclient import TestClient

from serve.api import create_app
from serve.api.ratelimit import RateLimiter
from tests.api_support import api_settings, headers

H = headers("all")


@pytest.fixture()
def client(tmp_path, tiny_classifier):
    settings = api_settings(tmp_path, max_body_bytes=4096, max_batch=3, max_title_chars=50)
    with TestClient(create_app(settings, tiny_classifier)) as c:
        yield c


def fields(response):
    assert response.status_code == 422, response.text
    return [f["field"] for f in response.json()["fields"]]


def test_body_over_limit_is_413(client):
    big = {"title": "x", "description": "y" * 5000}
    r = client.post("/v1/classify", json=big, headers=H)
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


def test_chunked_body_over_limit_is_413(client):
    def chunks():
        yield b'{"title": "x", "description": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    r = client.post("/v1/classify", content=chunks(),
                    headers={**H, "content-type": "application/json"})
    assert r.status_code == 413


def test_batch_over_limit_names_the_field(client):
    r = client.post("/v1/classify", json={"listings": [{"title": "a"}] * 4}, headers=H)
    assert fields(r) == ["body.listings"]
    assert "at most 3" in r.json()["message"]


def test_title_too_long_is_422_with_path(client):
    r = client.post("/v1/classify", json={"listings": [{"title": "ok"}, {"title": "x" * 51}]},
                    headers=H)
    assert fields(r) == ["body.listings.1.title"]


@pytest.mark.parametrize(("body", "field"), [
    ({"title": 5}, "body.title"),
    ({"title": "   "}, "body.title"),
    ({"listings": []}, "body.listings"),
    ({"listings": [{"description": "no title"}]}, "body.listings.0.title"),
    ({"listings": [{"title": "a", "colour": "red"}]}, "body.listings.0.colour"),
    ({"title": "a", "id": ["not", "a", "string"]}, "body.id"),
])
def test_validation_errors_name_the_field(client, body, field):
    assert field in fields(client.post("/v1/classify", json=body, headers=H))


def test_empty_or_mixed_forms_name_the_field(client):
    assert fields(client.post("/v1/classify", json={}, headers=H)) == ["body.title"]
    mixed = {"title": "a", "listings": [{"title": "b"}]}
    r = client.post("/v1/classify", json=mixed, headers=H)
    assert fields(r) == ["body.title"] and r.json()["fields"][0]["type"] == "extra_forbidden"


def test_invalid_json_and_wrong_query_are_422(client):
    r = client.post("/v1/classify", content=b"{not json", headers={
        **H, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["fields"][0]["field"].startswith("body")
    r = client.post("/v1/classify?explain=maybe", json={"title": "a"}, headers=H)
    assert fields(r) == ["query.explain"]
    r = client.post("/v1/classify?top_k=0", json={"title": "a"}, headers=H)
    assert fields(r) == ["query.top_k"]


def test_feedback_label_must_be_a_class(client):
    r = client.post("/v1/feedback", json={"title": "a", "label": "guns"}, headers=H)
    assert fields(r) == ["body.label"]
    r = client.post("/v1/feedback", json={"label": "drugs"}, headers=H)
    assert fields(r) == ["body.title"]


def test_threshold_errors_name_the_class(client):
    r = client.put("/v1/thresholds", json={"thresholds": {"drugs": {"block": 0.1,
                                                                     "review": 0.5}}}, headers=H)
    assert fields(r) == ["body.thresholds.drugs"]
    r = client.put("/v1/thresholds", json={"thresholds": {"drugs": {"block": 2}}}, headers=H)
    assert fields(r) == ["body.thresholds.drugs.block"]


def test_rate_limit_is_429_with_retry_after(tmp_path, tiny_classifier):
    settings = api_settings(tmp_path, rate_limit_per_s=0.2, rate_limit_burst=2)
    with TestClient(create_app(settings, tiny_classifier)) as c:
        codes = [c.post("/v1/classify", json={"title": "a"}, headers=H).status_code
                 for _ in range(3)]
        assert codes == [200, 200, 429]
        r = c.post("/v1/classify", json={"title": "a"}, headers=H)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # another key has its own bucket
        assert c.post("/v1/classify", json={"title": "a"},
                      headers=headers("classify")).status_code == 200
        assert 'contraband_rate_limited_total{key="all"}' in c.get("/metrics").text


def test_token_bucket_refills():
    now = [0.0]
    limiter = RateLimiter(2.0, 1, clock=lambda: now[0])
    assert limiter.check("k") == 0.0
    assert limiter.check("k") == pytest.approx(0.5)
    now[0] = 0.5
    assert limiter.check("k") == 0.0
