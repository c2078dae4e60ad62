"""``contraband serve``: flags become settings, the docs URL is printed, bad setups fail early."""

import os

import pytest
import uvicorn

from cli.main import main
from serve.api_commands import docs_url
from tests.api_support import keys_json


@pytest.fixture()
def fake_uvicorn(monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))  # serve sets CONTRABAND_* variables
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    return calls


def test_serve_prints_docs_url_and_warns_without_auth(fake_uvicorn, tmp_path, capsys):
    code = main(["serve", "--no-auth", "--port", "8123", "--feedback-db",
                 str(tmp_path / "f.sqlite3"), "--max-batch", "64", "--workers", "2"])
    assert code == 0
    out, err = capsys.readouterr()
    assert "http://127.0.0.1:8123/docs" in out
    assert "authentication is OFF" in err
    [(args, kwargs)] = fake_uvicorn
    assert args == ("serve.api:create_app",) and kwargs["factory"] is True
    assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("127.0.0.1", 8123, 2)
    assert os.environ["CONTRABAND_AUTH"] == "off"
    assert os.environ["CONTRABAND_MAX_BATCH"] == "64"


def test_serve_with_auth_but_no_keys_fails_early(fake_uvicorn, tmp_path, capsys):
    os.environ.pop("CONTRABAND_API_KEYS", None)
    os.environ.pop("CONTRABAND_AUTH", None)
    code = main(["serve", "--api-keys-file", str(tmp_path / "none.json")])
    assert code == 2
    assert "contraband apikey create" in capsys.readouterr().err
    assert fake_uvicorn == []


def test_serve_with_keys_starts(fake_uvicorn, tmp_path, capsys):
    os.environ["CONTRABAND_API_KEYS"] = keys_json()
    assert main(["serve", "--api-keys-file", str(tmp_path / "none.json")]) == 0
    assert "authentication is OFF" not in capsys.readouterr().err
    assert len(fake_uvicorn) == 1


def test_docs_url():
    assert docs_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/docs"
    assert docs_url("0.0.0.0", 80) == "http://127.0.0.1:80/docs"
    assert docs_url("::1", 8000) == "http://[::1]:8000/docs"
