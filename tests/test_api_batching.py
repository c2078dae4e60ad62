"""The micro-batcher: concurrent requests share model calls, results go back in order,
failures reach every caller of the failed batch, and no batch exceeds its size."""

import asyncio
import threading

import pytest

from serve.api.batching import MicroBatcher


class Recorder:
    def __init__(self, fail_on=None):
        self.batches: list[list] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on

    def __call__(self, items):
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(items))
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError("model failed")
        return [f"r-{x}" for x in items]


def run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_share_batches_off_the_event_loop():
    recorder = Recorder()

    async def scenario():
        batcher = MicroBatcher(recorder, max_listings=64, wait_s=0.02)
        await batcher.start()
        try:
            results = await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(20)))
        finally:
            await batcher.stop()
        return results

    results = run(scenario())
    assert results == [[f"r-{i}", f"r-{i + 100}"] for i in range(20)]
    assert len(recorder.batches) < 20 and max(len(b) for b in recorder.batches) > 2
    assert all(name.startswith("inference") for name in recorder.threads)


def test_no_batch_exceeds_the_limit_and_nothing_is_lost():
    recorder = Recorder()

    async def scenario():
        batcher = MicroBatcher(recorder, max_listings=5, wait_s=0.01)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(list(range(i * 10, i * 10 + 3)))
                                          for i in range(10)))
        finally:
            await batcher.stop()

    results = run(scenario())
    assert results == [[f"r-{x}" for x in range(i * 10, i * 10 + 3)] for i in range(10)]
    assert max(len(b) for b in recorder.batches) <= 5
    assert sorted(x for b in recorder.batches for x in b) == sorted(
        x for i in range(10) for x in range(i * 10, i * 10 + 3))


def test_a_failing_batch_fails_its_callers_only():
    recorder = Recorder(fail_on="bad")

    async def scenario():
        batcher = MicroBatcher(recorder, max_listings=1, wait_s=0)
        await batcher.start()
        try:
            return await asyncio.gather(batcher.submit(["ok"]), batcher.submit(["bad"]),
                                        batcher.submit(["fine"]), return_exceptions=True)
        finally:
            await batcher.stop()

    ok, bad, fine = run(scenario())
    assert ok == ["r-ok"] and fine == ["r-fine"]
    assert isinstance(bad, ValueError)


def test_a_cancelled_caller_does_not_break_the_batch():
    recorder = Recorder()

    async def scenario():
        batcher = MicroBatcher(recorder, max_listings=16, wait_s=0.05)
        await batcher.start()
        try:
            doomed = asyncio.create_task(batcher.submit(["gone"]))
            kept = asyncio.create_task(batcher.submit(["kept"]))
            await asyncio.sleep(0.01)
            doomed.cancel()
            return await kept
        finally:
            await batcher.stop()

    assert run(scenario()) == ["r-kept"]


def test_submit_before_start_is_an_error():
    with pytest.raises(RuntimeError, match="not running"):
        run(MicroBatcher(Recorder()).submit([1]))
