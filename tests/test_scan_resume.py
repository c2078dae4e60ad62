"""Kill a scan at any point, run the same command again: every row exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from serve.scan.sink import KILL_ENV, PAUSE_ENV
from tests.fixtures import rows

ROOT = Path(__file__).resolve().parents[1]


def make_inputs(folder: Path) -> tuple[set[str], set[str]]:
    """3,000 rows over a CSV (with bad rows) and a Parquet file; (good ids, bad ids)."""
    folder.mkdir()
    data = rows()
    good, bad = set(), set()
    lines = ["id,title,market"]
    for i in range(1500):
        if i % 97 == 0:
            lines.append(f"c{i},,agora")  # empty title
            bad.add(f"c{i}")
        else:
            lines.append(f'c{i},"{data[i % len(data)][0]}",agora')
            good.add(f"c{i}")
    lines.insert(200, "broken,line,with,too,many,fields")  # a reject without an id
    (folder / "a.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ids = [f"p{i}" for i in range(1500)]
    pd.DataFrame({"id": ids, "title": [data[i % len(data)][0] for i in range(1500)]}
                 ).to_parquet(folder / "b.parquet")
    good.update(ids)
    return good, bad


def command(inputs: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "cli.main", "scan", str(inputs), "--model", "baseline-test",
            "--output", str(output), "--chunk-rows", "50", "--workers", "1", "--no-progress"]


def environment(models_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CONTRABAND_MODELS": str(models_dir), **extra}
    env.pop(KILL_ENV, None)
    env.pop(PAUSE_ENV, None)
    env.update(extra)
    return env


def test_kill_and_resume_exactly_once(models_dir, tmp_path):
    good, bad = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    cmd = command(tmp_path / "in", out)

    # 1. the scan kills itself after writing its 7th part, before committing it
    first = subprocess.run(cmd, cwd=ROOT, env=environment(models_dir, **{KILL_ENV: "7"}),
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == -signal.SIGKILL, first.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert len([p for p in (out / "parts").iterdir() if p.suffix == ".parquet"]) == 7
    assert 0 < manifest["totals"]["rows_read"] < 3001

    # 2. resumed, slowed down, and killed from outside at an arbitrary moment
    slow = subprocess.Popen(cmd, cwd=ROOT, env=environment(models_dir, **{PAUSE_ENV: "0.03"}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and slow.poll() is None:
        if len(list((out / "parts").glob("part-*.parquet"))) >= 25:
            break
        time.sleep(0.02)
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=30)
    assert slow.returncode == -signal.SIGKILL
    partial = json.loads((out / "manifest.json").read_text())
    assert not partial["complete"]
    assert partial["totals"]["rows_read"] > manifest["totals"]["rows_read"]

    # 3. the same command finishes the job
    last = subprocess.run(cmd, cwd=ROOT, env=environment(models_dir), capture_output=True,
                          text=True, timeout=120)
    assert last.returncode == 0, last.stderr
    assert "resuming" in last.stderr
    scanned = [i for p in sorted((out / "parts").glob("part-*.parquet"))
               for i in pq.read_table(p, columns=["id"]).column("id").to_pylist()]
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert len(scanned) == len(set(scanned)) and set(scanned) == good
    rejected_ids = [r["id"] for r in rejects if r["id"] is not None]
    assert sorted(rejected_ids) == sorted(bad)
    assert [r["reason"][:15] for r in rejects if r["id"] is None] == ["broken CSV line"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_scanned"] == len(good)
    assert summary["rows_rejected"] == len(bad) + 1
    assert summary["rows_read"] == 3001
    assert not list((out / "parts").glob(".*.tmp"))
