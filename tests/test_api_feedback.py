"""Verdicts: stored in SQLite before the 201, kept through SIGKILL, exported for training.
The real-server test also covers SIGHUP reloading the default bundle."""

import os
import signal
import sqlite3
import time

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from cli.main import main
from model import registry
from serve.api import create_app
from serve.api.export import DATASET_COLUMNS, export_parquet
from tests.api_support import UvicornProcess, api_settings, clone, headers, keys_json

H = headers("feedback")


def rows(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT listing_id, title, description, label, note, moderator "
                            "FROM feedback ORDER BY feedback_id").fetchall()


def test_feedback_is_stored_durably(tmp_path, tiny_classifier):
    settings = api_settings(tmp_path)
    with TestClient(create_app(settings, tiny_classifier)) as c:
        r = c.post("/v1/feedback", json={"id": "L1", "text": "garden hose", "label": "benign",
                                         "note": "harmless"}, headers=H)
        assert r.status_code == 201
        assert r.json() == {"feedback_id": 1, "stored": True, "model_version": "baseline-test"}
        store = c.app.state.services.feedback
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert 'contraband_feedback_total{label="benign"} 1.0' in c.get("/metrics").text
    assert rows(settings.feedback_db) == [("L1", "garden hose", None, "benign", "harmless",
                                          "feedback")]


def test_a_verdict_needs_a_real_id_and_a_loaded_model_to_check_its_class(tmp_path,
                                                                         tiny_classifier):
    with TestClient(create_app(api_settings(tmp_path / "a"), tiny_classifier)) as c:
        r = c.post("/v1/feedback", json={"id": " ", "title": "x", "label": "drugs"}, headers=H)
        assert r.status_code == 422 and "id" in r.text  # a blank id would merge listings
    settings = api_settings(tmp_path / "b", models_dir=str(tmp_path / "no-models"))
    with TestClient(create_app(settings)) as c:  # no bundle to load: the class is unchecked
        r = c.post("/v1/feedback", json={"title": "x", "label": "drug"}, headers=H)
        assert r.status_code == 503 and "/readyz" in r.json()["message"]


def test_export_matches_the_dataset_columns(tmp_path, tiny_classifier, capsys):
    settings = api_settings(tmp_path)
    verdicts = [
        {"id": "L1", "title": "garden hose", "label": "drugs"},
        {"id": "L1", "title": "garden hose", "label": "benign", "note": "corrected"},
        {"title": "Glock 19", "description": "with 2 mags", "label": "weapons"},
    ]
    with TestClient(create_app(settings, tiny_classifier)) as c:
        for v in verdicts:
            assert c.post("/v1/feedback", json=v, headers=H).status_code == 201
    out = tmp_path / "out" / "feedback.parquet"
    assert export_parquet(settings.feedback_db, out) == 2
    frame = pd.read_parquet(out)
    assert list(frame.columns[: len(DATASET_COLUMNS)]) == list(DATASET_COLUMNS)
    assert frame["label"].tolist() == ["benign", "weapons"]  # latest verdict for L1 wins
    assert set(frame["source"]) == {"feedback"} and set(frame["market"]) == {"feedback"}
    assert frame["vendor"].isna().all()
    assert frame.loc[1, "text"] == "Glock 19 | with 2 mags"
    assert frame.loc[0, "group"] == "feedback:L1" and frame.loc[0, "note"] == "corrected"

    everything = tmp_path / "all.parquet"
    assert main(["feedback", "export", "--db", str(settings.feedback_db), "--output",
                 str(everything), "--all"]) == 0
    assert "wrote 3 verdicts" in capsys.readouterr().out
    assert len(pd.read_parquet(everything)) == 3


def test_export_of_a_missing_db_is_a_clear_error(tmp_path, capsys):
    code = main(["feedback", "export", "--db", str(tmp_path / "none.sqlite3"),
                 "--output", str(tmp_path / "x.parquet")])
    assert code == 2 and "no feedback database" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs POSIX signals")
def test_real_server_survives_sigkill_and_reloads_on_sighup(tmp_path, models_dir,
                                                            tiny_classifier):
    db = tmp_path / "fb" / "feedback.sqlite3"
    server = UvicornProcess({
        "CONTRABAND_MODELS_DIR": str(models_dir),
        "CONTRABAND_FEEDBACK_DB": str(db),
        "CONTRABAND_API_KEYS": keys_json(),
        "CONTRABAND_API_KEYS_FILE": str(tmp_path / "none.json"),
        "CONTRABAND_RATE_LIMIT_PER_S": "0",
    }, tmp_path / "server.log")
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            # SIGHUP reloads the (new) default bundle
            clone(tiny_classifier, "baseline-test-hup").save(models_dir / "hup")
            registry.set_default("hup", models_dir)
            os.kill(server.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 30
            while client.get("/readyz").json().get("model_version") != "baseline-test-hup":
                assert time.monotonic() < deadline, "SIGHUP did not reload the model"
                time.sleep(0.05)

            for i in range(5):
                r = client.post("/v1/feedback", headers=H, json={
                    "id": f"K{i}", "title": f"listing {i}", "label": "drugs", "note": "n"})
                assert r.status_code == 201, r.text
        server.proc.send_signal(signal.SIGKILL)  # no shutdown code runs
        server.proc.wait(timeout=30)
    finally:
        server.stop()
    assert server.proc.returncode == -signal.SIGKILL
    assert rows(db) == [(f"K{i}", f"listing {i}", None, "drugs", "n", "feedback")
                        for i in range(5)]
    log = (tmp_path / "server.log").read_text()
    assert '"event": "model loaded"' in log and "baseline-test-hup" in log
