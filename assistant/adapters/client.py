"""The shared HTTP client of the city-system adapters: time-outs, retries, circuit breaker, cache.

``ApiClient`` wraps one ``httpx.Client`` per backend and owns what every public API needs:
- a per-backend time-out (``httpx.Timeout``) — the dialogue tools add a hard overall deadline on top;
- retries with exponential backoff and full jitter for transient errors only (connect errors,
  time-outs, 5xx, 429 and whatever a parser flags as transient, e.g. 지방재정365 ``ERROR-337``),
  never past the caller's deadline;
- a ``CircuitBreaker``: open after N consecutive failures, refuse calls for a cool-down, then let one
  trial call through (half-open) and close again on success;
- a ``TTLCache`` of parsed results keyed by path and parameters (API keys left out), with hit/miss
  counters (bus arrivals ~20 s, CCTV a day, budget an hour);
- translation of httpx exceptions and HTTP status codes into ``adapters.errors`` (the edge).
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx

from .errors import (
    AdapterError,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    BadResponse,
    CircuitOpen,
    RateLimited,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], float]


class TTLCache:
    """A small thread-safe LRU cache whose entries expire ``ttl_s`` seconds after they were stored."""

    def __init__(self, ttl_s: float, max_entries: int = 512, clock: Clock = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> tuple[bool, Any]:
        with self._lock:
            item = self._data.get(key)
            if item is None or item[0] <= self.clock():
                if item is not None:
                    del self._data[key]
                self.misses += 1
                return False, None
            self._data.move_to_end(key)
            self.hits += 1
            return True, item[1]

    def put(self, key: str, value: Any) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._data[key] = (self.clock() + self.ttl_s, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class CircuitBreaker:
    """Closed -> open after ``failure_threshold`` consecutive failures -> half-open after
    ``reset_after_s`` (one trial call) -> closed on its success, open again on its failure."""

    def __init__(self, failure_threshold: int = 5, reset_after_s: float = 30.0,
                 clock: Clock = time.monotonic) -> None:
        self.failure_threshold = max(1, failure_threshold)
        self.reset_after_s = reset_after_s
        self.clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at >= self.reset_after_s:
            return "half_open"
        return "open"

    def before_call(self, backend: str = "") -> None:
        """Raise ``CircuitOpen`` unless a call may go through now."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return
            raise CircuitOpen("circuit open: backend recently failing", backend)

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self.failure_threshold:
                self._opened_at = self.clock()
            self._trial_running = False


def json_body(response: httpx.Response, backend: str) -> Any:
    """The response body as JSON, or ``BadResponse`` (data.go.kr XML gateway errors are translated)."""
    text = response.text
    stripped = text.lstrip("\ufeff \r\n\t")
    if stripped.startswith("<"):
        raise data_go_kr_error(stripped, backend)
    try:
        return json.loads(stripped)
    except ValueError as exc:
        raise BadResponse(f"body is not JSON: {stripped[:80]!r}", backend) from exc


_REASON = re.compile(r"<returnReasonCode>\s*(\d+)\s*</returnReasonCode>")
_AUTH_MSG = re.compile(r"<returnAuthMsg>\s*([^<]*)</returnAuthMsg>")


def data_go_kr_error(xml_text: str, backend: str) -> AdapterError:
    """Translate the 공공데이터포털 gateway's XML error (``OpenAPI_ServiceResponse``), which arrives with
    HTTP 200 even when a JSON body was asked for."""
    m = _REASON.search(xml_text)
    if not m:
        return BadResponse(f"unexpected XML body: {xml_text[:80]!r}", backend)
    code = int(m.group(1))
    auth = _AUTH_MSG.search(xml_text)
    detail = f"data.go.kr code {code} {auth.group(1).strip() if auth else ''}".strip()
    if code == 22:  # LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR
        return RateLimited(detail, backend)
    if code in (1, 4, 5, 99):  # application / HTTP / time-out / unknown errors at the gateway
        return BackendUnavailable(detail, backend)
    return BackendRejected(detail, backend)  # 10-12 bad request, 20/30-33 key problems


