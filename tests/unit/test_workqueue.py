from __future__ import annotations

import asyncio

from microservice_operator.workqueue import WorkQueue


def test_a_key_is_queued_once_and_requeued_when_added_during_processing() -> None:
    async def scenario() -> list[str]:
        q = WorkQueue()
        q.add("a")
        q.add("a")
        q.add("b")
        assert len(q) == 2
        key = await q.get()
        q.add(key)  # changed while being processed: not handed to a second worker
        assert len(q) == 1
        q.done(key)  # ... but queued again when the first is done
        return [str(await q.get()), str(await q.get())]

    assert asyncio.run(scenario()) == ["b", "a"]


def test_add_after_keeps_the_earliest_timer() -> None:
    async def scenario() -> float:
        q = WorkQueue()
        loop = asyncio.get_running_loop()
        start = loop.time()
        q.add_after("k", 5.0)
        q.add_after("k", 0.05)
        q.add_after("k", 1.0)
        await asyncio.wait_for(q.get(), timeout=2)
        return loop.time() - start

    assert asyncio.run(scenario()) < 0.9
