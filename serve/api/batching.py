"""Server-side micro-batching: concurrent requests share one model call.

Each request puts its listings on a queue and awaits a future. A collector task takes the
first waiting job, keeps gathering jobs for at most ``wait_s`` (or until ``max_listings``),
and hands the whole batch to a thread pool, so the event loop never runs the model. While
``concurrency`` batches are already running, jobs pile up on the queue and the next batch is
larger: throughput grows with load instead of latency growing with the queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Job:
    items: Sequence[Any]
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    def __init__(
        self,
        run_batch: Callable[[list[Any]], list[Any]],
        *,
        max_listings: int = 256,
        wait_s: float = 0.002,
        concurrency: int = 1,
    ) -> None:
        if max_listings < 1 or concurrency < 1 or wait_s < 0:
            raise ValueError("max_listings and concurrency must be ≥ 1, wait_s ≥ 0")
        self._run_batch = run_batch
        self.max_listings = max_listings
        self.wait_s = wait_s
        self.concurrency = concurrency
        self._queue: asyncio.Queue[_Job] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._collector: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()
        self._carry: _Job | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.concurrency)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="inference"
        )
        self._collector = asyncio.create_task(self._collect_forever(), name="micro-batcher")

    async def stop(self) -> None:
        """Finish the batches already running, then stop; queued jobs are failed clearly."""
        if self._collector is not None:
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
            self._collector = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        pending = [self._carry] if self._carry else []
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for job in pending:
            if not job.future.done():
                job.future.set_exception(RuntimeError("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def submit(self, items: Sequence[Any]) -> list[Any]:
        """Results for ``items``, in order, computed in some batch with other requests."""
        if self._queue is None or self._collector is None:
            raise RuntimeError("the batcher is not running")
        if not items:
            return []
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(items, future))
        return await future

    async def _next_job(self, timeout: float | None) -> _Job | None:
        assert self._queue is not None
        if self._carry is not None:
            job, self._carry = self._carry, None
            return job
        if not self._queue.empty():
            return self._queue.get_nowait()
        if timeout is not None and timeout <= 0:
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def _collect_forever(self) -> None:
        assert self._slots is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            try:
                first = await self._next_job(None)
                assert first is not None
                batch, size = [first], len(first.items)
                deadline = loop.time() + self.wait_s
                while size < self.max_listings:
                    job = await self._next_job(deadline - loop.time())
                    if job is None:
                        break
                    if size + len(job.items) > self.max_listings:
                        self._carry = job  # starts the next batch
                        break
                    batch.append(job)
                    size += len(job.items)
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Job]) -> None:
        assert self._slots is not None
        try:
            live = [job for job in batch if not job.future.done()]  # skip cancelled callers
            if not live:
                return
            items = [item for job in live for item in job.items]
            loop = asyncio.get_running_loop()
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, items)
                if len(results) != len(items):
                    raise RuntimeError(f"batch returned {len(results)} results for "
                                       f"{len(items)} listings")
            except Exception as exc:
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(exc)
                return
            start = 0
            for job in live:
                end = start + len(job.items)
                if not job.future.done():
                    job.future.set_result(results[start:end])
                start = end
        finally:
            self._slots.release()
