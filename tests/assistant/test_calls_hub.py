"""CallHub contract suite, run against the in-process hub and a real Redis (db 15)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from assistant.calls.hub import CallHub, InProcessCallHub, RedisCallHub, make_call_hub

HubFactory = Callable[[int], CallHub]


@pytest.fixture(params=["in_process", "redis"])
def make_hub(request: pytest.FixtureRequest) -> HubFactory:
    if request.param == "in_process":
        return lambda history_max: InProcessCallHub(history_max)
    url = request.getfixturevalue("redis_url")
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    return lambda history_max: RedisCallHub(url, history_max, ttl_s=60, prefix=prefix)


def final(i: int) -> dict[str, Any]:
    return {"type": "transcript", "kind": "final", "speaker": "caller", "text": f"문장 {i}", "seq": i}


def partial(i: int) -> dict[str, Any]:
    return {"type": "transcript", "kind": "partial", "speaker": "caller", "text": f"부분 {i}", "seq": i}


async def take(events: AsyncIterator[dict[str, Any]], n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    async def collect() -> None:
        async for e in events:
            out.append(e)
            if len(out) == n:
                return

    await asyncio.wait_for(collect(), timeout)
    return out


def test_publish_stamps_increasing_numbers_and_keeps_history_without_partials(make_hub: HubFactory) -> None:
    async def main() -> None:
        hub = make_hub(100)
        stamped = [await hub.publish("CA1", e) for e in (final(1), partial(2), final(3))]
        assert [e["n"] for e in stamped] == [1, 2, 3]
        history = await hub.history("CA1")
        assert [e["seq"] for e in history] == [1, 3]
        assert history[0]["text"] == "문장 1" and history[0]["n"] == 1
        assert await hub.history("unknown") == []
        await hub.close()

    asyncio.run(main())


def test_subscribers_get_live_events_of_their_call_only(make_hub: HubFactory) -> None:
    async def main() -> None:
        hub = make_hub(100)
        await hub.publish("CA1", final(0))  # before subscribing: only in the history
        async with hub.subscribe("CA1") as a, hub.subscribe("CA1") as b, hub.subscribe("CA2") as other:
            await hub.publish("CA1", partial(1))
            await hub.publish("CA2", final(99))
            await hub.publish("CA1", final(2))
            got_a = await take(a, 2)
            got_b = await take(b, 2)
            got_other = await take(other, 1)
        assert [e["seq"] for e in got_a] == [1, 2] == [e["seq"] for e in got_b]
        assert got_a[0]["kind"] == "partial"
        assert got_other[0]["seq"] == 99
        await hub.close()

    asyncio.run(main())


def test_history_is_capped(make_hub: HubFactory) -> None:
    async def main() -> None:
        hub = make_hub(5)
        for i in range(12):
            await hub.publish("CA1", final(i))
        history = await hub.history("CA1")
        assert [e["seq"] for e in history] == [7, 8, 9, 10, 11]
        await hub.close()

    asyncio.run(main())


def test_catch_up_has_no_gap_and_no_duplicate(make_hub: HubFactory) -> None:
    """Subscribe, then read the history, then drop live events already in it: every event exactly once."""
    async def main() -> None:
        hub = make_hub(1000)

        async def publisher() -> None:
            for i in range(40):
                await hub.publish("CA1", final(i))
                await asyncio.sleep(0)

        task = asyncio.create_task(publisher())
        await asyncio.sleep(0.005)
        async with hub.subscribe("CA1") as events:
            history = await hub.history("CA1")
            seen = max((e["n"] for e in history), default=0)
            await task
            live: list[dict[str, Any]] = []

            async def rest() -> None:
                async for e in events:
                    if e["n"] > seen:
                        live.append(e)
                    if e["n"] == 40:
                        return

            if seen < 40:
                await asyncio.wait_for(rest(), 5)
        numbers = [e["n"] for e in history] + [e["n"] for e in live]
        assert numbers == list(range(1, 41))
        await hub.close()

    asyncio.run(main())


def test_make_call_hub_picks_the_backend() -> None:
    assert isinstance(make_call_hub(""), InProcessCallHub)
    assert isinstance(make_call_hub("redis://127.0.0.1:6379/15"), RedisCallHub)
