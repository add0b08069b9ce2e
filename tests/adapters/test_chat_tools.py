"""End to end through ``POST /api/chat``: the live_data tools with every adapter pointed at a local HTTP
server (GBIS, TAGO, 지방재정365, CCTV CSV), backends down or slow, CCTV footage requests, and the
offline sample default."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.settings import (
    BudgetSettings,
    CCTVSettings,
    KnowledgeSettings,
    Settings,
    TrafficSettings,
)
from channels.app import create_app

from .server import FIXTURES, ScriptedServer, scripted_server
from .test_traffic import GBIS_ARR, GBIS_STA, TAGO_ARR, TAGO_STA


@pytest.fixture()
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


@contextmanager
def chat(mini_corpus: Path, tmp_path: Path, **groups: Any) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data",
                        knowledge=KnowledgeSettings(corpus_dir=mini_corpus, embedder="hashing"), **groups)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def say(c: TestClient, message: str, sid: str | None = None) -> dict[str, Any]:
    r = c.post("/api/chat", json={"message": message, **({"session_id": sid} if sid else {})})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def gbis(server: ScriptedServer, **kw: Any) -> TrafficSettings:
    return TrafficSettings(provider="gbis", base_url=server.url, api_key="secret-key", **kw)


def test_bus_arrival_from_gbis(mini_corpus: Path, tmp_path: Path, server: ScriptedServer) -> None:
    server.fixture(GBIS_STA, "gbis_stations.json", sticky=True)
    server.fixture(GBIS_ARR, "gbis_arrivals.json", sticky=True)
    with chat(mini_corpus, tmp_path, traffic=gbis(server)) as c:
        r = say(c, "1번 버스 별내역 정류장에 언제 와요?")
        assert r["intent"] == "live_data" and not r["abstained"]
        assert "경기도 버스정보 기준, 14:05 현재 별내역(14143)" in r["reply"]
        assert "1번: 약 4분 후 (2정류장 전), 다음 버스 약 19분 후" in r["reply"]
        assert "1100번" not in r["reply"]  # only the route asked for
        assert "https://www.gbis.go.kr" in r["reply"] and "예시" not in r["reply"]
        assert "secret-key" not in r["reply"]
        _, params = server.requests[0]
        assert params["keyword"] == ["별내역"]
        all_routes = say(c, "별내역 버스 도착 정보 알려줘")["reply"]
        assert "1100번: 약 12분 후 (5정류장 전), 빈자리 18석" in all_routes
        assert "165번: 도착 예정 시간 정보 없음 — 회차지 대기" in all_routes


def test_stop_asked_for_when_missing_then_remembered(mini_corpus: Path, tmp_path: Path,
                                                     server: ScriptedServer) -> None:
    server.fixture(TAGO_STA, "tago_stations.json", sticky=True)
    server.fixture(TAGO_ARR, "tago_arrivals.json", sticky=True)
    traffic = TrafficSettings(provider="tago", base_url=server.url, api_key="k")
    with chat(mini_corpus, tmp_path, traffic=traffic) as c:
        first = say(c, "1100번 버스 언제 와요?")
        assert first["intent"] == "live_data" and "어느 정류소" in first["reply"] and "1100번" in first["reply"]
        second = say(c, "별내역", first["session_id"])
        assert second["intent"] == "live_data"
        assert "국토교통부 TAGO 버스정보 기준" in second["reply"] and "1100번: 약 11분 후" in second["reply"]
        assert "1번:" not in second["reply"]


def test_backend_down_gives_polite_answer_with_public_source(mini_corpus: Path, tmp_path: Path,
                                                             server: ScriptedServer) -> None:
    server.add(GBIS_STA, "Service Unavailable", status=503, sticky=True)
    with chat(mini_corpus, tmp_path, traffic=gbis(server, retries=1)) as c:
        r = say(c, "1번 버스 별내역 정류장에 언제 와요?")
        assert r["intent"] == "live_data" and r["abstained"]
        assert "죄송합니다" in r["reply"] and "https://www.gbis.go.kr" in r["reply"]
        assert "503" not in r["reply"] and "Error" not in r["reply"]


def test_slow_backend_answers_at_the_deadline(mini_corpus: Path, tmp_path: Path,
                                              server: ScriptedServer) -> None:
    server.fixture(GBIS_STA, "gbis_stations.json", delay_s=3.0, sticky=True)
    with chat(mini_corpus, tmp_path, traffic=gbis(server, timeout_s=5.0, deadline_s=1.0)) as c:
        r = say(c, "1번 버스 별내역 정류장에 언제 와요?")
        assert r["abstained"] and "응답이 늦어" in r["reply"] and "경기버스정보" in r["reply"]


def test_cctv_locations_from_published_csv(mini_corpus: Path, tmp_path: Path, server: ScriptedServer) -> None:
    server.add("/cctv.csv", (FIXTURES / "cctv_old_header_cp949.csv").read_bytes(),
               content_type="text/csv", sticky=True)
    cctv = CCTVSettings(provider="http", base_url=f"{server.url}/cctv.csv")
    with chat(mini_corpus, tmp_path, cctv=cctv) as c:
        r = say(c, "별내역 근처에 방범 CCTV 어디어디 있어요?")
        assert r["intent"] == "live_data" and not r["abstained"]
        assert "전국CCTV표준데이터 기준(데이터 기준일 2025-12-31)" in r["reply"]
        assert "별내중앙로 30 (생활방범, 카메라 2대, 2021-03 설치)" in r["reply"]
        assert "어린이보호" not in r["reply"]  # 생활방범 only unless asked
        assert "영상은 이 창구에서 볼 수 없습니다" in r["reply"]
        town = say(c, "화도읍 우리 동네 cctv 위치 좀 알려줘")["reply"]
        assert "화도읍" in town and "2곳" in town
        ask = say(c, "우리 동네 방범 CCTV 어디 있어요?")
        assert "어느 지역" in ask["reply"]
        follow = say(c, "별내동", ask["session_id"])
        assert follow["intent"] == "live_data" and "별내동" in follow["reply"]
        assert server.hits("/cctv.csv") == 1  # the dataset is cached (a day)


def test_cctv_footage_request_becomes_a_complaint_for_the_video_team(mini_corpus: Path, tmp_path: Path) -> None:
    with chat(mini_corpus, tmp_path) as c:
        r = say(c, "어제 집 앞에서 차를 긁혔는데 CCTV 영상 보여 주세요")
        assert r["intent"] == "complaint" and "정보공개" in r["reply"] and "장소" in r["reply"]
        sid = r["session_id"]
        for answer in ("별내동 별내중앙로 30 앞", "건너뛰기", "네", "010-1234-5678", "네"):
            r = say(c, answer, sid)
        assert r["complaint"]["team"] == "스마트영상정보팀"
        # the team choice does not leak into the next, unrelated complaint
        r = say(c, "집 앞 도로에 포트홀이 크게 생겼어요", sid)
        for answer in ("진접읍 해밀예당1로 12", "건너뛰기", "아니요", "네"):
            r = say(c, answer, sid)
        assert r["complaint"]["team"] != "스마트영상정보팀"


def test_budget_combines_plan_document_and_lofin365(mini_corpus: Path, tmp_path: Path,
                                                    server: ScriptedServer) -> None:
    server.fixture("/QWGJK", "lofin_page1.json")
    server.fixture("/QWGJK", "lofin_page2.json")
    budget = BudgetSettings(provider="lofin365", base_url=server.url, api_key="lofin-key")
    with chat(mini_corpus, tmp_path, budget=budget) as c:
        r = say(c, "가로등 교체 사업 예산 얼마나 썼어요?")
        assert r["intent"] == "live_data" and not r["abstained"]
        assert "80,000천원" in r["reply"] and r["citations"][0]["document"] == "mini-plan.md"
        assert "지방재정365 기준" in r["reply"] and "「가로등 교체」 예산현액 80,000,000원 중 0원" in r["reply"]
        assert "lofin-key" not in r["reply"]
        _, params = server.requests[0]
        assert params["laf_cd"] == ["4136000"] and params["Type"] == ["json"]


def test_budget_rate_limited_falls_back_to_the_document(mini_corpus: Path, tmp_path: Path,
                                                        server: ScriptedServer) -> None:
    server.fixture("/QWGJK", "lofin_limit.json", sticky=True)
    budget = BudgetSettings(provider="lofin365", base_url=server.url, api_key="k", retries=1)
    with chat(mini_corpus, tmp_path, budget=budget) as c:
        r = say(c, "가로등 교체 사업 예산 얼마나 썼어요?")
        assert "80,000천원" in r["reply"] and r["citations"]
        assert "https://www.lofin365.go.kr" in r["reply"] and "ERROR" not in r["reply"]


def test_offline_sample_default_is_labelled(mini_corpus: Path, tmp_path: Path) -> None:
    with chat(mini_corpus, tmp_path) as c:
        bus = say(c, "1번 버스 별내역 정류장에 언제 와요?")["reply"]
        assert bus.startswith("예시 데이터") and "실제 정보가 아닙니다" in bus
        cctv = say(c, "별내역 근처 방범 CCTV 어디 있어요?")["reply"]
        assert "예시 데이터" in cctv
        money = say(c, "스마트 교차로 예산 지금까지 얼마나 썼어요?")["reply"]
        assert "예시 데이터" in money
        road = say(c, "다산역 앞에 지금 차 막혀요?")
        assert road["intent"] == "live_data" and "gits.gg.go.kr" in road["reply"]


def test_pending_question_does_not_trap_the_citizen(mini_corpus: Path, tmp_path: Path) -> None:
    with chat(mini_corpus, tmp_path) as c:
        first = say(c, "1번 버스 언제 와요?")
        assert "어느 정류소" in first["reply"]
        other = say(c, "가로등 교체 사업 예산이 얼마예요?", first["session_id"])
        assert other["intent"] == "question" and "80,000천원" in other["reply"]
        again = say(c, "별내역", first["session_id"])
        assert again["intent"] != "live_data"  # the earlier question was dropped
