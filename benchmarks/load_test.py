"""Load test of the HTTP API: a real uvicorn server on loopback, async httpx clients.

    python benchmarks/load_test.py --model default            # a bundle from artifacts/models
    python benchmarks/load_test.py --tiny                     # the tiny test bundle
    python benchmarks/load_test.py --model baseline --duration 10 --output out.json
    python benchmarks/load_test.py --model default --clients 8 --batch 32 --rate 1000
    python benchmarks/load_test.py --model default --clients 8 --batch 32 --markets 20

For every cell of (concurrent clients × listings per request) — by default 1, 8, 64 clients
and batches of 1 and 32 — each client sends requests back to back for ``--duration``
seconds (or, with ``--rate``, on a fixed schedule that offers that many listings/s: the
latency at a given load rather than at saturation). Reported: requests/s, listings/s,
p50/p95/p99 latency over every request sent (a failed one at the time it took to fail) and
failed requests. The
server runs with authentication off (loopback only) and its production defaults otherwise
(micro-batching, JSON access logs to a file). Clients and server share this machine's
cores, so the figures are a lower bound for a server with the cores to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tiny_bundle(directory: Path) -> Path:
    """Train the test suite's tiny baseline on its hand-written listings and save it."""
    from model import Classifier, LabelSet
    from model.baseline import TfidfLinearModel
    from model.text import listing_text
    from tests.fixtures import rows

    labels = LabelSet.from_names(["benign", "drugs", "weapons", "counterfeit", "stolen_data"])
    data = rows()
    model = TfidfLinearModel(calibration_folds=2).fit(
        [listing_text(t) for t, _ in data], np.array([labels.index(y) for _, y in data]))
    thresholds = {n: {"block": 0.6, "review": 0.3} for n in labels.illicit}
    clf = Classifier(model, labels, thresholds=thresholds, config={"version": "baseline-tiny"})
    return clf.save(directory / "baseline-tiny")


def with_markets(listings: list[dict[str, Any]], markets: int) -> list[dict[str, Any]]:
    """The listings, each naming one of ``markets`` markets in turn (none where 0)."""
    if not markets:
        return listings
    return [{**item, "market": f"market-{i % markets}"} for i, item in enumerate(listings)]


def load_listings(path: str | None, limit: int = 5000) -> list[dict[str, Any]]:
    """Listings to send: from a Parquet/CSV file with title (and description), else the
    test suite's hand-written titles."""
    if path:
        import pandas as pd

        frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
        frame = frame.sample(min(limit, len(frame)), random_state=0)
        out = []
        for title, description in zip(frame["title"], frame.get("description", [None] * len(
                frame)), strict=True):
            item: dict[str, Any] = {"title": str(title)[:1000] or "?"}
            if isinstance(description, str) and description:
                item["description"] = description[:20_000]
            out.append(item)
        return out
    from tests.fixtures import rows

    return [{"title": title} for title, _ in rows()]


