"""Per-client rate limiting: the ``RateLimiter`` seam and its two providers.

``hit(key)`` spends one request of ``key`` (a client IP, a caller number, a session id) and says
whether it is allowed and, if not, how many seconds until the next one would be. Each key may send
``burst`` requests at once and ``rate_per_s`` requests per second on average.

* ``InMemoryRateLimiter`` — one process: a token bucket per key, thread-safe, with idle buckets
  (already full again) dropped so memory stays bounded.
* ``RedisRateLimiter`` — shared by every worker: GCRA in one Lua script (atomic, one round trip,
  Redis's own clock so workers' clocks need not agree). When Redis fails the limiter fails open:
  the request is allowed and a warning logged (at most every few seconds), because a Redis outage
  must never turn into errors for citizens. After a failure Redis is left alone for a short
  cool-down so requests don't each wait for a timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from assistant.errors import RateLimiterError

__all__ = [
    "InMemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "make_rate_limiter",
]

log = logging.getLogger(__name__)


@runtime_checkable
class RateLimiter(Protocol):
    """Admission control per client key."""

    def hit(self, key: str) -> tuple[bool, float]:
        """Spend one request of ``key``: ``(allowed, retry_after_seconds)``; retry_after is 0 when allowed."""
        ...


def _check(rate_per_s: float, burst: int) -> None:
    if not rate_per_s > 0 or math.isinf(rate_per_s):
        raise ValueError("rate_per_s must be a positive finite number")
    if burst < 1:
        raise ValueError("burst must be at least 1")


class InMemoryRateLimiter:
    """Token buckets in this process. ``clock`` returns monotonic seconds (tests inject a fake).

    A bucket untouched for ``burst / rate_per_s`` seconds is full again, i.e. the same as no bucket,
    so it is dropped; ``max_keys`` is a hard cap on top (the least recently used bucket goes first).
    """

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 *, max_keys: int = 100_000) -> None:
        _check(rate_per_s, burst)
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._rate = float(rate_per_s)
        self._burst = float(burst)
        self._refill_s = burst / self._rate
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def hit(self, key: str) -> tuple[bool, float]:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            tokens, at = self._buckets.pop(key, (self._burst, now))
            tokens = min(self._burst, tokens + max(0.0, now - at) * self._rate)
            if tokens >= 1.0:
                allowed, retry_after = True, 0.0
                tokens -= 1.0
            else:
                allowed, retry_after = False, (1.0 - tokens) / self._rate
            self._buckets[key] = (tokens, now)  # re-inserted last: oldest activity stays first
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return allowed, retry_after

    def _sweep(self, now: float) -> None:
        while self._buckets:
            _, (_, at) = next(iter(self._buckets.items()))
            if now - at < self._refill_s:
                break
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        """Number of buckets held (idle ones are dropped on the next ``hit``)."""
        with self._lock:
            return len(self._buckets)


# GCRA: the key holds the "theoretical arrival time" (TAT) in microseconds of Redis TIME.
# A request is allowed when TAT + interval - now <= burst * interval.
_GCRA_LUA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - burst * interval
if wait > 0 then
  return {0, math.ceil(wait)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
"""


class RedisRateLimiter:
    """GCRA limits kept in Redis under ``<prefix><key>``, shared by every worker; fails open."""

    def __init__(self, url: str, rate_per_s: float, burst: int, prefix: str = "nyj:ratelimit:",
                 *, socket_timeout_s: float = 0.25, cooldown_s: float = 2.0) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        _check(rate_per_s, burst)
        if not url:
            raise ValueError("RedisRateLimiter needs a redis:// URL")
        self._interval_us = 1_000_000.0 / rate_per_s
        self._burst = burst
        self._prefix = prefix
        self._cooldown_s = cooldown_s
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=socket_timeout_s, socket_connect_timeout=socket_timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._script: Any = self._client.register_script(_GCRA_LUA)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._last_warning = -math.inf

    def _key(self, key: str) -> str:
        if len(key) > 128:  # keep Redis keys short whatever the caller passes
            key = "h:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self._prefix + key

    def _eval(self, key: str) -> tuple[bool, float]:
        try:
            allowed, wait_us = self._script(keys=[self._key(key)], args=[self._interval_us, self._burst])
        except self._errors as exc:
            raise RateLimiterError(f"rate limit backend failed: {exc}") from exc
        return bool(int(allowed)), int(wait_us) / 1_000_000

    def hit(self, key: str) -> tuple[bool, float]:
        now = time.monotonic()
        if now < self._down_until:
            return True, 0.0
        try:
            return self._eval(key)
        except RateLimiterError as exc:
            with self._lock:
                self._down_until = now + self._cooldown_s
                warn = now - self._last_warning >= 30.0
                if warn:
                    self._last_warning = now
            if warn:
                log.warning("rate limiter fails open: %s", exc)
            return True, 0.0

    def ping(self) -> bool:
        """Readiness of the Redis backend (never raises)."""
        try:
            return bool(self._client.ping())
        except Exception:
            return False

    def close(self) -> None:
        with contextlib.suppress(*self._errors):
            self._client.close()


def make_rate_limiter(redis_url: str, rate_per_s: float, burst: int) -> RateLimiter:
    """Shared Redis limits when ``redis_url`` is set (several workers), else per-process buckets."""
    if redis_url:
        return RedisRateLimiter(redis_url, rate_per_s, burst)
    return InMemoryRateLimiter(rate_per_s, burst)
