"""Helpers for the API tests: settings with known keys, a client, a real uvicorn process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from model import Classifier
from serve.api import Settings
from serve.api.auth import hash_key

ROOT = Path(__file__).resolve().parents[1]
# test keys and their roles; only their hashes reach the server
KEYS = {
    "classify": ("k-classify-0123456789", ["classify"]),
    "feedback": ("k-feedback-0123456789", ["feedback"]),
    "admin": ("k-admin-0123456789", ["admin"]),
    "all": ("k-all-0123456789", ["classify", "feedback", "admin"]),
}


def keys_json() -> str:
    return json.dumps([{"name": name, "sha256": hash_key(key), "roles": roles}
                       for name, (key, roles) in KEYS.items()])


def headers(who: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[who][0]}


def api_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "auth": "on",
        "api_keys": keys_json(),
        "api_keys_file": tmp_path / "no-keys-file.json",
        "feedback_db": tmp_path / "feedback" / "feedback.sqlite3",
        "rate_limit_per_s": 0,
        "models_dir": str(tmp_path / "empty-models"),
    }
    values.update(overrides)
    return Settings(**values)


def clone(clf: Classifier, version: str | None = None) -> Classifier:
    """A classifier sharing ``clf``'s fitted model, optionally under another version."""
    config = dict(clf.config)
    config.pop("files", None)
    if version:
        config["version"] = version
    return Classifier(clf.model, clf.labels, thresholds=clf.thresholds, config=config)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class UvicornProcess:
    """``uvicorn --factory serve.api:create_app`` in a child process on a free port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "serve.api:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"],
            cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                   f"{Path(self.log.name).read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready in {timeout_s} s: "
                           f"{Path(self.log.name).read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.log.close()
