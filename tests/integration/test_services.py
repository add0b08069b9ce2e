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


def test_complaint_flow_on_postgresql(mini_corpus: Path, tmp_path: Path, pg_url: str, redis_url: str) -> None:
    """Intake in chat -> routed and committed -> Open311 feed -> staff change with audit, all on
    PostgreSQL with sessions in Redis."""
    from assistant.auth import hash_password
    from assistant.settings import AdminSettings, Open311Settings

    s = Settings(data_dir=tmp_path / "data", redis_url=redis_url, database_url=pg_url,
                 knowledge=KnowledgeSettings(corpus_dir=mini_corpus, embedder="hashing"),
                 open311=Open311Settings(api_keys=["k"]),
                 admin=AdminSettings(users={"lee": hash_password("pw-5678", iterations=1000)}, secret_key="s" * 32))
    with TestClient(create_app(s)) as c:
        r = c.post("/api/chat", json={"message": "전봇대 전선이 끊어져서 길에 늘어져 있어요"}).json()
        assert r["intent"] == "complaint" and "119" in r["reply"]
        sid = r["session_id"]
        for answer in ("오남읍 양지로 10", "방금", "네", "010-7777-8888", "네"):
            r = c.post("/api/chat", json={"session_id": sid, "message": answer}).json()
        comp = r["complaint"]
        assert comp["urgent"] is True and comp["team"] == "현장기동팀"
        feed = c.get("/open311/v2/requests.json", params={"service_request_id": comp["id"]}).json()
        assert feed[0]["agency_responsible"] == "현장기동팀"
        c.post("/admin/login", data={"username": "lee", "password": "pw-5678"},
               headers={"origin": "http://testserver"}, follow_redirects=False)
        page = c.get("/admin").text
        import re

        token = re.search(r'name="nyj-csrf" content="([^"]+)"', page)
        assert token, "dashboard carries a CSRF token"
        detail = c.get(f"/admin/api/complaints/{comp['id']}").json()
        version = detail["complaint"]["version"]
        changed = c.post(f"/admin/api/complaints/{comp['id']}/change",
                         json={"expected_version": version, "status": "처리중", "note": "현장 출동"},
                         headers={"x-csrf-token": token.group(1)})
        assert changed.status_code == 200
        history = c.get(f"/admin/api/complaints/{comp['id']}").json()["history"]
        assert history[-1]["actor"] == "lee" and history[-1]["to_status"] == "처리중"
