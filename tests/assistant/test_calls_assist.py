"""AgentAssist: intent, grounded suggestions (or an explicit 'no evidence'), form pre-fill, summary."""

from __future__ import annotations

from typing import Any

from assistant.calls.assist import MSG_NO_EVIDENCE, AgentAssist, extract_location
from assistant.complaints.routing import TableRouter
from assistant.dialogue.intents import RuleEmbeddingClassifier


def make(hashing_stack: Any) -> AgentAssist:
    answerer, _ = hashing_stack
    return AgentAssist(answerer.answer, RuleEmbeddingClassifier(None), TableRouter())


def test_suggestion_is_the_answerers_grounded_reply_with_citations(hashing_stack: Any) -> None:
    assist = make(hashing_stack)
    [s] = assist.suggest("포트홀 긴급 보수 사업 예산이 얼마예요?")
    assert not s["abstained"] and "250,000천원" in s["text"]
    assert s["citations"] and s["citations"][0]["document"] == "mini-plan.md"
    assert "포트홀" in s["citations"][0]["section"]


def test_no_evidence_is_said_not_invented(hashing_stack: Any) -> None:
    assist = make(hashing_stack)
    [s] = assist.suggest("우주 정거장 견학 신청은 어떻게 하나요?")
    assert s == {"text": MSG_NO_EVIDENCE, "abstained": True, "citations": []}
    assert AgentAssist(None, None, None).suggest("예산이 얼마예요") == []


def test_intent_and_query_follow_the_caller() -> None:
    assist = AgentAssist(None, RuleEmbeddingClassifier(None), None)
    assert assist.intent(["가로등이 고장 났어요"]) == "complaint"
    assert assist.intent(["안녕하세요"]) == "greeting"
    assert assist.intent(["가로등이 고장 났어요", "별내동 쪽이에요"]) == "complaint"  # the call stays a complaint
    assert assist.query(["스마트 교차로 사업", "예산은요"]) == "스마트 교차로 사업 예산은요"
    assert assist.query(["네"]) == ""


def test_form_prefill_routes_and_extracts_place_and_contact() -> None:
    assist = AgentAssist(None, RuleEmbeddingClassifier(None), TableRouter())
    finals = ["별내동 별내3로 308 앞 도로에 포트홀이 크게 생겼어요",
              "제 이름은 홍길동입니다 연락처는 010 2345 6789 예요"]
    pre = assist.prefill(finals, caller_id="+821099998888")
    form = pre.form
    assert form["team"] and form["category"] and form["department"]
    assert "별내동" in form["location"] and "별내3로 308" in form["location"]
    assert pre.phone == "010-2345-6789" and form["contact_phone"] == "010-****-6789"
    assert form["contact_name"] == "홍길동"
    assert "6789" not in form["description"] and "[전화번호]" in form["description"]
    assert form["consent"] is False  # the agent asks for consent
    # without a spoken number the caller id is the contact
    pre2 = assist.prefill(["진접역 2번 출구 앞 가로등이 꺼져 있어요"], caller_id="+821099998888")
    assert pre2.phone == "010-9999-8888" and pre2.form["contact_phone"] == "010-****-8888"
    assert "진접역 2번 출구 앞" in pre2.form["location"]


def test_extract_location_ignores_ordinary_words() -> None:
    assert extract_location("활동 이동 운동을 하다가 화면을 봤어요") == ""
    assert extract_location("장현리 123번지 근처예요") == "장현리 123번지"
    assert extract_location("다산동 다산중앙로123번길 20 앞") == "다산동 다산중앙로123번길 20"
    # 읍/면 end many verbs: only real 읍·면 names (or one with a lot number) are places
    assert extract_location("차를 피하면서 가다가 넘어질 뻔했어요 그러면 어떻게 해요") == ""
    assert extract_location("화도읍에서 버스를 기다리는데요") == "화도읍"
    assert extract_location("조안면 쪽 도로가 파였어요") == "조안면"
    assert extract_location("서종면 45번지 앞이에요") == "서종면 45번지"
    assert extract_location("호평동에 사는데 이동하면서 봤어요") == "호평동"


def test_form_routes_on_the_complaint_not_the_small_talk() -> None:
    assist = AgentAssist(None, RuleEmbeddingClassifier(None), TableRouter())
    complaint_only = assist.prefill(["도로에 포트홀이 크게 생겼어요"]).form
    chatty = assist.prefill(["안녕하세요 수고 많으십니다", "도로에 포트홀이 크게 생겼어요",
                             "제 번호는 010 2345 6789 예요", "감사합니다"]).form
    assert chatty["category"] == complaint_only["category"] != "분류 보류"
    assert chatty["team"] == complaint_only["team"]


def test_summary_quotes_the_call_and_names_the_evidence() -> None:
    assist = AgentAssist(None, None, None)
    s = assist.summary(duration_s=61.24, intent="complaint", caller_finals=["가로등이 고장 났어요 010-1234-5678"],
                       agent_turns=2, suggestions=[{"abstained": False, "text": "x", "citations": [
                           {"document": "plan.md", "section": "도로과 > 가로등", "text": "y"}]}],
                       complaint={"id": "NYJ-20261123-0001", "team": "현장기동팀"},
                       form={"team": "현장기동팀"})
    lines = s["text"].split("\n")
    assert 2 <= len(lines) <= 4
    assert "010-1234-5678" not in s["text"] and "[전화번호]" in lines[0]
    assert "민원 접수 (담당 추정: 현장기동팀)" in lines[1]
    assert lines[2] == "안내 근거: plan.md · 도로과 > 가로등"
    assert lines[3] == "민원 접수: NYJ-20261123-0001 (현장기동팀)"
    assert s["duration_s"] == 61.2 and s["caller_turns"] == 1 and s["agent_turns"] == 2
    assert s["complaint_id"] == "NYJ-20261123-0001"
    empty = assist.summary(duration_s=3, intent="question", caller_finals=[], agent_turns=0, suggestions=[],
                           complaint=None, form=None)
    assert empty["text"].split("\n")[0] == "민원인 발화가 인식되지 않았습니다." and empty["complaint_id"] is None
