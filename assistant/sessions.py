"""Dialogue-session storage: the ``SessionStore`` seam and its two providers.

A session's dialogue state is an opaque, JSON-serialisable ``dict`` owned by the dialogue engine.
Stores keep it for a time-to-live that every ``save`` resets, so an idle conversation simply
expires.

* ``InMemorySessionStore`` — one process (the embedded default): thread-safe, LRU-bounded, TTL on
  an injectable monotonic clock.
* ``RedisSessionStore`` — several stateless workers: JSON values under ``<prefix><session_id>``
  written with ``SET ... EX``, so any worker can serve any turn. redis-py exceptions become
  ``SessionStoreError`` here.

Both stores round-trip the state through JSON, so they behave alike (tuples come back as lists,
non-string keys as strings) and a caller can never mutate what is stored. Session ids are checked
(1-128 chars of ``[A-Za-z0-9_-]``) so a hostile id cannot build odd keys.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from assistant.errors import SessionStoreError

__all__ = [
    "InMemorySessionStore",
    "RedisSessionStore",
    "SessionStore",
    "make_session_store",
    "validate_session_id",
]

log = logging.getLogger(__name__)

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@runtime_checkable
class SessionStore(Protocol):
    """Where multi-turn dialogue state lives between turns."""

    def load(self, session_id: str) -> dict[str, Any] | None:
        """The stored state, or ``None`` if the session is unknown or expired."""
        ...

    def save(self, session_id: str, state: dict[str, Any], ttl_s: int) -> None:
        """Store ``state`` (replacing any previous one) and (re)set its time-to-live."""
        ...

    def delete(self, session_id: str) -> None:
        """Forget the session; deleting an unknown session is not an error."""
        ...

    def ping(self) -> bool:
        """Readiness: ``False`` (never an exception) when the backend is unreachable."""
        ...


def validate_session_id(session_id: str) -> str:
    """Return ``session_id`` if it is 1-128 chars of ``[A-Za-z0-9_-]``; raise ``ValueError`` otherwise."""
    if not isinstance(session_id, str) or _SESSION_ID.fullmatch(session_id) is None:
        raise ValueError("session id must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'")
    return session_id


def _encode(state: dict[str, Any], ttl_s: int) -> str:
    if not isinstance(state, dict):
        raise TypeError(f"session state must be a dict, not {type(state).__name__}")
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or ttl_s < 1:
        raise ValueError("ttl_s must be a positive whole number of seconds")
    return json.dumps(state, ensure_ascii=False, separators=(",", ":"))


def _decode(payload: str | bytes, session_id: str) -> dict[str, Any] | None:
    try:
        state = json.loads(payload)
    except ValueError:
        log.warning("discarding unreadable session state", extra={"fields": {"session_id": session_id}})
        return None
    if not isinstance(state, dict):
        log.warning("discarding session state that is not an object",
                    extra={"fields": {"session_id": session_id}})
        return None
    return state


class InMemorySessionStore:
    """Sessions in this process: thread-safe, TTL on a monotonic clock, LRU eviction.

    ``clock`` returns seconds on a monotonic scale (tests inject a fake). Beyond ``max_sessions``
    the least recently used session is dropped. State is stored as JSON text, so loads and saves
    are deep copies.
    """

    def __init__(self, max_sessions: int = 10000, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._max = max_sessions
        self._clock = clock
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()  # id -> (expires_at, json)

    def load(self, session_id: str) -> dict[str, Any] | None:
        validate_session_id(session_id)
        with self._lock:
            item = self._items.get(session_id)
            if item is None:
                return None
            expires_at, payload = item
            if self._clock() >= expires_at:
                del self._items[session_id]
                return None
            self._items.move_to_end(session_id)
        return _decode(payload, session_id)

    def save(self, session_id: str, state: dict[str, Any], ttl_s: int) -> None:
        validate_session_id(session_id)
        payload = _encode(state, ttl_s)
        with self._lock:
            now = self._clock()
            self._items[session_id] = (now + ttl_s, payload)
            self._items.move_to_end(session_id)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def delete(self, session_id: str) -> None:
        validate_session_id(session_id)
        with self._lock:
            self._items.pop(session_id, None)

    def ping(self) -> bool:
        return True

    def __len__(self) -> int:
        """Number of sessions held, counting expired ones not yet swept."""
        with self._lock:
            return len(self._items)


class RedisSessionStore:
    """Sessions in Redis, shared by every worker: JSON values written with ``SET key value EX ttl``.

    ``url`` is a redis-py URL (``redis://host:6379/0``). Every call is bounded by
    ``socket_timeout_s`` (one retry, so at most ~2 s when Redis hangs; a refused connection fails at
    once); connection failures and timeouts raise ``SessionStoreError``, which the channels turn into
    a Korean "잠시 후 다시" answer. redis-py reconnects by itself when Redis is back. 1 s rather than
    less: on a busy 2-core machine a 0.25 s timeout was hit under load (seen on the rate limiter).
    """

    def __init__(self, url: str, prefix: str = "nyj:session:", socket_timeout_s: float = 1.0) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        if not url:
            raise ValueError("RedisSessionStore needs a redis:// URL")
        self._prefix = prefix
        self._client: Any = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

    def _key(self, session_id: str) -> str:
        return self._prefix + validate_session_id(session_id)

    def load(self, session_id: str) -> dict[str, Any] | None:
        key = self._key(session_id)
        try:
            payload = self._client.get(key)
        except self._errors as exc:
            raise SessionStoreError(f"could not load session: {exc}") from exc
        if payload is None:
            return None
        return _decode(payload, session_id)

    def save(self, session_id: str, state: dict[str, Any], ttl_s: int) -> None:
        key = self._key(session_id)
        payload = _encode(state, ttl_s)
        try:
            self._client.set(key, payload, ex=ttl_s)
        except self._errors as exc:
            raise SessionStoreError(f"could not save session: {exc}") from exc

    def delete(self, session_id: str) -> None:
        key = self._key(session_id)
        try:
            self._client.delete(key)
        except self._errors as exc:
            raise SessionStoreError(f"could not delete session: {exc}") from exc

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except Exception:  # readiness must never raise
            return False

    def close(self) -> None:
        """Release the connection pool (the store is unusable afterwards)."""
        with contextlib.suppress(*self._errors):
            self._client.close()


def make_session_store(redis_url: str) -> SessionStore:
    """Redis when ``redis_url`` is set (several workers), else one process's memory."""
    if redis_url:
        return RedisSessionStore(redis_url)
    return InMemorySessionStore()
