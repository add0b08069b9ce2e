"""Dialogue engine: follow-ups, hand-off by office hours, the call-back form (consent, corrections,
cancel), complaints not lost, session state in the store. Unit level: a scripted answerer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from assistant.dialogue.engine import DialogueEngine
from assistant.dialogue.intents import RuleEmbeddingClassifier
from assistant.hours import SEOUL
from assistant.sessions import InMemorySessionStore
from assistant.storage import Database
from knowledge.types import Answer, Citation

OPEN = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SEOUL)  # Monday 10:00
CLOSED = dt.datetime(2026, 11, 22, 21, 0, tzinfo=SEOUL)  # Sunday night


class ScriptedAnswerer:
    """Answers "예산" questions about 스마트 교차로 and "군데" only with that context."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, question: str, context: str | None = None) -> Answer:
        self.calls.append((question, context))
        cite = Citation("plan.md", "기획조정실 > 스마트도시과 > 3 스마트 교차로 구축 사업 > 사업개요",
                        "사업내용 : 스마트교차로 5개소\n소요예산 : 500,000천원")
        if "스마트 교차로" in question and "예산" in question:
            return Answer("- 소요예산 : 500,000천원", False, (cite,))
        if context and "스마트 교차로" in context and "군데" in question:
            return Answer("- 사업내용 : 스마트교차로 5개소", False, (cite,))
        return Answer("자료에서 찾지 못했습니다. 남양주시 민원콜센터로 문의해 주세요.", True, ())


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    d = Database(f"sqlite:///{tmp_path / 'a.db'}")
    d.create_schema()
    return d


def make_engine(db: Database, now: dt.datetime, store: InMemorySessionStore | None = None) -> DialogueEngine:
    return DialogueEngine(ScriptedAnswerer(), RuleEmbeddingClassifier(None),
                          store if store is not None else InMemorySessionStore(),
                          db, clock=lambda: now)


def test_follow_up_is_answered_against_the_previous_topic(db: Database) -> None:
    e = make_engine(db, OPEN)
    first = e.handle(None, "스마트 교차로 예산이 얼마예요?")
    assert "500,000천원" in first.text and first.citations
    second = e.handle(first.session_id, "그럼 몇 군데 설치해요?")
    assert "5개소" in second.text and "스마트 교차로 구축 사업" in second.text
    assert second.session_id == first.session_id
    # without the earlier turn the same question has nothing to stand on
    alone = e.handle(None, "그럼 몇 군데 설치해요?")
    assert alone.abstained


def test_unknown_or_hostile_session_id_starts_a_new_session(db: Database) -> None:
    e = make_engine(db, OPEN)
    r = e.handle("never-seen", "안녕하세요")
    assert r.session_id == "never-seen" and r.intent == "greeting"
    r2 = e.handle("../../etc/passwd", "안녕하세요")
    assert r2.session_id != "../../etc/passwd" and len(r2.session_id) == 32


def test_handoff_during_office_hours_offers_line_and_callback(db: Database) -> None:
    r = make_engine(db, OPEN).handle(None, "상담원 연결해 주세요")
    assert r.intent == "human" and r.handoff == {"office_open": True}
    assert "콜백 요청" in r.quick_replies


def test_after_hours_callback_with_consent_correction_and_storage(db: Database) -> None:
    e = make_engine(db, CLOSED)
    r = e.handle(None, "상담원이랑 통화하고 싶어요")
    assert r.handoff == {"office_open": False} and "내일" in r.text and "오전 9시" in r.text
    sid = r.session_id
    r = e.handle(sid, "콜백 요청")
    assert "동의" in r.text
    r = e.handle(sid, "네")
    assert "전화번호" in r.text
    r = e.handle(sid, "공일공 어쩌고")  # not a number: asked again, nothing lost
    assert "010-1234-5678" in r.text
    r = e.handle(sid, "010 1234 5678")
    assert "성함" in r.text
    r = e.handle(sid, "홍길동")
    r = e.handle(sid, "건너뛰기")
    assert "맞나요" in r.text and "010-****-5678" in r.text and "홍길동" in r.text
    r = e.handle(sid, "아니요, 연락처는 010-9999-8888로 바꿔 주세요")
    assert "010-****-8888" in r.text and "맞나요" in r.text
    assert not db.callback_rows()  # nothing stored before the citizen confirms
    r = e.handle(sid, "네")
    assert r.handoff and r.handoff["callback_id"].startswith("CB-")
    rows = db.callback_rows()
    assert len(rows) == 1 and rows[0]["phone"] == "010-9999-8888" and rows[0]["name"] == "홍길동"
    assert "010-9999-8888" not in r.text  # the reply shows the number masked


def test_consent_refused_ends_the_form(db: Database) -> None:
    e = make_engine(db, CLOSED)
    sid = e.handle(None, "콜백 요청할게요").session_id
    r = e.handle(sid, "아니요")
    assert "동의하지 않으시면" in r.text and not db.callback_rows()
    assert e.handle(sid, "안녕하세요").intent == "greeting"  # the form is over


def test_cancel_at_any_point(db: Database) -> None:
    e = make_engine(db, CLOSED)
    sid = e.handle(None, "콜백 요청").session_id
    e.handle(sid, "네")
    r = e.handle(sid, "취소")
    assert r.intent == "cancel" and "취소했습니다" in r.text
    assert e.handle(sid, "취소").text.startswith("취소할 진행 중인")


def test_complaint_is_never_dropped(db: Database) -> None:
    e = make_engine(db, CLOSED)
    r = e.handle(None, "집 앞 도로에 포트홀이 생겼어요. 제 번호는 010-2222-3333 입니다")
    assert r.intent == "complaint" and "동의" in r.text
    sid = r.session_id
    r = e.handle(sid, "네")  # consent; the phone number was already understood
    assert "성함" in r.text
    e.handle(sid, "건너뛰기")
    e.handle(sid, "건너뛰기")
    e.handle(sid, "네")
    [row] = db.callback_rows()
    assert "포트홀" in row["reason"] and row["phone"] == "010-2222-3333"


def test_session_state_lives_in_the_store(db: Database) -> None:
    store = InMemorySessionStore()
    a = make_engine(db, CLOSED, store)
    b = make_engine(db, CLOSED, store)  # another worker
    sid = a.handle(None, "콜백 요청").session_id
    r = b.handle(sid, "네")
    assert "전화번호" in r.text


@pytest.mark.parametrize("bad", ["", "   ", "가" * 5000])
def test_bad_input_is_answered_not_raised(db: Database, bad: str) -> None:
    r = make_engine(db, OPEN).handle(None, bad)
    assert r.intent == "invalid" and r.text


def test_feedback_question_lookup(db: Database) -> None:
    e = make_engine(db, OPEN)
    r = e.handle(None, "스마트 교차로 예산이 얼마예요?")
    q, a = e.question_for(r.session_id, r.message_id)
    assert q == "스마트 교차로 예산이 얼마예요?" and "500,000" in a
