"""Agent assist: from the caller's final transcript segments to what the console shows next to the
transcript — the detected intent, suggested answers with citations, a pre-filled complaint form — and
the call summary at hang-up.

Everything is grounded in the call or the documents, nothing is invented: suggestions are the
knowledge answerer's own replies with their citations (when it abstains the console says that the
documents hold no answer); the form's category/team/department/urgency come from the complaint router,
the location is the place words the caller said, the phone is the one the caller spoke (else the
caller id); the summary quotes the call. Texts shown to agents are PII-masked (``mask_pii``); the clear
phone number travels only in :class:`Prefill.phone` (kept server-side in the call record).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from knowledge.errors import BadQueryError
from knowledge.types import Answer

from ..complaints.routing import Router
from ..dialogue.callback import extract_phone
from ..dialogue.intents import IntentClassifier
from ..pii import mask_pii
from .registry import mask_number

INTENT_LABELS = {
    "question": "정책·사업 문의", "complaint": "민원 접수", "complaint_status": "민원 처리 상황 문의",
    "live_data": "실시간 정보 문의", "human": "상담원 연결 요청", "greeting": "인사", "thanks": "감사 인사",
    "bye": "통화 종료", "smalltalk": "일상 대화", "out_of_scope": "업무 범위 밖", "cancel": "취소",
}
NO_SUGGESTION_INTENTS = frozenset({"greeting", "thanks", "bye", "smalltalk", "cancel"})
# A complaint statement ("가로등이 꺼졌어요") gets the pre-filled form; a suggestion is shown for it only
# when the documents hold an answer (a question asked inside the complaint), never a "no evidence" card.
QUIET_ABSTAIN_INTENTS = frozenset({"complaint", "complaint_status", "live_data", "human"})
MSG_NO_EVIDENCE = "시 업무계획 문서에서 이 질문의 근거를 찾지 못했습니다. 담당 부서에 확인해 안내해 주세요."
MIN_QUERY_CHARS = 6  # Hangul/Latin/digit characters a query needs
CONTEXT_FINALS = 3  # caller finals the intent and the form look at

# Place words: road addresses, 동/읍/면/리 with an optional lot number, and landmarks with 앞/근처 ...
_ROAD = re.compile(r"(?<![가-힣])[가-힣]{1,8}\d{0,3}(?:대로|로|길)\s?\d{1,4}(?:번길\s?\d{1,4})?(?:-\d{1,4})?")
# 읍/면 end many verbs ("하면서", "가면"): only Namyangju's own 읍·면 names, or any 읍/면 followed by a lot
# number; 동 needs the end of the word or a particle after it.
_EUP_MYEON = ("와부읍", "진접읍", "화도읍", "진건읍", "오남읍", "퇴계원읍", "별내면", "수동면", "조안면")
_PARTICLE = r"(?=$|[^가-힣]|에서|에|의|은|는|이|가|을|를|쪽|으로|로|주민센터|행정복지센터|사무소|인데|이요|요)"
_AREA = re.compile(
    r"(?<![가-힣])((?:" + "|".join(_EUP_MYEON) + r")" + _PARTICLE + r"|[가-힣]{1,4}\d?동" + _PARTICLE
    + r"|[가-힣]{1,4}(?:읍|면)(?=\s?\d{1,4}(?:-\d{1,4})?\s?번지))(?:\s?(\d{1,4}(?:-\d{1,4})?)\s?번지)?")
_VILLAGE = re.compile(r"(?<![가-힣])([가-힣]{1,3}리)\s?(\d{1,4}(?:-\d{1,4})?)(?:\s?번지)?")
_LANDMARK = re.compile(
    r"(?<![가-힣])[가-힣A-Za-z0-9]{1,12}(?:역|아파트|사거리|삼거리|오거리|교차로|공원|초등학교|중학교|고등학교|"
    r"시장|정류장|터미널|주민센터|행정복지센터|시청|도서관|체육관|병원|육교|지하차도|주차장|놀이터|마을)"
    r"(?:\s?\d{1,2}번\s?출구)?(?:\s?(?:앞|근처|옆|뒤|입구|건너편|주변))?")
_NOT_AREA = frozenset({"이동", "활동", "행동", "자동", "운동", "작동", "가동", "공동", "변동", "출동", "충동",
                       "감동", "노동", "아동", "동동", "진동", "연동", "거동", "난동", "수동", "부동",
                       "방면", "측면", "전면", "후면", "표면", "화면", "정면", "양면", "지면", "대면", "이면",
                       "장면", "반면", "한면", "그런면"})
_NAME = re.compile(r"(?:제\s?이름은|이름은|성함은|저는)\s?([가-힣]{2,4}?)(?:입니다|이에요|예요|이고|인데|이라고|라고)")


@dataclass(frozen=True, slots=True)
class Prefill:
    form: dict[str, Any]  # the protocol's FORM, phone masked
    phone: str  # the clear contact phone ("" if none)


def intent_label(intent: str) -> str:
    return INTENT_LABELS.get(intent, intent)


def extract_location(text: str) -> str:
    """The place words in ``text`` in the order spoken (at most three, no repeats), or ""."""
    found: list[tuple[int, str]] = []
    for m in _ROAD.finditer(text):
        found.append((m.start(), m.group(0)))
    for m in _AREA.finditer(text):
        if m.group(1) not in _NOT_AREA:
            found.append((m.start(), m.group(0)))
    for m in _VILLAGE.finditer(text):
        found.append((m.start(), m.group(0)))
    for m in _LANDMARK.finditer(text):
        found.append((m.start(), m.group(0)))
    parts: list[str] = []
    for _, words in sorted(found):
        words = " ".join(words.split())
        if any(words in p for p in parts):
            continue
        parts = [p for p in parts if p not in words]
        parts.append(words)
    return " ".join(parts[:3])


def _chars(text: str) -> int:
    return len(re.sub(r"[^가-힣A-Za-z0-9]", "", text))


class AgentAssist:
    """Intent, suggestions, form pre-fill and summary for one call (stateless; the caller keeps state)."""

    def __init__(self, answer: Callable[[str, str | None], Answer] | None, classifier: IntentClassifier | None,
                 router: Router | None) -> None:
        self.answer = answer
        self.classifier = classifier
        self.router = router

    def intent(self, caller_finals: Sequence[str]) -> str:
        """The intent of the latest caller phrase; "question" when no rule or example decides it but an
        earlier phrase (within the last few) was a complaint, the call stays a complaint."""
        if self.classifier is None or not caller_finals:
            return "question"
        latest = self.classifier.classify(caller_finals[-1]).intent
        if latest != "question":
            return latest
        joined = " ".join(caller_finals[-CONTEXT_FINALS:])
        return self.classifier.classify(joined).intent if len(caller_finals) > 1 else latest

    def query(self, caller_finals: Sequence[str]) -> str:
        """What to ask the documents: the latest phrase, with the previous one when it is short."""
        if not caller_finals:
            return ""
        q = caller_finals[-1]
        if _chars(q) < 12 and len(caller_finals) > 1:
            q = f"{caller_finals[-2]} {q}"
        return q if _chars(q) >= MIN_QUERY_CHARS else ""

    def suggest(self, query: str) -> list[dict[str, Any]]:
        """The answerer's reply to ``query`` as suggestion entries (PII-masked), or [] without answerer."""
        if self.answer is None or not query:
            return []
        try:
            a = self.answer(query, None)
        except BadQueryError:
            return []
        if a.abstained or not a.citations:
            return [{"text": MSG_NO_EVIDENCE, "abstained": True, "citations": []}]
        return [{"text": mask_pii(a.answer), "abstained": False,
                 "citations": [{"document": c.document, "section": c.section, "text": c.text}
                               for c in a.citations]}]

    def prefill(self, caller_finals: Sequence[str], caller_id: str = "") -> Prefill:
        """The complaint form from everything the caller said (raw text, in memory only)."""
        joined = " ".join(" ".join(caller_finals).split())
        form: dict[str, Any] = {"category": "", "team": "", "department": "", "urgent": False, "location": "",
                                "description": mask_pii(joined)[:2000], "contact_name": "", "contact_phone": "",
                                "consent": False}
        if self.router is not None and joined.strip():
            try:
                route = self.router.route(self._complaint_text(caller_finals) or joined)
                form.update(category=route.category, team=route.team, department=route.department,
                            urgent=bool(route.urgent))
            except ValueError:
                pass
        form["location"] = extract_location(joined)[:200]
        spoken = ""
        for text in reversed(caller_finals):  # the latest number the caller said wins
            spoken = extract_phone(text) or ""
            if spoken:
                break
        phone = spoken or _caller_phone(caller_id)
        form["contact_phone"] = mask_number(phone)
        name = _NAME.search(joined)
        if name:
            form["contact_name"] = name.group(1)
        return Prefill(form, phone)

    def _complaint_text(self, caller_finals: Sequence[str]) -> str:
        """The caller phrases that state a complaint (with the phrase after each, which often carries the
        place or detail), so greetings, questions and phone numbers do not steer the router."""
        if self.classifier is None:
            return ""
        keep: set[int] = set()
        for i, text in enumerate(caller_finals):
            if self.classifier.classify(text).intent == "complaint":
                keep.update((i, i + 1))
        return " ".join(caller_finals[i] for i in sorted(keep) if i < len(caller_finals))

    def summary(self, *, duration_s: float, intent: str, caller_finals: Sequence[str], agent_turns: int,
                suggestions: Sequence[dict[str, Any]], complaint: dict[str, Any] | None,
                form: dict[str, Any] | None) -> dict[str, Any]:
        """The protocol's summary object: 2-4 Korean lines quoting the call (masked)."""
        lines: list[str] = []
        first = next((t for t in caller_finals if _chars(t) >= MIN_QUERY_CHARS), caller_finals[0] if caller_finals
                     else "")
        if first:
            quote = mask_pii(first)
            lines.append(f"민원인 발화: \u201c{quote[:80]}{'…' if len(quote) > 80 else ''}\u201d")
        else:
            lines.append("민원인 발화가 인식되지 않았습니다.")
        line = f"상담 의도: {intent_label(intent)}"
        if form and form.get("team") and intent == "complaint":
            line += f" (담당 추정: {form['team']})"
        lines.append(line)
        grounded = [s for s in suggestions if not s.get("abstained") and s.get("citations")]
        if grounded:
            c = grounded[-1]["citations"][0]
            lines.append(f"안내 근거: {c['document']} · {c['section']}")
        elif suggestions:
            lines.append("문서에서 근거를 찾지 못한 문의가 있었습니다.")
        if complaint:
            lines.append(f"민원 접수: {complaint['id']} ({complaint.get('team', '')})")
        return {"duration_s": round(duration_s, 1), "intent": intent, "text": "\n".join(lines[:4]),
                "caller_turns": len(caller_finals), "agent_turns": agent_turns,
                "complaint_id": complaint["id"] if complaint else None}


def _caller_phone(caller_id: str) -> str:
    digits = re.sub(r"\D", "", caller_id or "")
    if digits.startswith("82"):
        digits = "0" + digits[2:]
    return extract_phone(digits) or "" if len(digits) >= 9 else ""