def process_tree_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by ``pid`` and its children (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        this = int(stat.parent.name)
        parents[this] = int(fields[1])
        used[this] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(used.get(p, 0.0) for p in tree)


def load_average() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


class Server:
    def __init__(self, model: str, workers: int, workdir: Path, extra_env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        env = {
            **os.environ, "PYTHONPATH": str(ROOT), "CONTRABAND_AUTH": "off",
            "CONTRABAND_MODEL": model, "CONTRABAND_FEEDBACK_DB": str(workdir / "fb.sqlite3"),
            **extra_env,
        }
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "serve.api:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
             "--no-access-log", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                r = httpx.get(f"{self.url}/readyz", timeout=2.0)
                if r.status_code == 200:
                    return r.json()
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"server not ready: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


async def run_cell(url: str, listings: list[dict[str, Any]], clients: int, batch: int,
                   duration_s: float, warmup_s: float, server_pid: int | None = None,
                   rate: float | None = None) -> dict[str, Any]:
    """One cell. Closed loop (each client sends its next request when the last returns) by
    default; with ``rate`` (listings/s offered by all clients together) each client sends on
    a fixed schedule instead, and a request's latency counts from when it was due, so a
    server that falls behind is charged for the queueing (no coordinated omission)."""
    latencies: list[float] = []  # every request sent, failed ones included
    failures: dict[str, int] = {}
    # one client (one keep-alive connection) per simulated user: a shared pool serialises
    # on its own lock at high concurrency and would measure httpx rather than the server
    sessions = [httpx.AsyncClient(base_url=url, timeout=60.0,
                                  limits=httpx.Limits(max_connections=1))
                for _ in range(clients)]

    async def one_client(index: int, until: float, record: bool) -> None:
        client, cursor = sessions[index], index * 7919
        interval = clients * batch / rate if rate else 0.0
        due = time.perf_counter() + interval * index / clients
        while time.perf_counter() < until:
            body = {"listings": [listings[(cursor + i) % len(listings)] for i in range(batch)]}
            cursor += batch
            if rate:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                started, due = due, due + interval
            else:
                started = time.perf_counter()
            try:
                r = await client.post("/v1/classify", json=body)
                ok, why = r.status_code == 200, str(r.status_code)
            except httpx.HTTPError as exc:
                ok, why = False, type(exc).__name__
            if record:
                # every request's time counts in the percentiles, a failed one's too (a
                # timeout is the slowest answer of all); only answered ones count as served
                latencies.append(time.perf_counter() - started)
                if not ok:
                    failures[why] = failures.get(why, 0) + 1

    try:
        warm_until = time.perf_counter() + warmup_s
        await asyncio.gather(*(one_client(i, warm_until, False) for i in range(clients)))
        cpu_before = process_tree_cpu_s(server_pid) if server_pid else None
        started = time.perf_counter()
        until = started + duration_s
        await asyncio.gather(*(one_client(i, until, True) for i in range(clients)))
        elapsed = time.perf_counter() - started
        cpu_after = process_tree_cpu_s(server_pid) if server_pid else None
    finally:
        await asyncio.gather(*(c.aclose() for c in sessions))
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    failed = sum(failures.values())
    served = len(latencies) - failed  # answered with 200
    return {
        "clients": clients, "batch": batch, "offered_listings_per_s": rate,
        "seconds": round(elapsed, 3),
        "requests": served, "failed": failed, "failures": failures,
        "requests_per_s": round(served / elapsed, 1),
        "listings_per_s": round(served * batch / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        # the server's own CPU use: a capacity figure less sensitive to other load on the
        # machine than the wall-clock rates above
        "server_cpu_s": None if cpu_before is None else round(cpu_after - cpu_before, 2),
        "listings_per_server_cpu_s": (
            None if cpu_before is None or cpu_after == cpu_before
            else round(served * batch / (cpu_after - cpu_before), 1)),
        "load_average_1m": load_average(),
    }


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def table(cells: list[dict[str, Any]]) -> str:
    head = (f"{'clients':>7} {'batch':>5} {'requests':>8} {'failed':>6} {'req/s':>8} "
            f"{'listings/s':>10} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
            f"{'srv CPU s':>9} {'listings/CPU-s':>14} {'load1':>5}")
    lines = [head, "-" * len(head)]
    for c in cells:
        lines.append(f"{c['clients']:>7} {c['batch']:>5} {c['requests']:>8} {c['failed']:>6} "
                     f"{c['requests_per_s']:>8.1f} {c['listings_per_s']:>10.1f} "
                     f"{c['p50_ms']:>7.2f} {c['p95_ms']:>7.2f} {c['p99_ms']:>7.2f} "
                     f"{_num(c['server_cpu_s']):>9} {_num(c['listings_per_server_cpu_s']):>14} "
                     f"{_num(c['load_average_1m']):>5}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="bundle path, folder name, kind or 'default'")
    which.add_argument("--tiny", action="store_true", help="serve the tiny test bundle")
    p.add_argument("--models-dir", help="models folder (default $CONTRABAND_MODELS)")
    p.add_argument("--listings", help="Parquet/CSV with title[, description] to send")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured per cell")
    p.add_argument("--rate", type=float, default=None, metavar="LISTINGS_PER_S",
                   help="offer this many listings/s on a fixed schedule (open loop) instead "
                        "of sending back to back; latency counts from when a request was due")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds before each cell")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--markets", type=int, default=0, metavar="N",
                   help="each listing names one of N markets (market-0 …, in turn), so the "
                        "server's market adaptation runs; 0 (default): listings name none")
    p.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE",
                   help="extra server settings, e.g. CONTRABAND_BATCH_WAIT_MS=1")
    p.add_argument("--output", default="benchmarks/results/load_test.json")
    args = p.parse_args(argv)
    if args.duration <= 0 or min(args.clients) < 1 or min(args.batch) < 1:
        p.error("--duration, --clients and --batch must be positive")
    if args.rate is not None and args.rate <= 0:
        p.error("--rate must be positive")
    if args.markets < 0:
        p.error("--markets must be 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    extra_env = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="contraband-load-") as tmp:
        workdir = Path(tmp)
        if args.tiny:
            bundle = tiny_bundle(workdir)
        else:
            from model import registry

            bundle = registry.resolve(args.model, args.models_dir).resolve()
        listings = with_markets(load_listings(args.listings), args.markets)
        server = Server(str(bundle), args.workers, workdir, extra_env)
        try:
            ready = server.wait_ready()
            print(f"server {server.url} ready: model {ready['model_version']} ({bundle}); "
                  f"{args.workers} worker(s), {os.cpu_count()} CPUs", flush=True)
            cells = []
            for batch in args.batch:
                for clients in args.clients:
                    cell = asyncio.run(run_cell(server.url, listings, clients, batch,
                                                args.duration, args.warmup, server.proc.pid,
                                                args.rate))
                    cells.append(cell)
                    print(table([cell]).splitlines()[-1], flush=True)
        finally:
            server.stop()
    print()
    print(table(cells))
    result = {
        "model_version": ready["model_version"], "bundle": str(bundle),
        "tiny": bool(args.tiny), "workers": args.workers, "server_env": extra_env,
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "duration_s": args.duration, "listings_source": args.listings or "tests/fixtures.py",
        "markets": args.markets,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cells": cells,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")
    failed = sum(c["failed"] for c in cells)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
