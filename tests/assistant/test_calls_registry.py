"""CallRegistry contract suite (in-memory and real Redis) and the assignment rule."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable

import pytest

from assistant.calls.registry import (
    CallRecord,
    CallRegistry,
    InMemoryCallRegistry,
    RedisCallRegistry,
    choose_agent,
    mask_number,
    valid_call_id,
)

T0 = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["memory", "redis"])
def make_registry(request: pytest.FixtureRequest) -> Callable[[], CallRegistry]:
    if request.param == "memory":
        return InMemoryCallRegistry
    url = request.getfixturevalue("redis_url")
    prefix = f"test:{uuid.uuid4().hex[:8]}:rec"
    return lambda: RedisCallRegistry(url, ttl_s=3600, prefix=prefix)


def record(call_id: str, agent: str, minutes: int = 0) -> CallRecord:
    return CallRecord(call_id, agent, "twilio", "active", dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes),
                      caller=mask_number("+821012345678"), phone="010-1234-5678")


def test_create_get_update_list(make_registry: Callable[[], CallRegistry]) -> None:
    async def main() -> None:
        reg = make_registry()
        await reg.create(record("CA1", "kim"))
        await reg.create(record("CA2", "lee", 1))
        await reg.create(record("CA3", "kim", 2))
        got = await reg.get("CA1")
        assert got is not None and got.agent == "kim" and got.caller == "010-****-5678"
        assert got.phone == "010-1234-5678" and "phone" not in got.public()
        assert await reg.get("nope") is None
        ended = await reg.update("CA1", status="ended", ended_at=T0, complaint_id="NYJ-20261123-0001")
        assert ended is not None and ended.status == "ended" and ended.ended_at == T0
        assert (await reg.get("CA1")) == ended
        assert await reg.update("nope", status="ended") is None
        assert [c.call_id for c in await reg.list("kim")] == ["CA3", "CA1"]
        assert [c.call_id for c in await reg.list(None)] == ["CA3", "CA2", "CA1"]
        assert await reg.list("park") == []
        public = ended.public()
        assert public["ended_at"] == T0.isoformat() and public["source"] == "twilio"

    asyncio.run(main())


def test_round_robin_assignment(make_registry: Callable[[], CallRegistry]) -> None:
    async def main() -> None:
        reg = make_registry()
        agents = ["lee", "kim"]
        assert await choose_agent(reg, "lee", "", agents) == "lee"  # named in the stream
        assert await choose_agent(reg, "", "park", agents) == "park"  # configured default
        picks = [await choose_agent(reg, "stranger", "", agents) for _ in range(4)]
        assert picks == ["kim", "lee", "kim", "lee"]  # round-robin over sorted names
        assert await choose_agent(reg, "", "", []) == ""

    asyncio.run(main())


def test_masking_and_ids() -> None:
    assert mask_number("+821012345678") == "010-****-5678"
    assert mask_number("02-590-1234") == "02-****-1234"
    assert mask_number("") == "" and mask_number("12") == ""
    assert valid_call_id("CA0123abc") and valid_call_id("mic-0123")
    assert not valid_call_id("") and not valid_call_id("../x") and not valid_call_id("a" * 65)
