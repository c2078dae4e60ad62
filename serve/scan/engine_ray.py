"""The Ray engine: the same readers and scoring as the local engine, spread over a cluster.

A Ray Data pipeline: one read task per input file (the shared streaming readers, so rejects,
row numbers and chunks are identical to the local engine) feeds ``map_batches`` on a pool of
actors that each load the model bundle once. The bundle's files travel through the object
store, so workers need no access to the models folder; inputs must be readable from every
node (a shared filesystem or object storage such as ``s3://``). Scored chunks come back to
the driver, which commits parts, rejects and manifest exactly as the local engine does.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from model import Classifier
from model.classifier import BundleInfo
from model.kinds import THREADS_ENV
from serve.scan.columns import ColumnMap
from serve.scan.engine_local import file_chunks
from serve.scan.inputs import InputFile
from serve.scan.manifest import Manifest
from serve.scan.scoring import score_chunk
from serve.scan.sink import FileEnd, ScanError, Sink

log = logging.getLogger("serve.scan")
CHUNK, END = "chunk", "end"

# A local instance started for one scan. With every chunk its own block (BLOCK_BYTES), only
# a few chunks are in the object store at a time, and a small store keeps each process's
# share of it small: every process maps the store, and freed objects spread over fresh
# pages, so its PSS grows towards the store's size. On the 1M-row benchmark (2 cores, 16,384
# rows per chunk): 2 GiB store 2.10 GiB summed PSS, 512 MiB 1.95-2.04, 256 MiB 1.91, at the
# same speed (13,108-13,704 listings/s). Ray also keeps one idle Python worker per CPU in
# reserve (~150-600 MB each, once they have run a read task): none are kept here, the
# scan's tasks and actors start their own.
LOCAL_RAY_SETTINGS: dict[str, Any] = {
    "object_store_memory": 256 * 2**20,
    "_system_config": {"enable_worker_prestart": False, "prestart_worker_first_driver": False,
                       "num_workers_soft_limit": 0},
}

BLOCK_BYTES = 1  # Ray Data's target block size: every yielded row (one chunk) ends a block


def run_ray(bundle: BundleInfo, inputs: list[InputFile], manifest: Manifest, sink: Sink, *,
            address: str | None, chunk_rows: int, columns: ColumnMap,
            group_by: tuple[str, ...], workers: int) -> None:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ScanError("--engine ray needs Ray: pip install 'contraband[distributed]' "
                        f"({exc})") from exc
    todo = [i for i in range(len(inputs)) if not manifest.file_state(i)["complete"]]
    if not todo:
        return
    started_here = not ray.is_initialized()
    if started_here:
        # a local instance sized for the actors plus the readers; or join a cluster
        init: dict[str, Any] = {"address": address, "ignore_reinit_error": True,
                                "include_dashboard": False, "log_to_driver": False}
        if address is None:
            init.update(LOCAL_RAY_SETTINGS, num_cpus=workers + 1)
        ray.init(**init)
    context = ray.data.DataContext.get_current()
    before = (context.enable_progress_bars, context.target_max_block_size)
    try:
        context.enable_progress_bars = False
        # Every chunk its own block. Ray Data otherwise packs the rows a task yields into
        # blocks of up to target_max_block_size (128 MiB): the reader's chunks reached the
        # actors, and the scored chunks the driver, a hundred MB at a time, so a 1M-row scan
        # held most of its output in the object store until the end (measured: nothing
        # reached the driver for 40 s, then all of it within 11).
        context.target_max_block_size = BLOCK_BYTES
        files_ref = ray.put(_bundle_files(Path(bundle.path)))
        done = {i: manifest.done_chunks(i) for i in todo}
        ds = ray.data.from_items([{"file_index": i} for i in todo],
                                 override_num_blocks=len(todo))
        ds = ds.map_batches(_read_files, batch_size=1, num_cpus=0.25,
                            fn_kwargs={"inputs": inputs, "done": done,
                                       "chunk_rows": chunk_rows, "columns": columns})
        ds = ds.map_batches(_ScoringActor, batch_size=1, num_cpus=1,
                            compute=ray.data.ActorPoolStrategy(size=workers),
                            fn_constructor_kwargs={"bundle": files_ref, "version": bundle.version,
                                                   "inputs": inputs, "columns": columns,
                                                   "group_by": group_by})
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for kind, payload in zip(batch["kind"], batch["payload"], strict=True):
                item = pickle.loads(payload)
                if kind == END:
                    sink.file_end(item)
                else:
                    sink.commit(item)
    finally:
        # the caller's own datasets keep their settings
        context.enable_progress_bars, context.target_max_block_size = before
        if started_here:
            ray.shutdown()


def _bundle_files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def _read_files(batch: dict[str, np.ndarray], inputs: list[InputFile], done: dict[int, set],
                chunk_rows: int, columns: ColumnMap) -> Iterator[dict[str, np.ndarray]]:
    """A read task: stream one file's uncommitted chunks, then its end marker."""
    for file_index in batch["file_index"]:
        index = int(file_index)
        for item in file_chunks(inputs[index], index, done[index], chunk_rows, columns):
            kind = END if isinstance(item, FileEnd) else CHUNK
            yield _row(kind, item)


def _row(kind: str, item: object) -> dict[str, np.ndarray]:
    payload = np.empty(1, dtype=object)
    payload[0] = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    return {"kind": np.array([kind]), "payload": payload}


class _ScoringActor:
    """Loads the bundle once (checksums verified) and scores chunk after chunk."""

    def __init__(self, bundle: dict[str, bytes], version: str, inputs: list[InputFile],
                 columns: ColumnMap, group_by: tuple[str, ...]) -> None:
        import ray

        # a transformer runs on the CPUs Ray gave this actor, not on every core of the node
        # (with one actor per core that would be cores x cores threads)
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        os.environ.setdefault(THREADS_ENV, str(max(1, int(cpus))))
        files = ray.get(bundle) if isinstance(bundle, ray.ObjectRef) else bundle
        folder = Path(tempfile.mkdtemp(prefix="contraband-bundle-"))
        try:
            for name, data in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            self.clf = Classifier.load(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if self.clf.version != version:
            raise RuntimeError(f"bundle holds {self.clf.version}, expected {version}")
        self.inputs = inputs
        self.columns = columns
        self.group_by = group_by

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        kinds, payloads = [], []
        for kind, payload in zip(batch["kind"], batch["payload"], strict=True):
            if kind == CHUNK:
                chunk = pickle.loads(payload)
                scored = score_chunk(self.clf, chunk, self.inputs[chunk.file_index],
                                     self.columns, self.group_by)
                payload = pickle.dumps(scored, protocol=pickle.HIGHEST_PROTOCOL)
            kinds.append(kind)
            payloads.append(payload)
        out = np.empty(len(payloads), dtype=object)
        out[:] = payloads
        return {"kind": np.array(kinds), "payload": out}
