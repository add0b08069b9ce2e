"""The chat service on real PostgreSQL and Redis: storage on both databases, and a conversation
that continues across two app instances (= two workers) sharing Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.settings import KnowledgeSettings, Settings
from assistant.storage import Database
from channels.app import create_app

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_storage_on_both_databases(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    db = Database(url)
    db.create_schema()
    db.create_schema()  # idempotent
    assert db.ping()
    assert db.add_feedback("s1", "m1", "up", "질문 010-1234-5678", "답")
    assert not db.add_feedback("s1", "m1", "down")
    cb = db.add_callback("s1", "010-1234-5678", "홍길동", "오전", "가로등 고장")
    assert cb.startswith("CB-") and cb.endswith("0001")
    assert db.callback_rows()[0]["phone"] == "010-1234-5678"
    assert "010-1234-5678" not in db.feedback_csv()


def test_conversation_continues_on_another_worker(mini_corpus: Path, tmp_path: Path, redis_url: str,
                                                  pg_url: str) -> None:
    def settings() -> Settings:
        return Settings(data_dir=tmp_path / "data", redis_url=redis_url, database_url=pg_url,
                        knowledge=KnowledgeSettings(corpus_dir=mini_corpus, embedder="hashing"))

    with TestClient(create_app(settings())) as a, TestClient(create_app(settings())) as b:
        assert a.get("/readyz").json()["checks"]["sessions"] is True
        r = a.post("/api/chat", json={"message": "콜백 요청"}).json()
        sid = r["session_id"]
        assert "동의" in r["reply"]
        r = b.post("/api/chat", json={"session_id": sid, "message": "네"}).json()
        assert "전화번호" in r["reply"]
        r = a.post("/api/chat", json={"session_id": sid, "message": "010-5555-6666"}).json()
        b.post("/api/chat", json={"session_id": sid, "message": "건너뛰기"})
        a.post("/api/chat", json={"session_id": sid, "message": "건너뛰기"})
        done = b.post("/api/chat", json={"session_id": sid, "message": "네"}).json()
        assert done["handoff"]["callback_id"].startswith("CB-")


def test_redis_down_makes_readiness_red_and_chat_503(mini_corpus: Path, tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data", redis_url="redis://127.0.0.1:1/0",
                 knowledge=KnowledgeSettings(corpus_dir=mini_corpus, embedder="hashing"))
    with TestClient(create_app(s), raise_server_exceptions=False) as c:
        assert c.get("/readyz").status_code == 503
        r = c.post("/api/chat", json={"message": "안녕하세요"})
        assert r.status_code == 503 and "잠시 후" in r.json()["message"]
        assert c.get("/healthz").status_code == 200
