"""Scan throughput and memory, Parquet to Parquet, with the local engine and with Ray.

    .venv/bin/python benchmarks/scan_benchmark.py                      # 1M rows, both engines
    .venv/bin/python benchmarks/scan_benchmark.py --rows 200000 --engines local --workers 1 2
    .venv/bin/python benchmarks/scan_benchmark.py --flat-memory --rows 10000000

The input repeats real listings from $CONTRABAND_DATA (default ../shared/datasets) up to
``--rows`` and is written under artifacts/bench/ (git-ignored). Each scan runs as a separate
``contraband scan`` process; its peak memory is the largest summed RSS of its process tree
(Ray's raylet and workers included), sampled every 0.5 s, and the largest summed PSS (each
shared page split between the processes that map it: Ray's object store is mapped into
every worker, so summed RSS counts it several times). ``--flat-memory`` scans a quarter
of the rows and then all of them, to show that peak memory does not grow with input size.
If the models folder has no bundle of the asked kind, a baseline is trained on a sample of
the shared data first (and the output says so).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "artifacts" / "bench"
sys.path.insert(0, str(ROOT))


def shared_listings(limit_per_file: int = 20_000) -> pa.Table:
    data = Path(os.environ.get("CONTRABAND_DATA") or ROOT.parent / "shared" / "datasets")
    files = sorted(data.glob("*/*.parquet"))
    if not files:
        raise SystemExit(f"no listings under {data}; set CONTRABAND_DATA")
    tables = []
    for path in files:
        table = pq.read_table(path, columns=["title", "description", "market", "source"])
        tables.append(table.slice(0, limit_per_file).cast(pa.schema([
            ("title", pa.string()), ("description", pa.string()), ("market", pa.string()),
            ("source", pa.string())])))
    return pa.concat_tables(tables)


def build_input(rows: int) -> Path:
    """A ``rows``-row Parquet file of repeated shared listings (reused when present)."""
    path = BENCH / f"listings-{rows}.parquet"
    if path.is_file() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    BENCH.mkdir(parents=True, exist_ok=True)
    base = shared_listings()
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, base.schema.append(pa.field("id", pa.int64()))) as out:
        written = 0
        while written < rows:
            n = min(200_000, rows - written)
            take = base.take(rng.integers(0, base.num_rows, n))
            out.write_table(take.append_column("id", pa.array(np.arange(written, written + n))))
            written += n
    os.replace(tmp, path)
    return path


def ensure_model(model: str, models_dir: Path, sample: int) -> str:
    from model import BundleError, registry

    try:
        return str(registry.resolve(model, None))
    except BundleError:
        pass
    if model != "baseline":
        raise SystemExit(f"no {model} bundle in {registry.models_dir()}; train one first")
    target = models_dir / f"baseline-bench-sample{sample}"
    if target.is_dir():
        return str(target)
    print(f"no baseline bundle in {registry.models_dir()}: training one on {sample:,} shared "
          "listings (labels from the market's category: a stand-in, not the real model)")
    from model import Classifier, LabelSet
    from model.baseline import TfidfLinearModel
    from model.text import listing_text

    data = Path(os.environ.get("CONTRABAND_DATA") or ROOT.parent / "shared" / "datasets")
    labels = LabelSet.from_names(["benign", "drugs", "weapons", "counterfeit", "stolen_data"])
    texts, ys = [], []
    keywords = {"drug": 1, "cannabis": 1, "weapon": 2, "counterfeit": 3, "fraud": 4,
                "data": 4, "account": 4}
    for path in sorted(data.glob("*/*.parquet")):
        table = pq.read_table(path, columns=["title", "description", "category", "kind"])
        for row in table.slice(0, sample // 20).to_pylist():
            category = (row["category"] or "").lower()
            y = 0 if row["kind"] == "surface" else next(
                (v for k, v in keywords.items() if k in category), None)
            if y is not None:
                texts.append(listing_text(row["title"], row["description"]))
                ys.append(y)
    model = TfidfLinearModel().fit(texts, np.array(ys))
    clf = Classifier(model, labels, config={"version": f"baseline-bench-sample{sample}"})
    clf.save(target)
    return str(target)


class TreeMemory:
    """Peak summed RSS and PSS of a process and all its descendants (Linux /proc)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.at_peak: dict[str, int] = {}  # PSS per process name when the summed PSS peaked
        while not self._stop.is_set():
            rss, pss, by_process = tree_memory(self.pid)
            self.peak = max(self.peak, rss)
            if pss > self.peak_pss:
                self.peak_pss, self.at_peak = pss, by_process
            time.sleep(0.5)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _pss(pid: int) -> int:
    """Proportional set size in bytes (0 where the kernel does not say)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _name(pid: int) -> str:
    """A process's name: its command line's first word (Ray sets it to "ray::Actor...")."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            first = handle.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return "?"
    return first.split(" ")[0].rsplit("/", 1)[-1] or "?"