class ApiClient:
    """One public API: ``get(path, params, parse)`` with time-out, retries, breaker and cache."""

    def __init__(self, name: str, base_url: str, *, timeout_s: float = 2.0, retries: int = 2,
                 backoff_s: float = 0.1, max_backoff_s: float = 1.0, cache_ttl_s: float = 0.0,
                 cache_entries: int = 512, failure_threshold: int = 5, reset_after_s: float = 30.0,
                 secret_params: tuple[str, ...] = ("serviceKey", "ServiceKey", "Key", "key"),
                 transport: httpx.BaseTransport | None = None, clock: Clock = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.secret_params = secret_params
        self.cache = TTLCache(cache_ttl_s, cache_entries, clock)
        self.breaker = CircuitBreaker(failure_threshold, reset_after_s, clock)
        self.clock = clock
        self.sleep = sleep
        self.calls = 0  # HTTP requests actually sent (for the benchmark and tests)
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s), transport=transport,
                                  follow_redirects=True,
                                  headers={"User-Agent": "namyangju-assistant/0.1", "Accept": "*/*"})

    def close(self) -> None:
        self._http.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def cache_key(self, path: str, params: Mapping[str, Any]) -> str:
        public = sorted((k, str(v)) for k, v in params.items() if k not in self.secret_params)
        return f"{path}?{public}"

    def get(self, path: str, params: Mapping[str, Any], parse: Callable[[httpx.Response], T], *,
            use_cache: bool = True, deadline: float | None = None) -> T:
        """GET ``base_url/path`` and ``parse`` the response. ``deadline`` (``clock()`` value) stops retries
        that could not finish in time. Raises ``AdapterError`` only."""
        key = self.cache_key(path, params)
        if use_cache:
            hit, value = self.cache.get(key)
            if hit:
                return value  # type: ignore[no-any-return]
        attempt = 0
        while True:
            self.breaker.before_call(self.name)
            try:
                value = self._once(path, params, parse)
            except AdapterError as exc:
                if exc.transient or isinstance(exc, BadResponse):
                    self.breaker.record_failure()
                else:
                    self.breaker.record_success()  # the backend answered; the request was wrong
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt) * random.random()
                late = deadline is not None and self.clock() + delay + self.timeout_s > deadline
                if not exc.transient or attempt >= self.retries or late:
                    log.warning("adapter call failed", extra={"fields": {
                        "backend": self.name, "error": type(exc).__name__, "attempts": attempt + 1}})
                    raise
                attempt += 1
                self.sleep(delay)
                continue
            self.breaker.record_success()
            if use_cache:
                self.cache.put(key, value)
            return value

    def _once(self, path: str, params: Mapping[str, Any], parse: Callable[[httpx.Response], T]) -> T:
        self.calls += 1
        try:
            response = self._http.get(self.url(path), params=dict(params))
        except httpx.TimeoutException as exc:
            raise BackendTimeout(f"{type(exc).__name__}", self.name) from exc
        except httpx.HTTPError as exc:  # connect errors, protocol errors, bad URLs
            raise BackendUnavailable(f"{type(exc).__name__}", self.name) from exc
        status = response.status_code
        if status == 429:
            raise RateLimited("HTTP 429", self.name)
        if status >= 500:
            raise BackendUnavailable(f"HTTP {status}", self.name)
        if status >= 400:
            raise BackendRejected(f"HTTP {status}", self.name)
        try:
            return parse(response)
        except AdapterError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise BadResponse(f"unexpected body shape: {type(exc).__name__}: {exc}", self.name) from exc

    def stats(self) -> dict[str, Any]:
        return {"backend": self.name, "requests": self.calls, "cache_hits": self.cache.hits,
                "cache_misses": self.cache.misses, "circuit": self.breaker.state}
