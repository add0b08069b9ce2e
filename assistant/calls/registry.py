"""Call records of the agent console: which calls exist, who they are assigned to, their state.

A ``CallRecord`` holds the call id (Twilio CallSid, or ``mic-<hex>`` for a browser-microphone call),
the assigned agent, the source (``twilio`` | ``mic``), status (``active`` | ``ended``), start/end
times, the caller's number masked for display, and, server-side only, the best known contact phone
in clear (the caller id, or a number the caller spoke) so that a submitted complaint form showing the
masked number still reaches the citizen. ``public()`` is what consoles see.

``InMemoryCallRegistry`` (one process) and ``RedisCallRegistry`` (a JSON string per call with a TTL
plus a sorted set of call ids by start time, shared by all workers) implement ``CallRegistry``.
Assignment of a forked Twilio call: :func:`choose_agent`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Source = Literal["twilio", "mic"]
Status = Literal["active", "ended"]
CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_call_id(call_id: str) -> bool:
    return bool(CALL_ID.fullmatch(call_id or ""))


def mask_number(phone: str) -> str:
    """``+821012345678`` / ``010-1234-5678`` -> ``010-****-5678``; empty when there is no number."""
    digits = re.sub(r"\D", "", phone or "")
    if digits.startswith("82"):
        digits = "0" + digits[2:]
    if len(digits) < 4:
        return ""
    if len(digits) < 8:
        return "****-" + digits[-4:]
    prefix = "02" if digits.startswith("02") else digits[:3]
    return f"{prefix}-****-{digits[-4:]}"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_id: str
    agent: str
    source: Source
    status: Status
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    caller: str = ""  # masked
    phone: str = ""  # clear contact number; never sent to a browser
    complaint_id: str | None = None
    intent: str = ""

    def public(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "agent": self.agent, "status": self.status, "source": self.source,
                "started_at": _iso(self.started_at), "ended_at": _iso(self.ended_at), "caller": self.caller}

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["started_at"], d["ended_at"] = _iso(self.started_at), _iso(self.ended_at)
        return json.dumps(d, ensure_ascii=False)

    @staticmethod
    def from_json(text: str) -> CallRecord:
        d = json.loads(text)
        d["started_at"] = dt.datetime.fromisoformat(d["started_at"])
        d["ended_at"] = dt.datetime.fromisoformat(d["ended_at"]) if d.get("ended_at") else None
        return CallRecord(**d)


class CallRegistry(Protocol):
    async def create(self, record: CallRecord) -> CallRecord: ...

    async def get(self, call_id: str) -> CallRecord | None: ...

    async def update(self, call_id: str, **changes: Any) -> CallRecord | None:
        """Replace the given fields; None if the call is unknown."""
        ...

    async def list(self, agent: str | None = None, limit: int = 100) -> list[CallRecord]:
        """Newest first; only ``agent``'s calls unless ``agent`` is None (supervisors)."""
        ...

    async def next_index(self) -> int:
        """A counter for round-robin assignment (shared by all workers)."""
        ...


class InMemoryCallRegistry:
    def __init__(self, max_calls: int = 5000) -> None:
        self._calls: dict[str, CallRecord] = {}
        self._rr = 0
        self.max_calls = max_calls

    async def create(self, record: CallRecord) -> CallRecord:
        if record.call_id not in self._calls and len(self._calls) >= self.max_calls:
            ended = [c for c in self._calls.values() if c.status == "ended"]
            for c in sorted(ended, key=lambda c: c.started_at)[: max(1, len(ended) // 2)]:
                del self._calls[c.call_id]
        self._calls[record.call_id] = record
        return record

    async def get(self, call_id: str) -> CallRecord | None:
        return self._calls.get(call_id)

    async def update(self, call_id: str, **changes: Any) -> CallRecord | None:
        old = self._calls.get(call_id)
        if old is None:
            return None
        new = dataclasses.replace(old, **changes)
        self._calls[call_id] = new
        return new

    async def list(self, agent: str | None = None, limit: int = 100) -> list[CallRecord]:
        calls = [c for c in self._calls.values() if agent is None or c.agent == agent]
        return sorted(calls, key=lambda c: c.started_at, reverse=True)[:limit]

    async def next_index(self) -> int:
        self._rr += 1
        return self._rr - 1


class RedisCallRegistry:
    """Shared by every worker: ``nyj:callrec:<id>`` (JSON, TTL) + ``nyj:callrecs`` (sorted by start)."""

    def __init__(self, url: str, ttl_s: int = 86400, prefix: str = "nyj:callrec") -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self.ttl_s = ttl_s
        self.prefix = prefix

    def _key(self, call_id: str) -> str:
        return f"{self.prefix}:{call_id}"

    async def create(self, record: CallRecord) -> CallRecord:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(record.call_id), record.to_json(), ex=self.ttl_s)
            pipe.zadd(f"{self.prefix}s", {record.call_id: record.started_at.timestamp()})
            await pipe.execute()
        return record

    async def get(self, call_id: str) -> CallRecord | None:
        raw = await self._redis.get(self._key(call_id))
        return CallRecord.from_json(str(raw)) if raw else None

    async def update(self, call_id: str, **changes: Any) -> CallRecord | None:
        # WATCH/MULTI: two workers updating one call (end of call vs. a submitted form) lose nothing
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self._key(call_id))
                    raw = await pipe.get(self._key(call_id))
                    if not raw:
                        await pipe.reset()  # type: ignore[no-untyped-call]
                        return None
                    new = dataclasses.replace(CallRecord.from_json(str(raw)), **changes)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(self._key(call_id), new.to_json(), ex=self.ttl_s)
                    await pipe.execute()
                    return new
                except Exception as exc:
                    from redis.exceptions import WatchError

                    if not isinstance(exc, WatchError):
                        raise

    async def list(self, agent: str | None = None, limit: int = 100) -> list[CallRecord]:
        zkey = f"{self.prefix}s"
        cutoff = dt.datetime.now(dt.UTC).timestamp() - self.ttl_s
        await self._redis.zremrangebyscore(zkey, "-inf", cutoff)
        ids = await self._redis.zrevrange(zkey, 0, 999)
        out: list[CallRecord] = []
        if not ids:
            return out
        for raw in await self._redis.mget([self._key(str(i)) for i in ids]):
            if not raw:
                continue
            rec = CallRecord.from_json(str(raw))
            if agent is None or rec.agent == agent:
                out.append(rec)
            if len(out) >= limit:
                break
        return out

    async def next_index(self) -> int:
        return int(await self._redis.incr(f"{self.prefix}s:rr")) - 1

    async def close(self) -> None:
        await self._redis.aclose()


def make_call_registry(redis_url: str, ttl_s: int = 86400) -> CallRegistry:
    return RedisCallRegistry(redis_url, ttl_s) if redis_url else InMemoryCallRegistry()


async def choose_agent(registry: CallRegistry, requested: str, default: str, agents: list[str]) -> str:
    """The agent a forked Twilio call goes to: ``requested`` (the stream's customParameters "agent")
    when it is a known agent, else ``default``, else round-robin over ``agents`` (sorted); "" when there
    are no agents (then only supervisors see the call)."""
    if requested and requested in agents:
        return requested
    if default:
        return default
    if not agents:
        return ""
    ordered = sorted(agents)
    return ordered[await registry.next_index() % len(ordered)]