def tree_memory(root: int) -> tuple[int, int, dict[str, int]]:
    """(summed RSS, summed PSS, PSS summed per process name) in bytes of ``root`` and all
    its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, total_pss, stack = 0, 0, [root]
    by_process: dict[str, int] = {}
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        pss = _pss(pid)
        total_pss += pss
        name = _name(pid)
        by_process[name] = by_process.get(name, 0) + pss
        stack.extend(children.get(pid, []))
    return total, total_pss, by_process


def run_scan(source: Path, model: str, engine: str, workers: int,
             chunk_rows: int | None) -> dict:
    out = BENCH / f"out-{engine}-{workers}-{source.stem}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "cli.main", "scan", str(source), "--model", model,
           "--output", str(out), "--engine", engine, "--workers", str(workers),
           "--no-progress", "--log-every", "30"]
    if chunk_rows is not None:
        cmd += ["--chunk-rows", str(chunk_rows)]
    started = time.monotonic()
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    memory = TreeMemory(process.pid)
    output, _ = process.communicate()
    wall = time.monotonic() - started
    peak = memory.stop()
    peak_pss = memory.peak_pss
    at_peak = dict(sorted(memory.at_peak.items(), key=lambda kv: -kv[1]))
    if process.returncode != 0:
        raise SystemExit(f"scan failed ({process.returncode}):\n{output[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    shutil.rmtree(out / "parts", ignore_errors=True)
    return {"engine": engine, "workers": workers, "rows": summary["rows_scanned"],
            "wall_s": wall, "scan_s": summary["elapsed_s"], "peak_rss": peak,
            "peak_pss": peak_pss, "pss_at_peak_by_process": at_peak,
            "rate_wall": summary["rows_scanned"] / wall,
            "rate_scan": summary["throughput_rows_per_s"]}


def report(result: dict, project: list[int]) -> None:
    per_worker = result["rate_wall"] / result["workers"]
    print(f"{result['engine']:5s} workers={result['workers']} rows={result['rows']:,} "
          f"wall={result['wall_s']:.1f}s listings/s={result['rate_wall']:,.0f} "
          f"(excluding start-up: {result['rate_scan']:,.0f}) "
          f"peak RSS={result['peak_rss'] / 2**30:.2f} GiB "
          f"PSS={result['peak_pss'] / 2**30:.2f} GiB", flush=True)
    print("      PSS at the peak: " + ", ".join(
        f"{name} {size / 2**20:,.0f} MiB"
        for name, size in result["pss_at_peak_by_process"].items() if size >= 2**20),
        flush=True)
    print(f"      projection from {per_worker:,.0f} listings/s per worker: " + ", ".join(
        f"{n} workers ≈ {per_worker * n:,.0f}/s" for n in project), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="baseline",
                        help="baseline | transformer | cascade | bundle name or path")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", nargs="+", default=None, choices=["local", "ray"],
                        help="default: both, or local alone with --flat-memory")
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="rows per chunk (default: the scanner's own for each engine)")
    parser.add_argument("--flat-memory", action="store_true",
                        help="scan rows/4 then rows (local engine unless --engines says "
                             "otherwise); compare peak memory")
    parser.add_argument("--train-sample", type=int, default=40_000,
                        help="listings for the stand-in baseline when no bundle exists")
    parser.add_argument("--project", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    model = ensure_model(args.model, BENCH / "models", args.train_sample)
    print(f"model: {model}")
    sizes = [max(args.rows // 4, 1), args.rows] if args.flat_memory else [args.rows]
    engines = args.engines or (["local"] if args.flat_memory else ["local", "ray"])
    results: list[dict] = []
    for rows in sizes:
        started = time.monotonic()
        source = build_input(rows)
        print(f"input: {source} ({rows:,} rows, {source.stat().st_size / 2**20:.0f} MiB, "
              f"ready in {time.monotonic() - started:.0f}s)", flush=True)
        for engine in engines:
            for workers in args.workers:
                result = run_scan(source, model, engine, workers, args.chunk_rows)
                report(result, args.project)
                results.append({**result, "model": model, "input": str(source),
                                "cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0]})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
