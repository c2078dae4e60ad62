"""API keys: 401 without or with a wrong key, 403 without the role, hashes only on disk."""

import json
import logging

import pytest
from fastapi.testclient import TestClient

from cli.main import main
from serve.api import Settings, create_app
from serve.api.auth import KeyStore, create_key, hash_key, read_keys_file
from serve.api.logs import JsonFormatter
from tests.api_support import KEYS, api_settings, headers

LISTING = {"title": "Glock 19 with 2 mags"}


@pytest.fixture()
def client(tmp_path, tiny_classifier):
    with TestClient(create_app(api_settings(tmp_path), tiny_classifier)) as c:
        yield c


def test_missing_key_is_401(client):
    r = client.post("/v1/classify", json=LISTING)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"] == "unauthorized"


def test_wrong_key_is_401(client):
    r = client.post("/v1/classify", json=LISTING, headers={"X-API-Key": "not-a-key"})
    assert r.status_code == 401


def test_key_works_as_header_and_bearer(client):
    assert client.post("/v1/classify", json=LISTING, headers=headers("classify")).status_code == 200
    bearer = {"Authorization": f"Bearer {KEYS['classify'][0]}"}
    assert client.post("/v1/classify", json=LISTING, headers=bearer).status_code == 200


@pytest.mark.parametrize(("who", "method", "path", "body", "allowed"), [
    ("feedback", "post", "/v1/classify", LISTING, False),
    ("admin", "post", "/v1/classify", LISTING, False),
    ("classify", "post", "/v1/feedback", {"title": "x", "label": "benign"}, False),
    ("feedback", "post", "/v1/feedback", {"title": "x", "label": "benign"}, True),
    ("classify", "put", "/v1/thresholds", {"thresholds": {"drugs": {"block": 0.9}}}, False),
    ("admin", "put", "/v1/thresholds", {"thresholds": {"drugs": {"block": 0.9}}}, True),
    ("classify", "post", "/v1/admin/reload", None, False),
    ("feedback", "get", "/v1/model", None, False),
    ("classify", "get", "/v1/model", None, True),
])
def test_roles(client, who, method, path, body, allowed):
    kwargs = {"headers": headers(who)}
    if body is not None:
        kwargs["json"] = body
    r = client.request(method.upper(), path, **kwargs)
    if allowed:
        assert r.status_code < 300, r.text
    else:
        assert r.status_code == 403
        assert r.json()["error"] == "forbidden"


def test_operations_endpoints_need_no_key(client):
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200


def test_auth_on_without_keys_refuses_to_start(tmp_path):
    settings = Settings(auth="on", api_keys=None, api_keys_file=tmp_path / "missing.json",
                        feedback_db=tmp_path / "f.sqlite3")
    with pytest.raises(ValueError, match="no API keys are configured"):
        create_app(settings)


def test_auth_off_needs_no_key_and_warns(tmp_path, tiny_classifier, capsys):
    app = create_app(api_settings(tmp_path, auth="off"), tiny_classifier)
    assert "authentication is OFF" in capsys.readouterr().err
    with TestClient(app) as c:
        assert c.post("/v1/classify", json=LISTING).status_code == 200
        assert c.post("/v1/admin/reload").status_code in (200, 409)  # admin without a key


def test_keys_file_json_and_toml(tmp_path):
    (tmp_path / "k.json").write_text(json.dumps(
        {"keys": [{"name": "a", "sha256": hash_key("secret-a"), "roles": ["classify"]}]}))
    (tmp_path / "k.toml").write_text(
        f'[[keys]]\nname = "b"\nsha256 = "{hash_key("secret-b")}"\nroles = ["admin"]\n')
    store = KeyStore(read_keys_file(tmp_path / "k.json") + read_keys_file(tmp_path / "k.toml"))
    assert store.authenticate("secret-a").name == "a"
    assert store.authenticate("secret-b").roles == frozenset({"admin"})
    assert store.authenticate("secret-c") is None


@pytest.mark.parametrize(("entry", "message"), [
    ({"name": "a", "sha256": "zz", "roles": ["classify"]}, "64-digit"),
    ({"name": "a", "sha256": "0" * 64, "roles": ["root"]}, "unknown roles"),
    ({"sha256": "0" * 64, "roles": ["admin"]}, "name"),
])
def test_bad_keys_file_is_a_clear_error(tmp_path, entry, message):
    (tmp_path / "k.json").write_text(json.dumps({"keys": [entry]}))
    with pytest.raises(ValueError, match=message):
        read_keys_file(tmp_path / "k.json")


def test_create_key_stores_only_the_hash(tmp_path):
    path = tmp_path / "keys.json"
    key = create_key(path, "ops", ["admin", "classify"])
    text = path.read_text()
    assert key not in text and hash_key(key) in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    found = KeyStore(read_keys_file(path)).authenticate(key)
    assert found.name == "ops" and found.roles == frozenset({"admin", "classify"})
    with pytest.raises(ValueError, match="already has a key named"):
        create_key(path, "ops", ["admin"])


def test_apikey_cli_prints_key_once(tmp_path, capsys):
    path = tmp_path / "keys.json"
    assert main(["apikey", "create", "--roles", "feedback", "--name", "mod1",
                 "--keys-file", str(path)]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("cbk_")
    assert KeyStore(read_keys_file(path)).authenticate(key).name == "mod1"
    assert main(["apikey", "list", "--keys-file", str(path)]) == 0
    listed = capsys.readouterr().out
    assert "mod1" in listed and key not in listed


def test_keys_and_text_are_not_logged(tmp_path, tiny_classifier):
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(JsonFormatter().format(record))

    handler = Collect()
    logging.getLogger("contraband.api").addHandler(handler)
    try:
        with TestClient(create_app(api_settings(tmp_path), tiny_classifier)) as c:
            c.post("/v1/classify", json={"title": "Secret-Title-XYZ"}, headers=headers("all"))
            c.post("/v1/classify", json=LISTING, headers={"X-API-Key": "wrong-key-ABC"})
    finally:
        logging.getLogger("contraband.api").removeHandler(handler)
    text = "\n".join(records)
    access = [json.loads(r) for r in records if '"event": "request"' in r]
    assert access and all("request_id" in r and "latency_ms" in r for r in access)
    assert any(r.get("key") == "all" for r in access)
    for secret in ("Secret-Title-XYZ", "wrong-key-ABC", *(k for k, _ in KEYS.values())):
        assert secret not in text
