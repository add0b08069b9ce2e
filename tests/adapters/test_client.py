"""The shared adapter client: error translation at the edge, retries only for transient errors,
backoff bounded by the caller's deadline, the circuit breaker and the TTL cache (httpx.MockTransport,
a fake clock: no sleeping, no timing assertions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from assistant.adapters.client import ApiClient, CircuitBreaker, TTLCache, json_body
from assistant.adapters.errors import (
    AdapterError,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    BadResponse,
    CircuitOpen,
    RateLimited,
)
from assistant.errors import AssistantError

from .server import FIXTURES


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def client(handler: Callable[[httpx.Request], httpx.Response], clock: FakeClock | None = None,
           **kw: Any) -> ApiClient:
    clock = clock or FakeClock()
    return ApiClient("traffic", "http://api.test/root", transport=httpx.MockTransport(handler),
                     clock=clock, sleep=clock.sleep, **kw)


def parse(r: httpx.Response) -> Any:
    return json_body(r, "traffic")


def test_errors_are_assistant_errors_with_transient_flags() -> None:
    assert issubclass(AdapterError, AssistantError)
    assert BackendTimeout("x").transient and CircuitOpen("x").transient and RateLimited("x").transient
    assert not BadResponse("x").transient and not BackendRejected("x").transient


@pytest.mark.parametrize(("status", "error", "attempts"), [
    (500, BackendUnavailable, 3), (503, BackendUnavailable, 3), (429, RateLimited, 3),
    (401, BackendRejected, 1), (404, BackendRejected, 1)])
def test_status_codes_are_translated_and_only_transient_ones_retried(
        status: int, error: type[AdapterError], attempts: int) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, text="oops")

    with pytest.raises(error):
        client(handler, retries=2).get("x", {}, parse)
    assert len(calls) == attempts


def test_timeout_and_connect_errors_are_transient() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(BackendTimeout):
        client(timeout, retries=0).get("x", {}, parse)
    with pytest.raises(BackendUnavailable):
        client(refused, retries=0).get("x", {}, parse)


def test_retry_recovers_with_exponential_jittered_backoff() -> None:
    clock = FakeClock()
    answers = iter([httpx.Response(502), httpx.Response(503), httpx.Response(200, json={"ok": 1})])
    c = client(lambda r: next(answers), clock, retries=3, backoff_s=0.2, max_backoff_s=1.0)
    assert c.get("x", {}, parse) == {"ok": 1}
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 0.2 and 0 <= clock.sleeps[1] <= 0.4  # full jitter under 0.2 * 2^n


def test_no_retry_past_the_deadline() -> None:
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    c = client(handler, clock, retries=5, timeout_s=1.0)
    with pytest.raises(BackendUnavailable):
        c.get("x", {}, parse, deadline=clock.now + 0.5)  # not even one more time-out fits
    assert len(calls) == 1


def test_malformed_bodies_are_bad_response_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, text="<html>maintenance</html>")

    with pytest.raises(BadResponse):
        client(handler).get("x", {}, parse)
    with pytest.raises(BadResponse):
        client(lambda r: httpx.Response(200, text="{not json")).get("x", {}, parse)
    # a parser tripping over an unexpected shape is a BadResponse too, never a KeyError
    with pytest.raises(BadResponse):
        client(lambda r: httpx.Response(200, json={"a": 1})).get("x", {}, lambda r: r.json()["missing"])
    assert len(calls) == 1


def test_data_go_kr_gateway_xml_errors() -> None:
    limit = (FIXTURES / "datagokr_limit.xml").read_text("utf-8")
    bad_key = (FIXTURES / "datagokr_bad_key.xml").read_text("utf-8")
    with pytest.raises(RateLimited):
        client(lambda r: httpx.Response(200, text=limit), retries=0).get("x", {}, parse)
    with pytest.raises(BackendRejected):
        client(lambda r: httpx.Response(200, text=bad_key)).get("x", {}, parse)


def test_cache_hits_within_ttl_and_keys_exclude_secrets() -> None:
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json={"n": len(calls)})

    c = client(handler, clock, cache_ttl_s=20)
    assert c.get("x", {"serviceKey": "A", "stationId": 1}, parse) == {"n": 1}
    assert c.get("x", {"serviceKey": "B", "stationId": 1}, parse) == {"n": 1}  # key rotated: same data
    assert c.get("x", {"serviceKey": "A", "stationId": 2}, parse) == {"n": 2}
    clock.now += 21
    assert c.get("x", {"serviceKey": "A", "stationId": 1}, parse) == {"n": 3}
    assert c.cache.hits == 1 and c.cache.misses == 3
    assert "serviceKey=A" in calls[0]
    assert all("serviceKey" not in k for k in c.cache._data)


def test_failures_are_not_cached() -> None:
    answers = iter([httpx.Response(500), httpx.Response(200, json={"ok": 1})])
    c = client(lambda r: next(answers), retries=0, cache_ttl_s=20)
    with pytest.raises(BackendUnavailable):
        c.get("x", {}, parse)
    assert c.get("x", {}, parse) == {"ok": 1}


def test_circuit_opens_then_half_opens_then_closes() -> None:
    clock = FakeClock()
    healthy = {"on": False}
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, json={}) if healthy["on"] else httpx.Response(503)

    c = client(handler, clock, retries=0, failure_threshold=3, reset_after_s=30)
    for _ in range(3):
        with pytest.raises(BackendUnavailable):
            c.get("x", {}, parse)
    assert c.breaker.state == "open"
    with pytest.raises(CircuitOpen):
        c.get("x", {}, parse)
    assert len(calls) == 3  # refused without a request
    clock.now += 31
    assert c.breaker.state == "half_open"
    with pytest.raises(BackendUnavailable):  # the trial call fails: open again at once
        c.get("x", {}, parse)
    assert c.breaker.state == "open"
    clock.now += 31
    healthy["on"] = True
    assert c.get("x", {}, parse) == {}
    assert c.breaker.state == "closed"
    assert c.stats()["circuit"] == "closed"


def test_breaker_and_cache_units() -> None:
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=2, reset_after_s=10, clock=clock)
    b.record_failure()
    b.before_call()
    b.record_success()
    b.record_failure()
    assert b.state == "closed"
    cache = TTLCache(5, max_entries=2, clock=clock)
    for k in "abc":
        cache.put(k, k)
    assert cache.get("a") == (False, None) and cache.get("c") == (True, "c")
    assert 0 < cache.hit_rate < 1
