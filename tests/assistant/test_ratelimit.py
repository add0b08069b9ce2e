"""Contract suite for ``RateLimiter``: the in-memory token bucket (fake clock) and the Redis GCRA
limiter (real server on 127.0.0.1:6379, skipped with a reason when unreachable)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from assistant.ratelimit import InMemoryRateLimiter, RateLimiter, RedisRateLimiter, make_rate_limiter
from tests.assistant.test_sessions import DEAD_REDIS_URL, REDIS_URL, cleanup_prefix, require_redis

Factory = Callable[[float, int], RateLimiter]


class RateLimiterContract:
    """What every RateLimiter must do. Subclasses provide ``make`` (rate_per_s, burst) -> limiter."""

    @pytest.fixture()
    def make(self) -> Factory:
        raise NotImplementedError

    def test_is_a_rate_limiter(self, make: Factory) -> None:
        assert isinstance(make(1.0, 1), RateLimiter)

    def test_burst_then_blocked(self, make: Factory) -> None:
        limiter = make(0.5, 3)  # slow refill: nothing comes back during the test
        for _ in range(3):
            assert limiter.hit("client-a") == (True, 0.0)
        allowed, retry_after = limiter.hit("client-a")
        assert allowed is False
        assert 0 < retry_after <= 2.0 + 0.01

    def test_keys_independent(self, make: Factory) -> None:
        limiter = make(0.5, 1)
        assert limiter.hit("a")[0] is True
        assert limiter.hit("a")[0] is False
        assert limiter.hit("b")[0] is True
        assert limiter.hit("203.0.113.7")[0] is True
        assert limiter.hit("2001:db8::1")[0] is True

    def test_odd_keys(self, make: Factory) -> None:
        limiter = make(0.5, 1)
        for key in ("", "x" * 1000, "키 with spaces:*?"):
            assert limiter.hit(key)[0] is True
            assert limiter.hit(key)[0] is False

    def test_bad_parameters(self, make: Factory) -> None:
        for rate, burst in ((0.0, 1), (-1.0, 1), (1.0, 0)):
            with pytest.raises(ValueError):
                make(rate, burst)


class TestInMemoryRateLimiter(RateLimiterContract):
    @pytest.fixture()
    def make(self) -> Factory:
        return lambda rate, burst: InMemoryRateLimiter(rate, burst)

    def test_refill_with_injected_clock(self) -> None:
        now = [100.0]
        limiter = InMemoryRateLimiter(2.0, 2, clock=lambda: now[0])
        assert limiter.hit("k")[0] and limiter.hit("k")[0]
        allowed, retry_after = limiter.hit("k")
        assert not allowed and retry_after == pytest.approx(0.5)
        now[0] += 0.25
        allowed, retry_after = limiter.hit("k")
        assert not allowed and retry_after == pytest.approx(0.25)
        now[0] += 0.25
        assert limiter.hit("k") == (True, 0.0)
        assert limiter.hit("k")[0] is False
        now[0] += 10.0  # refills to the burst, not beyond
        assert [limiter.hit("k")[0] for _ in range(3)] == [True, True, False]

    def test_rejected_hits_do_not_spend(self) -> None:
        now = [0.0]
        limiter = InMemoryRateLimiter(1.0, 1, clock=lambda: now[0])
        assert limiter.hit("k")[0]
        for _ in range(5):
            assert not limiter.hit("k")[0]
        now[0] += 1.0
        assert limiter.hit("k")[0]

    def test_idle_buckets_dropped(self) -> None:
        now = [0.0]
        limiter = InMemoryRateLimiter(1.0, 5, clock=lambda: now[0])
        for i in range(1000):
            limiter.hit(f"ip-{i}")
        assert len(limiter) == 1000
        now[0] += 5.0  # every bucket is full again
        limiter.hit("fresh")
        assert len(limiter) == 1

    def test_hard_cap(self) -> None:
        limiter = InMemoryRateLimiter(1.0, 1, clock=lambda: 0.0, max_keys=10)
        for i in range(100):
            limiter.hit(f"ip-{i}")
        assert len(limiter) == 10

    def test_thread_safe(self) -> None:
        limiter = InMemoryRateLimiter(0.001, 50, clock=lambda: 0.0)
        allowed: list[bool] = []
        lock = threading.Lock()

        def work() -> None:
            for _ in range(25):
                ok = limiter.hit("shared")[0]
                with lock:
                    allowed.append(ok)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(allowed) == 50


@pytest.mark.integration
class TestRedisRateLimiter(RateLimiterContract):
    @pytest.fixture()
    def prefix(self) -> Iterator[str]:
        require_redis()
        prefix = f"test:nyj:ratelimit:{uuid.uuid4().hex}:"
        yield prefix
        cleanup_prefix(prefix)

    @pytest.fixture()
    def make(self, prefix: str) -> Factory:
        return lambda rate, burst: RedisRateLimiter(REDIS_URL, rate, burst, prefix)

    def test_refill_over_time(self, prefix: str) -> None:
        limiter = RedisRateLimiter(REDIS_URL, 20.0, 2, prefix)
        assert limiter.hit("k")[0] and limiter.hit("k")[0]
        allowed, retry_after = limiter.hit("k")
        assert not allowed and 0 < retry_after <= 0.06
        time.sleep(retry_after + 0.02)
        assert limiter.hit("k")[0] is True

    def test_shared_across_workers(self, prefix: str) -> None:
        worker_a = RedisRateLimiter(REDIS_URL, 0.5, 3, prefix)
        worker_b = RedisRateLimiter(REDIS_URL, 0.5, 3, prefix)
        results = [worker_a.hit("ip"), worker_b.hit("ip"), worker_a.hit("ip"), worker_b.hit("ip")]
        assert [ok for ok, _ in results] == [True, True, True, False]
        assert worker_a.hit("ip")[0] is False
        assert worker_b.hit("other-ip")[0] is True

    def test_keys_expire(self, prefix: str) -> None:
        import redis

        limiter = RedisRateLimiter(REDIS_URL, 10.0, 1, prefix)
        limiter.hit("k")
        client = redis.Redis.from_url(REDIS_URL)
        try:
            assert 0 < int(client.pttl(prefix + "k")) <= 1000
        finally:
            client.close()

    def test_factory_picks_redis(self) -> None:
        require_redis()
        limiter = make_rate_limiter(REDIS_URL, 1.0, 1)
        assert isinstance(limiter, RedisRateLimiter)
        assert limiter.ping() is True


class TestRedisDown:
    def test_fails_open_and_warns(self, caplog: pytest.LogCaptureFixture) -> None:
        limiter = RedisRateLimiter(DEAD_REDIS_URL, 0.1, 1, socket_timeout_s=0.2)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="assistant.ratelimit"):
            results = [limiter.hit("ip") for _ in range(20)]
        assert results == [(True, 0.0)] * 20
        assert time.monotonic() - started < 2.0
        warnings = [r for r in caplog.records if r.name == "assistant.ratelimit"]
        assert len(warnings) == 1  # one warning, not one per request
        assert limiter.ping() is False


def test_factory_defaults_to_memory() -> None:
    assert isinstance(make_rate_limiter("", 1.0, 1), InMemoryRateLimiter)
