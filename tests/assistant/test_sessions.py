"""Contract suite for ``SessionStore``: every provider inherits ``SessionStoreContract``.

The Redis provider runs against the real server on 127.0.0.1:6379 (skipped with a reason when it is
not reachable); each test uses its own key prefix and removes its keys afterwards.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from assistant.errors import AssistantError, SessionStoreError
from assistant.sessions import (
    InMemorySessionStore,
    RedisSessionStore,
    SessionStore,
    make_session_store,
    validate_session_id,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


def redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_redis() -> None:
    if not redis_reachable():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (start redis-server to run this test)")


def cleanup_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


STATE: dict[str, Any] = {
    "intent": "complaint",
    "slots": {"location": "별내동", "photos": [1, 2, 3]},
    "turns": [{"role": "user", "text": "가로등이 꺼졌어요"}],
    "n": 3,
    "ok": True,
    "none": None,
}


class SessionStoreContract:
    """What every SessionStore must do. Subclasses provide ``store`` and ``expire`` fixtures."""

    @pytest.fixture()
    def store(self) -> SessionStore:
        raise NotImplementedError

    @pytest.fixture()
    def expire(self) -> Callable[[SessionStore, str], None]:
        """Make a session saved with ``ttl_s=1`` expire (advance a fake clock or wait)."""
        raise NotImplementedError

    def test_is_a_session_store(self, store: SessionStore) -> None:
        assert isinstance(store, SessionStore)

    def test_roundtrip(self, store: SessionStore) -> None:
        store.save("s-1", STATE, ttl_s=60)
        assert store.load("s-1") == STATE

    def test_unknown_is_none(self, store: SessionStore) -> None:
        assert store.load("never-saved") is None

    def test_ttl_expiry(self, store: SessionStore, expire: Callable[[SessionStore, str], None]) -> None:
        store.save("short", {"a": 1}, ttl_s=1)
        store.save("long", {"b": 2}, ttl_s=600)
        assert store.load("short") == {"a": 1}
        expire(store, "short")
        assert store.load("short") is None
        assert store.load("long") == {"b": 2}

    def test_save_resets_ttl(self, store: SessionStore, expire: Callable[[SessionStore, str], None]) -> None:
        store.save("s", {"v": 1}, ttl_s=1)
        store.save("s", {"v": 2}, ttl_s=600)
        expire(store, "s")
        assert store.load("s") == {"v": 2}

    def test_overwrite(self, store: SessionStore) -> None:
        store.save("s", {"v": 1, "old": True}, ttl_s=60)
        store.save("s", {"v": 2}, ttl_s=60)
        assert store.load("s") == {"v": 2}

    def test_delete(self, store: SessionStore) -> None:
        store.save("s", {"v": 1}, ttl_s=60)
        store.delete("s")
        assert store.load("s") is None
        store.delete("s")  # deleting twice (or an unknown id) is fine

    def test_isolated_from_caller_mutation(self, store: SessionStore) -> None:
        state: dict[str, Any] = {"slots": {"where": "금곡동"}, "turns": ["a"]}
        store.save("s", state, ttl_s=60)
        state["slots"]["where"] = "changed"
        state["turns"].append("b")
        loaded = store.load("s")
        assert loaded == {"slots": {"where": "금곡동"}, "turns": ["a"]}
        assert loaded is not None
        loaded["slots"]["where"] = "changed again"
        assert store.load("s") == {"slots": {"where": "금곡동"}, "turns": ["a"]}

    def test_json_semantics(self, store: SessionStore) -> None:
        store.save("s", {"pair": (1, 2), "empty": {}}, ttl_s=60)
        assert store.load("s") == {"pair": [1, 2], "empty": {}}

    def test_not_serialisable_is_rejected(self, store: SessionStore) -> None:
        with pytest.raises(TypeError):
            store.save("s", {"obj": object()}, ttl_s=60)

    @pytest.mark.parametrize("ttl", [0, -5])
    def test_bad_ttl_rejected(self, store: SessionStore, ttl: int) -> None:
        with pytest.raises(ValueError):
            store.save("s", {}, ttl_s=ttl)

    @pytest.mark.parametrize(
        "bad_id",
        ["", "a" * 129, "../etc", "a:b", "a b", "세션", "a*", "id\n", "x\x00y", "nyj:session:other"],
    )
    def test_invalid_ids_rejected(self, store: SessionStore, bad_id: str) -> None:
        with pytest.raises(ValueError):
            store.load(bad_id)
        with pytest.raises(ValueError):
            store.save(bad_id, {}, ttl_s=60)
        with pytest.raises(ValueError):
            store.delete(bad_id)

    def test_longest_valid_id(self, store: SessionStore) -> None:
        sid = "A-z_9" + "x" * 123
        store.save(sid, {"ok": 1}, ttl_s=60)
        assert store.load(sid) == {"ok": 1}

    def test_ping(self, store: SessionStore) -> None:
        assert store.ping() is True


class TestInMemorySessionStore(SessionStoreContract):
    @pytest.fixture()
    def clock(self) -> list[float]:
        return [1000.0]

    @pytest.fixture()
    def store(self, clock: list[float]) -> SessionStore:
        return InMemorySessionStore(clock=lambda: clock[0])

    @pytest.fixture()
    def expire(self, clock: list[float]) -> Callable[[SessionStore, str], None]:
        def advance(store: SessionStore, session_id: str) -> None:
            clock[0] += 1.0

        return advance

    def test_lru_eviction(self) -> None:
        now = [0.0]
        store = InMemorySessionStore(max_sessions=3, clock=lambda: now[0])
        for sid in ("a", "b", "c"):
            store.save(sid, {"id": sid}, ttl_s=60)
        assert store.load("a") == {"id": "a"}  # a is now the most recently used
        store.save("d", {"id": "d"}, ttl_s=60)
        assert len(store) == 3
        assert store.load("b") is None
        assert [store.load(s) for s in ("a", "c", "d")] == [{"id": "a"}, {"id": "c"}, {"id": "d"}]

    def test_expiry_is_exact(self) -> None:
        now = [0.0]
        store = InMemorySessionStore(clock=lambda: now[0])
        store.save("s", {"v": 1}, ttl_s=10)
        now[0] = 9.999
        assert store.load("s") == {"v": 1}
        now[0] = 10.0
        assert store.load("s") is None
        assert len(store) == 0

    def test_threads(self) -> None:
        import threading

        store = InMemorySessionStore(max_sessions=50)

        def work(n: int) -> None:
            for i in range(200):
                sid = f"t{n}-{i % 60}"
                store.save(sid, {"i": i}, ttl_s=60)
                store.load(sid)
                if i % 7 == 0:
                    store.delete(sid)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(store) <= 50

    def test_bad_max_sessions(self) -> None:
        with pytest.raises(ValueError):
            InMemorySessionStore(max_sessions=0)


@pytest.mark.integration
class TestRedisSessionStore(SessionStoreContract):
    @pytest.fixture()
    def prefix(self) -> Iterator[str]:
        require_redis()
        prefix = f"test:nyj:session:{uuid.uuid4().hex}:"
        yield prefix
        cleanup_prefix(prefix)

    @pytest.fixture()
    def store(self, prefix: str) -> Iterator[SessionStore]:
        store = RedisSessionStore(REDIS_URL, prefix=prefix)
        yield store
        store.close()

    @pytest.fixture()
    def expire(self) -> Callable[[SessionStore, str], None]:
        def wait(store: SessionStore, session_id: str) -> None:
            time.sleep(1.2)

        return wait

    def test_two_workers_share_sessions(self, prefix: str) -> None:
        worker_a = RedisSessionStore(REDIS_URL, prefix=prefix)
        worker_b = RedisSessionStore(REDIS_URL, prefix=prefix)
        try:
            worker_a.save("shared", {"turn": 1}, ttl_s=60)
            assert worker_b.load("shared") == {"turn": 1}
            worker_b.save("shared", {"turn": 2}, ttl_s=60)
            assert worker_a.load("shared") == {"turn": 2}
            worker_a.delete("shared")
            assert worker_b.load("shared") is None
        finally:
            worker_a.close()
            worker_b.close()

    def test_stored_as_json_with_ttl(self, prefix: str) -> None:
        import redis

        store = RedisSessionStore(REDIS_URL, prefix=prefix)
        store.save("k", {"text": "민원"}, ttl_s=30)
        client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        try:
            assert client.get(prefix + "k") == '{"text":"민원"}'
            assert 0 < int(client.ttl(prefix + "k")) <= 30
            client.set(prefix + "broken", "not json", ex=30)
            assert store.load("broken") is None  # unreadable state: start a fresh dialogue
        finally:
            client.close()
            store.close()

    def test_prefixes_isolate(self, prefix: str) -> None:
        a = RedisSessionStore(REDIS_URL, prefix=prefix + "a:")
        b = RedisSessionStore(REDIS_URL, prefix=prefix + "b:")
        a.save("same", {"who": "a"}, ttl_s=60)
        assert b.load("same") is None
        a.close()
        b.close()

    def test_factory_picks_redis(self) -> None:
        require_redis()
        store = make_session_store(REDIS_URL)
        assert isinstance(store, RedisSessionStore)
        assert store.ping() is True
        store.close()


class TestUnreachableRedis:
    def test_ping_false_and_errors_translated(self) -> None:
        store = RedisSessionStore(DEAD_REDIS_URL, socket_timeout_s=0.2)
        started = time.monotonic()
        assert store.ping() is False
        with pytest.raises(SessionStoreError) as info:
            store.load("s")
        assert info.value.transient is True
        assert isinstance(info.value, AssistantError)
        with pytest.raises(SessionStoreError):
            store.save("s", {"v": 1}, ttl_s=60)
        with pytest.raises(SessionStoreError):
            store.delete("s")
        assert time.monotonic() - started < 5.0  # fails fast, no long retry loop

    def test_invalid_id_checked_before_network(self) -> None:
        store = RedisSessionStore(DEAD_REDIS_URL)
        with pytest.raises(ValueError):
            store.load("bad id")


def test_factory_defaults_to_memory() -> None:
    assert isinstance(make_session_store(""), InMemorySessionStore)


def test_validate_session_id() -> None:
    assert validate_session_id("abc-DEF_123") == "abc-DEF_123"
    with pytest.raises(ValueError):
        validate_session_id("abc\n")
    with pytest.raises(ValueError):
        validate_session_id(123)  # type: ignore[arg-type]
