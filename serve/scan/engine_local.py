"""The local engine: read in this process, score in a small process pool, commit in order.

The TF-IDF transform is the bottleneck, so scoring runs in ``workers`` processes (each loads
the bundle once); reading and writing stay here. At most ``2 * workers`` chunks are in flight,
which bounds memory whatever the input size.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager

from model import Classifier
from model.classifier import BundleInfo
from serve.scan.columns import ColumnMap
from serve.scan.inputs import InputFile
from serve.scan.manifest import Manifest
from serve.scan.readers import RawChunk, iter_chunks
from serve.scan.scoring import ScoredChunk, score_chunk
from serve.scan.sink import FileEnd, Sink


def chunk_stream(inputs: list[InputFile], manifest: Manifest, chunk_rows: int,
                 columns: ColumnMap) -> Iterator[RawChunk | FileEnd]:
    """Chunks not yet committed, each file followed by its :class:`FileEnd`."""
    for index, source in enumerate(inputs):
        if manifest.file_state(index)["complete"]:
            continue
        yield from file_chunks(source, index, manifest.done_chunks(index), chunk_rows, columns)


def file_chunks(source: InputFile, index: int, done: set[int], chunk_rows: int,
                columns: ColumnMap) -> Iterator[RawChunk | FileEnd]:
    """One file's uncommitted chunks then its end marker; a read error ends the file."""
    chunks = 0
    try:
        for chunk in iter_chunks(source, index, chunk_rows, columns):
            chunks = chunk.chunk_index + 1
            if chunk.chunk_index not in done:
                yield chunk
    except Exception as exc:  # any failure to read is reported per file, never fatal here
        yield FileEnd(index, chunks, f"{type(exc).__name__}: {exc}")
        return
    yield FileEnd(index, chunks)


def run_local(bundle: BundleInfo, inputs: list[InputFile], manifest: Manifest, sink: Sink, *,
              chunk_rows: int, columns: ColumnMap, group_by: tuple[str, ...],
              workers: int) -> None:
    stream = chunk_stream(inputs, manifest, chunk_rows, columns)
    if workers <= 1:
        clf = _load_checked(str(bundle.path), bundle.version)
        for item in stream:
            if isinstance(item, FileEnd):
                sink.file_end(item)
            else:
                sink.commit(score_chunk(clf, item, inputs[item.file_index], columns, group_by))
        return
    context = multiprocessing.get_context("spawn")  # fork after threads start is unsafe
    with _worker_environment(WORKER_MALLOC_ENV), ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker,
            initargs=(str(bundle.path), bundle.version)) as pool:
        inflight: deque[Future | FileEnd] = deque()
        try:
            for item in stream:
                if isinstance(item, FileEnd):
                    inflight.append(item)
                else:
                    inflight.append(pool.submit(_score, item, inputs[item.file_index], columns,
                                                group_by))
                while inflight and (len(inflight) > 2 * workers
                                    or isinstance(inflight[0], FileEnd)):
                    _settle(inflight.popleft(), sink)
            while inflight:
                _settle(inflight.popleft(), sink)
        except BaseException:
            for item in inflight:
                if isinstance(item, Future):
                    item.cancel()
            raise


# glibc returns every large freed array to the OS and page-faults it back in for the next
# chunk: a tenth of a scan's CPU time went to the kernel. Workers keep their freed memory
# for reuse instead; their peak is unchanged (it is what one chunk needs).
WORKER_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**25), "MALLOC_TRIM_THRESHOLD_": str(2**31)}


@contextmanager
def _worker_environment(values: dict[str, str]) -> Iterator[None]:
    """Environment variables for the worker processes started inside the block (a spawned
    worker copies this process's environment; glibc reads it only at start-up). The user's
    own settings win."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def _settle(item: Future | FileEnd, sink: Sink) -> None:
    if isinstance(item, FileEnd):
        sink.file_end(item)
    else:
        sink.commit(item.result())


_WORKER_CLF: Classifier | None = None


def _load_checked(path: str, version: str) -> Classifier:
    """The bundle at ``path``, refused if it no longer holds the model the scan started with."""
    clf = Classifier.load(path)
    if clf.version != version:
        raise RuntimeError(f"{path} now holds model {clf.version}, not {version}")
    return clf


def _init_worker(path: str, version: str) -> None:
    global _WORKER_CLF
    _WORKER_CLF = _load_checked(path, version)


def _score(chunk: RawChunk, source: InputFile, columns: ColumnMap,
           group_by: tuple[str, ...]) -> ScoredChunk:
    assert _WORKER_CLF is not None, "worker not initialised"
    return score_chunk(_WORKER_CLF, chunk, source, columns, group_by)
