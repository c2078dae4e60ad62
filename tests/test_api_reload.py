"""Hot reload under load: no request fails, the swap is atomic, a broken bundle changes
nothing but is reported."""

import threading
import time
from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient

from model import registry
from serve.api import create_app
from tests.api_support import api_settings, clone, headers

H = headers("all")


def _wait_ready(client, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").text
        time.sleep(0.02)


def test_reload_under_concurrent_load(tmp_path, models_dir, tiny_classifier):
    settings = api_settings(tmp_path, models_dir=str(models_dir), batch_wait_ms=1)
    statuses: Counter = Counter()
    versions: Counter = Counter()
    stop = threading.Event()

    with TestClient(create_app(settings)) as client:  # loads "default" in the background
        _wait_ready(client)

        def hammer():
            body = {"listings": [{"title": "Glock 19 with 2 mags"}, {"title": "garden hose"}]}
            while not stop.is_set():
                r = client.post("/v1/classify", json=body, headers=H)
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    [v] = {x["model_version"] for x in r.json()["results"]}
                    versions[v] += 1

        threads = [threading.Thread(target=hammer) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            clone(tiny_classifier, "baseline-test-2").save(models_dir / "v2")
            registry.set_default("v2", models_dir)
            r = client.post("/v1/admin/reload", headers=H)
            assert r.status_code == 200, r.text
            assert r.json()["reloaded"] is True
            assert (r.json()["previous"], r.json()["version"]) == ("baseline-test",
                                                                   "baseline-test-2")
            time.sleep(0.3)

            broken = clone(tiny_classifier, "baseline-test-3").save(models_dir / "v3")
            with open(broken / "baseline.joblib", "ab") as handle:
                handle.write(b"tampered")
            registry.set_default("v3", models_dir)
            r = client.post("/v1/admin/reload", headers=H)
            assert r.status_code == 409
            assert r.json()["reloaded"] is False and "checksum" in r.json()["error"]
            assert r.json()["version"] == "baseline-test-2"
            time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert client.get("/readyz").json()["model_version"] == "baseline-test-2"
        metrics = client.get("/metrics").text

    assert set(statuses) == {200}, statuses
    assert versions["baseline-test"] > 0 and versions["baseline-test-2"] > 0
    assert "baseline-test-3" not in versions
    assert 'contraband_model_reloads_total{outcome="failed"} 1.0' in metrics
    assert 'contraband_model_reloads_total{outcome="ok"} 2.0' in metrics  # startup + reload


def test_reload_applies_stored_thresholds(tmp_path, models_dir):
    settings = api_settings(tmp_path, models_dir=str(models_dir))
    with TestClient(create_app(settings)) as client:
        _wait_ready(client)
        r = client.put("/v1/thresholds", json={"thresholds": {"weapons": {"review": 0.11}}},
                       headers=H)
        assert r.status_code == 200
        assert client.post("/v1/admin/reload", headers=H).status_code == 200
        card = client.get("/v1/model", headers=H).json()
        assert card["thresholds"]["weapons"] == {"block": 0.6, "review": 0.11}


def test_an_override_removed_from_the_file_by_hand_is_dropped(tmp_path, models_dir, monkeypatch):
    """Another worker (or an operator) deletes this version's entry: the bundle's own
    thresholds come back, as /v1/model then says they are."""
    import json

    from serve.api import state

    monkeypatch.setattr(state, "_OVERRIDE_CHECK_S", 0.0)  # look at the file on every batch
    settings = api_settings(tmp_path, models_dir=str(models_dir))
    with TestClient(create_app(settings)) as client:
        _wait_ready(client)
        trained = client.get("/v1/model", headers=H).json()["thresholds"]["weapons"]
        put = client.put("/v1/thresholds", json={"thresholds": {"weapons": {"review": 0.11}}},
                         headers=H)
        assert put.status_code == 200
        assert client.get("/v1/model", headers=H).json()["thresholds_overridden"]
        path = Path(put.json()["stored_in"])
        time.sleep(0.01)  # a new modification time
        path.write_text(json.dumps({}), encoding="utf-8")
        body = {"listings": [{"title": "Glock 19 + 2 mags"}]}
        assert client.post("/v1/classify", json=body, headers=H).status_code == 200
        card = client.get("/v1/model", headers=H).json()
        assert not card["thresholds_overridden"]
        assert card["thresholds"]["weapons"] == trained


def _store_many(path: str, prefix: str, n: int) -> None:
    from serve.api.overrides import ThresholdOverrides

    store = ThresholdOverrides(Path(path))
    for i in range(n):
        store.set(f"{prefix}-{i}", {"drugs": {"block": 0.9, "review": 0.4}})


def test_two_processes_storing_overrides_lose_no_entry(tmp_path):
    """Server workers are processes: each one's read-change-write must see the other's."""
    import json
    import multiprocessing

    path = tmp_path / "threshold_overrides.json"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_store_many, args=(str(path), name, 60))
               for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len(json.loads(path.read_text())) == 120


def test_a_threshold_change_reaches_a_model_installed_as_it_was_written(
        tmp_path, tiny_classifier, monkeypatch):
    """A reload that read the overrides file just before a PUT wrote it installs a model
    without the change; the next batch must apply it to that model."""
    from serve.api import state

    monkeypatch.setattr(state, "_OVERRIDE_CHECK_S", 0.0)
    with TestClient(create_app(api_settings(tmp_path), tiny_classifier)) as client:
        _wait_ready(client)
        loaded_before_the_write = clone(tiny_classifier)  # same version, file not yet read
        assert client.put("/v1/thresholds", json={"thresholds": {"weapons": {"review": 0.11}}},
                          headers=H).status_code == 200
        client.app.state.services.state._install(loaded_before_the_write)  # the reload ends
        body = {"listings": [{"title": "Glock 19 + 2 mags"}]}
        assert client.post("/v1/classify", json=body, headers=H).status_code == 200
        card = client.get("/v1/model", headers=H).json()
        assert card["thresholds"]["weapons"]["review"] == 0.11
