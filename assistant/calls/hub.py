"""The ``CallHub`` seam: per-call event fan-out from the worker that hears a call to every console
watching it, with a capped catch-up history.

Events are JSON-able dicts (the console protocol messages, ``/work/notes/agent_protocol.md`` and
docs/agent-console.md). ``publish`` stamps each with ``n``, a number increasing per call across all
workers, so a console that subscribed first and read the history next can drop live events it has
already seen (``n <= last n of the history``). Partial transcripts are fanned out but never kept in the
history (they are replaced within a second anyway).

``InProcessCallHub``: asyncio queues in one process (the embedded default).
``RedisCallHub``: Redis pub/sub (channel ``nyj:call:<id>``) for live events plus a capped list
(``nyj:call:<id>:history``, ``LTRIM``-ed to ``history_max``, expiring after ``ttl_s``) and a counter
(``nyj:call:<id>:n``): the console may be served by another worker than the one receiving the audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

Event = dict[str, Any]
QUEUE_MAX = 1000  # events buffered for one slow console before the oldest partials are dropped


def keep_in_history(event: Event) -> bool:
    return not (event.get("type") == "transcript" and event.get("kind") == "partial")


class CallHub(Protocol):
    """Fan-out of one call's events to its consoles."""

    async def publish(self, call_id: str, event: Event) -> Event:
        """Stamp ``event`` with ``n``, keep it in the history (unless a partial) and deliver it to every
        current subscriber of ``call_id``; returns the stamped event."""
        ...

    def subscribe(self, call_id: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """``async with hub.subscribe(id) as events: async for e in events``. The subscription is live
        when the ``async with`` body starts (read the history after entering, not before)."""
        ...

    async def history(self, call_id: str) -> list[Event]:
        """The kept events of ``call_id``, oldest first (empty for an unknown call)."""
        ...

    async def close(self) -> None: ...


class _Subscriber:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    def put(self, event: Event) -> None:
        if self.queue.qsize() >= QUEUE_MAX:  # a stuck console must not grow memory without bound
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(event)


class InProcessCallHub:
    """One process: subscribers are asyncio queues; history is a bounded deque per call."""

    def __init__(self, history_max: int = 500, max_calls: int = 1000) -> None:
        self.history_max = history_max
        self.max_calls = max_calls
        self._n: dict[str, int] = {}
        self._history: dict[str, deque[Event]] = {}
        self._subs: dict[str, set[_Subscriber]] = {}

    async def publish(self, call_id: str, event: Event) -> Event:
        n = self._n.get(call_id, 0) + 1
        self._n[call_id] = n
        stamped = {**event, "n": n}
        if keep_in_history(stamped):
            if call_id not in self._history and len(self._history) >= self.max_calls:
                oldest = next(iter(self._history))  # forget the oldest call's catch-up state
                self._history.pop(oldest, None)
                self._n.pop(oldest, None)
            self._history.setdefault(call_id, deque(maxlen=self.history_max)).append(stamped)
        for sub in list(self._subs.get(call_id, ())):
            sub.put(stamped)
        return stamped

    @asynccontextmanager
    async def _subscription(self, call_id: str) -> AsyncIterator[AsyncIterator[Event]]:
        sub = _Subscriber()
        self._subs.setdefault(call_id, set()).add(sub)

        async def events() -> AsyncIterator[Event]:
            while True:
                yield await sub.queue.get()

        try:
            yield events()
        finally:
            subs = self._subs.get(call_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[call_id]

    def subscribe(self, call_id: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        return self._subscription(call_id)

    async def history(self, call_id: str) -> list[Event]:
        return list(self._history.get(call_id, ()))

    async def close(self) -> None:
        self._subs.clear()


class RedisCallHub:
    """Redis pub/sub + a capped list per call (see the module docstring)."""

    def __init__(self, url: str, history_max: int = 500, ttl_s: int = 86400, prefix: str = "nyj:call:") -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self.history_max = history_max
        self.ttl_s = ttl_s
        self.prefix = prefix

    def _channel(self, call_id: str) -> str:
        return f"{self.prefix}{call_id}"

    async def publish(self, call_id: str, event: Event) -> Event:
        key = self._channel(call_id)
        n = int(await self._redis.incr(f"{key}:n"))
        stamped = {**event, "n": n}
        data = json.dumps(stamped, ensure_ascii=False)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.expire(f"{key}:n", self.ttl_s)
            if keep_in_history(stamped):
                pipe.rpush(f"{key}:history", data)
                pipe.ltrim(f"{key}:history", -self.history_max, -1)
                pipe.expire(f"{key}:history", self.ttl_s)
            pipe.publish(key, data)
            await pipe.execute()
        return stamped

    @asynccontextmanager
    async def _subscription(self, call_id: str) -> AsyncIterator[AsyncIterator[Event]]:
        pubsub = self._redis.pubsub()
        channel = self._channel(call_id)
        await pubsub.subscribe(channel)
        # wait for the confirmation: from here on every PUBLISH reaches us (history read after is safe)
        while True:
            msg = await pubsub.get_message(timeout=5.0)
            if msg is None or msg.get("type") == "subscribe":
                break

        async def events() -> AsyncIterator[Event]:
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is None or msg.get("type") != "message":
                    continue
                try:
                    event = json.loads(msg["data"])
                except (TypeError, ValueError):
                    continue
                if isinstance(event, dict):
                    yield event

        try:
            yield events()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe(channel)
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    def subscribe(self, call_id: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        return self._subscription(call_id)

    async def history(self, call_id: str) -> list[Event]:
        out: list[Event] = []
        for raw in await self._redis.lrange(f"{self._channel(call_id)}:history", 0, -1):
            with contextlib.suppress(TypeError, ValueError):
                event = json.loads(raw)
                if isinstance(event, dict):
                    out.append(event)
        return out

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._redis.aclose()


def make_call_hub(redis_url: str, history_max: int = 500, ttl_s: int = 86400) -> CallHub:
    """Redis when ``redis_url`` is set (several workers), else in-process."""
    if redis_url:
        return RedisCallHub(redis_url, history_max, ttl_s)
    return InProcessCallHub(history_max)
