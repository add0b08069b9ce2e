"""Complaint intake and status look-up through the dialogue (scripted router, real store on SQLite)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from assistant.complaints.routing import Route
from assistant.complaints.store import ComplaintStore
from assistant.dialogue.engine import DialogueEngine
from assistant.dialogue.intents import RuleEmbeddingClassifier
from assistant.hours import SEOUL
from assistant.sessions import InMemorySessionStore
from assistant.storage import Database
from knowledge.types import Answer

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SEOUL)


class FakeRouter:
    def route(self, text: str) -> Route:
        if "싱크홀" in text or "전선" in text:
            return Route("도로·시설 긴급", "시민시장담당관", "현장기동팀", True, 0.9, "'싱크홀' → 긴급")
        return Route("도로·시설 보수", "시민시장담당관", "바로처리팀", False, 0.7, "'가로등' → 바로처리팀")


@pytest.fixture()
def engine(tmp_path: Path) -> DialogueEngine:
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.create_schema()
    return DialogueEngine(lambda q, c=None: Answer("없음", True, ()), RuleEmbeddingClassifier(None),
                          InMemorySessionStore(), db, clock=lambda: NOW, router=FakeRouter(),
                          complaints=ComplaintStore(db))


def test_intake_with_read_back_correction_and_receipt(engine: DialogueEngine) -> None:
    r = engine.handle(None, "집 앞 가로등이 고장나서 밤에 너무 어두워요")
    assert r.intent == "complaint" and "장소" in r.text
    sid = r.session_id
    engine.handle(sid, "별내동 별내3로 308 앞")
    r = engine.handle(sid, "건너뛰기")
    assert "동의" in r.text
    r = engine.handle(sid, "네")
    assert "전화번호" in r.text
    r = engine.handle(sid, "010-1234-5678")
    assert "맞나요" in r.text and "별내3로 308" in r.text and "010-****-5678" in r.text
    r = engine.handle(sid, "아니요, 주소는 별내동 별내3로 310 앞이에요")
    assert "별내3로 310" in r.text and "맞나요" in r.text
    assert not engine.complaints.search()  # type: ignore[union-attr]  # nothing filed before yes
    r = engine.handle(sid, "네")
    assert r.complaint is not None and r.complaint["id"].startswith("NYJ-")
    assert r.complaint["team"] == "바로처리팀" and r.complaint["status"] == "접수"
    assert r.complaint["id"] in r.text and "처리 기한" in r.text
    stored = engine.complaints.get(r.complaint["id"])  # type: ignore[union-attr]
    assert stored["address"] == "별내동 별내3로 310 앞" and stored["phone"] == "010-1234-5678"
    assert stored["channel"] == "chat" and stored["session_id"] == sid

    # the citizen checks the status later, in a new session
    s = engine.handle(None, f"{r.complaint['id']} 처리 상황 알려주세요")
    assert "4자리" in s.text
    s = engine.handle(s.session_id, "5678")
    assert "접수" in s.text and s.complaint and s.complaint["id"] == r.complaint["id"]
    wrong = engine.handle(None, f"민원 {r.complaint['id']} 어떻게 됐어요")
    wrong = engine.handle(wrong.session_id, "0000")
    assert "찾지 못했습니다" in wrong.text and wrong.complaint is None


def test_urgent_hazard_gets_safety_advice_and_urgent_flag(engine: DialogueEngine) -> None:
    r = engine.handle(None, "도로 한가운데 싱크홀이 생겼어요")
    assert "119" in r.text and "긴급" in r.text
    sid = r.session_id
    for answer in ("진접읍 해밀예당1로 12", "오늘 아침", "아니요"):
        r = engine.handle(sid, answer)
    assert "맞나요" in r.text and "연락처: (없음)" in r.text  # no consent: no phone asked
    r = engine.handle(sid, "네")
    assert r.complaint and r.complaint["urgent"] is True and r.complaint["team"] == "현장기동팀"
    assert "연락처를 남기지 않으셔서" in r.text
    expected = dt.datetime.fromisoformat(r.complaint["expected_datetime"])
    assert expected == dt.datetime(2026, 11, 23, 13, 0, tzinfo=SEOUL)  # 3 working hours


def test_repeat_report_is_linked(engine: DialogueEngine) -> None:
    def file(address: str) -> dict:  # type: ignore[type-arg]
        r = engine.handle(None, "가로등이 꺼져 있어요")
        for answer in (address, "건너뛰기", "아니요", "네"):
            r = engine.handle(r.session_id, answer)
        assert r.complaint is not None
        return r.complaint

    first = file("다산중앙로 100")
    again = file("다산중앙로100")
    assert again["duplicate_of"] == first["id"]


def test_generic_request_asks_what_happened(engine: DialogueEngine) -> None:
    r = engine.handle(None, "민원 접수하고 싶어요")
    assert "어떤 불편" in r.text
    r = engine.handle(r.session_id, "취소")
    assert r.intent == "cancel"


class RecordingSms:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    def send(self, to: str, body: str) -> str:
        from assistant.notify import NotifyError

        if self.fail:
            raise NotifyError("down")
        self.sent.append((to, body))
        return "SM1"


@pytest.mark.parametrize("fail", [False, True])
def test_phone_caller_gets_the_receipt_by_sms(tmp_path: Path, fail: bool) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    db.create_schema()
    sms = RecordingSms(fail)
    engine = DialogueEngine(lambda q, c=None: Answer("없음", True, ()), RuleEmbeddingClassifier(None),
                            InMemorySessionStore(), db, clock=lambda: NOW, router=FakeRouter(),
                            complaints=ComplaintStore(db), sms=sms)
    r = engine.handle("CA1", "가로등이 꺼져 있어요", channel="phone")
    for answer in ("다산중앙로 5", "건너뛰기", "네", "공일공 일이삼사 오육칠팔 아니 010-1234-5678", "네"):
        r = engine.handle("CA1", answer, channel="phone")
    assert r.complaint is not None
    stored = engine.complaints.get(r.complaint["id"])  # type: ignore[union-attr]
    assert stored["channel"] == "phone"
    if fail:
        assert not sms.sent and "문자로" not in r.text  # the receipt is still spoken
    else:
        assert sms.sent[0][0] == "010-1234-5678" and r.complaint["id"] in sms.sent[0][1]
        assert "문자로 보내 드렸습니다" in r.text
    # chat users see the receipt on screen: no SMS
    sms.sent.clear()
    c = engine.handle(None, "가로등이 꺼져 있어요")
    for answer in ("다산중앙로 9", "건너뛰기", "네", "010-1234-5678", "네"):
        c = engine.handle(c.session_id, answer)
    assert c.complaint and not sms.sent
