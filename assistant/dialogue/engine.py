"""The dialogue engine: one citizen turn in, one reply out, state in a ``SessionStore``.

It classifies the message, keeps multi-turn context (a follow-up such as "그럼 몇 군데 설치해요?"
is answered against the topic of the previous answer), runs slot-filling forms (call-back request
now, complaint intake later) with confirmation, corrections and cancel at any point, and hands off
to a person: during call-center hours it offers the line and a call-back, after hours it records a
call-back with the citizen's consent. Session state is a JSON dict, so any worker can take the
next turn (Redis store) and a turn never depends on process memory.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from knowledge.answer import clean_question, topic_of
from knowledge.errors import BadQueryError
from knowledge.types import Answer, Citation

from ..complaints.store import ComplaintStore, NewComplaint
from ..hours import SEOUL, OfficeHours, describe_next_open
from ..notify import NotifyError, SmsSender
from ..sessions import SessionStore
from ..storage import Database
from .callback import callback_form, mask_phone
from .complaint import complaint_form, status_form
from .forms import FormReply, FormRunner, FormSpec, is_yes
from .intents import IntentClassifier
from .text import msg, quick

if TYPE_CHECKING:
    from ..complaints.routing import Router
    from .tools import LiveTools

log = logging.getLogger(__name__)

_FOLLOWUP = re.compile(r"^(그럼|그러면|그건|그거|그것|거기|그\s|이\s|저\s|또|그리고|아까|그\s*사업|그\s*팀|그\s*중)")
# A question made only of facet words ("사업 기간은요?", "예산은 얼마예요?") is about the previous topic.
_FACETS = re.compile(
    r"사업|기간|예산|사업비|소요|비용|금액|내용|일정|목표|계획|인원|정원|현원|위치|주소|담당|부서|팀|대상|효과|"
    r"언제|얼마|어디|누가|누구|무엇|뭐|몇|어떻게|왜|어느|개|곳|군데|명|대|시간|설치|운영|"
    r"은|는|이|가|을|를|요|에|의|도|만|나요|해요|예요|이에요|인가요|입니까|했|하|돼|되|있|어요|죠|그럼|그러면")
MAX_TURNS = 12


def topicless(text: str) -> bool:
    rest = _FACETS.sub("", re.sub(r"[^가-힣A-Za-z0-9]", "", text))
    return len(rest) < 2


@dataclass(frozen=True, slots=True)
class Reply:
    session_id: str
    message_id: str
    text: str
    intent: str
    abstained: bool = False
    citations: tuple[Citation, ...] = ()
    quick_replies: tuple[str, ...] = ()
    complaint: dict[str, Any] | None = None
    handoff: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class DialogueEngine:
    def __init__(self, answer: Callable[[str, str | None], Answer], classifier: IntentClassifier,
                 sessions: SessionStore, db: Database, hours: OfficeHours | None = None,
                 contact: str = "남양주시 민원콜센터", session_ttl_s: int = 1800,
                 clock: Callable[[], dt.datetime] | None = None, router: Router | None = None,
                 complaints: ComplaintStore | None = None, sms: SmsSender | None = None,
                 tools: LiveTools | None = None) -> None:
        self.answer = answer
        self.tools = tools  # city-system tools (bus, CCTV, budget) for the live_data intent
        self.sms = sms  # receipt numbers by text message for callers on the phone line
        self.classifier = classifier
        self.sessions = sessions
        self.db = db
        self.hours = hours or OfficeHours()
        self.contact = contact
        self.session_ttl_s = session_ttl_s
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.router = router
        self.complaints = complaints
        self.forms: dict[str, FormSpec] = {"callback": callback_form(contact), "complaint": complaint_form(),
                                           "status": status_form()}

    # --- entry point --------------------------------------------------------------------------
    def handle(self, session_id: str | None, message: str, media_id: str | None = None,
               channel: str = "chat") -> Reply:
        sid = session_id if session_id and _valid_sid(session_id) else uuid.uuid4().hex
        state = self.sessions.load(sid) or {"id": sid, "created": time.time(), "turns": []}
        state["channel"] = channel
        mid = uuid.uuid4().hex[:16]
        if media_id and re.fullmatch(r"[0-9a-f]{32}", media_id):
            media = state.setdefault("media", [])
            if media_id not in media:
                media.append(media_id)
            del media[:-3]  # at most three photos per complaint
            if not message.strip():
                # a photo alone does not answer the question pending in a form: acknowledge, re-ask
                form = state.get("form")
                pending = form.get("pending") if form else None
                again = self.forms[form["name"]].slot(pending).prompt if form and pending else ""
                reply = Reply(sid, mid, "\n".join(x for x in (msg("photo_received"), again) if x), "complaint")
                state["updated"] = time.time()
                self.sessions.save(sid, state, self.session_ttl_s)
                return reply
        try:
            text = clean_question(message)
        except BadQueryError as exc:
            return Reply(sid, mid, str(exc), "invalid", abstained=True, quick_replies=quick("start"))
        reply = self._turn(sid, mid, state, text)
        turns: list[dict[str, Any]] = state.setdefault("turns", [])
        turns.append({"role": "user", "text": text[:500], "intent": reply.intent, "ts": time.time()})
        turns.append({"role": "assistant", "id": mid, "text": reply.text[:1000], "ts": time.time()})
        del turns[:-MAX_TURNS]
        state["updated"] = time.time()
        self.sessions.save(sid, state, self.session_ttl_s)
        return reply

    def question_for(self, session_id: str, message_id: str) -> tuple[str, str]:
        """(question, answer) of an assistant message in a session, for feedback records."""
        state = self.sessions.load(session_id) or {}
        turns = state.get("turns", [])
        for i, t in enumerate(turns):
            if t.get("role") == "assistant" and t.get("id") == message_id:
                q = turns[i - 1]["text"] if i > 0 else ""
                return q, t.get("text", "")
        return "", ""

    # --- one turn -----------------------------------------------------------------------------
    def _turn(self, sid: str, mid: str, state: dict[str, Any], text: str) -> Reply:
        intent = self.classifier.classify(text).intent
        if intent == "cancel" or text in ("처음으로",):
            had_form = state.pop("form", None) is not None
            for key in ("pending_offer", "complaint_team", "live_pending"):
                state.pop(key, None)
            return Reply(sid, mid, msg("cancelled" if had_form else "nothing_to_cancel"), "cancel",
                         quick_replies=quick("start"))
        if state.get("form"):
            return self._form_turn(sid, mid, state, text)
        offer = state.pop("pending_offer", None)
        if offer == "callback" and (is_yes(text) or "콜백" in text):
            return self._start_callback(sid, mid, state, reason=state.get("offer_reason", ""))
        if "콜백" in text and intent in ("human", "question"):
            return self._start_callback(sid, mid, state, reason="")
        if state.get("live_pending") and self.tools is not None:
            if intent in ("question", "live_data") and self.tools.is_place_answer(text):
                intent = "live_data"  # the stop or place a tool asked for ("어느 정류소요?" -> "별내역")
            elif intent != "live_data":
                state.pop("live_pending", None)  # the citizen moved on
        handler = {
            "human": self._handoff, "complaint": self._complaint, "complaint_status": self._status,
            "live_data": self._live_data, "greeting": self._canned, "thanks": self._canned,
            "bye": self._canned, "smalltalk": self._canned, "out_of_scope": self._canned,
        }.get(intent, self._question)
        return handler(sid, mid, state, text, intent)

    def _canned(self, sid: str, mid: str, state: dict[str, Any], text: str, intent: str) -> Reply:
        q = quick("start") if intent in ("greeting", "smalltalk", "out_of_scope") else ()
        return Reply(sid, mid, msg(intent), intent, abstained=intent == "out_of_scope", quick_replies=q)

    def _question(self, sid: str, mid: str, state: dict[str, Any], text: str, intent: str) -> Reply:
        topic = state.get("topic")
        followup = bool(topic) and (bool(_FOLLOWUP.match(text)) or topicless(text))
        ans = None if followup else self.answer(text, None)
        used_context = False
        if topic and (ans is None or ans.abstained):
            ctx = self.answer(re.sub(_FOLLOWUP, "", text).strip() or text, topic)
            if not ctx.abstained or ans is None:
                ans, used_context = ctx, not ctx.abstained
        assert ans is not None
        body = ans.answer
        if used_context:
            body = f"{body}\n{msg('followup_hint').format(topic=topic)}"
        if not ans.abstained and ans.citations:
            state["topic"] = topic_of(ans.citations[0].section)
            return Reply(sid, mid, body, "question", citations=ans.citations,
                         quick_replies=quick("after_answer"))
        state["pending_offer"] = "callback"
        state["offer_reason"] = text[:300]
        return Reply(sid, mid, body, "question", abstained=True, quick_replies=quick("after_abstain"))

    def _handoff(self, sid: str, mid: str, state: dict[str, Any], text: str, intent: str) -> Reply:
        now = self.clock()
        last_q = next((t["text"] for t in reversed(state.get("turns", []))
                       if t.get("role") == "user" and t.get("intent") not in ("human", "cancel")), "")
        state["pending_offer"] = "callback"
        state["offer_reason"] = last_q[:300]
        if self.hours.is_open(now):
            return Reply(sid, mid, msg("handoff_open").format(contact=self.contact), "human",
                         quick_replies=quick("handoff_open"), handoff={"office_open": True})
        text_ = msg("handoff_closed").format(next_open=describe_next_open(self.hours, now))
        return Reply(sid, mid, text_, "human", quick_replies=quick("handoff_closed"),
                     handoff={"office_open": False})

    def _complaint(self, sid: str, mid: str, state: dict[str, Any], text: str, intent: str) -> Reply:
        if self.router is None or self.complaints is None:
            # without a complaint store nothing is lost: the report becomes a call-back request
            first = self._start_callback(sid, mid, state, reason=text[:500], first_message=text)
            return Reply(sid, mid, f"{msg('complaint_to_callback')}\n{first.text}", "complaint",
                         quick_replies=first.quick_replies)
        state.pop("complaint_team", None)  # a team chosen by an earlier tool request does not carry over
        generic = re.match(r"^(민원|신고|생활\s*불편)?\s*(접수|넣|하고\s*싶|할게|하려|좀)", text) and len(text) < 25
        prefill = {} if generic else {"what": text[:1000]}
        lead = [msg("complaint_start")]
        if not generic and self.router.route(text).urgent:
            lead.append(msg("complaint_urgent"))
        fr = FormRunner(self.forms["complaint"]).start(state, "" if generic else text, prefill)
        return Reply(sid, mid, "\n".join([*lead, fr.text]), "complaint", quick_replies=fr.quick_replies)

    def _status(self, sid: str, mid: str, state: dict[str, Any], text: str, intent: str) -> Reply:
        if self.complaints is None:
            state["pending_offer"] = "callback"
            state["offer_reason"] = text[:300]
            return Reply(sid, mid, msg("complaint_status_help"), intent, quick_replies=("상담원 연결",))
        fr = FormRunner(self.forms["status"]).start(state, text)
        if fr.done:
            state.pop("form", None)
            return self._finish_status(sid, mid, fr.values)
        return Reply(sid, mid, fr.text, intent, quick_replies=fr.quick_replies)

    def _live_data(self, sid: str, mid: str, state: dict[str, Any], text: str, intent: str) -> Reply:
        if self.tools is None:
            ans = self.answer(text, None)  # budget figures may be in the plan documents
            if not ans.abstained:
                return Reply(sid, mid, ans.answer, "question", citations=ans.citations,
                             quick_replies=quick("after_answer"))
            return Reply(sid, mid, msg("live_data_unavailable").format(contact=self.contact), intent,
                         abstained=True, quick_replies=("상담원 연결",))
        from .tools import tmsg

        kind = self.tools.kind(text, state)
        if kind == "cctv_footage":
            return self._cctv_footage(sid, mid, state, text)
        # the plan documents hold budget figures (소요예산) with citations; the tool adds execution
        doc = self.answer(text, None) if kind in ("budget", "unknown") else None
        if kind == "unknown" and doc is not None and not doc.abstained:
            state.pop("live_pending", None)
            return Reply(sid, mid, doc.answer, "question", citations=doc.citations,
                         quick_replies=quick("after_answer"))
        tr = self.tools.run(kind, text, state)
        extra = {"tool": tr.tool, "source": tr.source.name if tr.source else None,
                 "sample": bool(tr.source and tr.source.sample), **tr.extra}
        if doc is not None and not doc.abstained:
            state["topic"] = topic_of(doc.citations[0].section) if doc.citations else state.get("topic")
            body = f"{tmsg('budget_doc_lead')}\n{doc.answer}\n{tr.text}"
            return Reply(sid, mid, body, "live_data", citations=doc.citations,
                         quick_replies=tr.quick_replies or quick("after_answer"), extra=extra)
        return Reply(sid, mid, tr.text, "live_data", abstained=not tr.ok,
                     quick_replies=tr.quick_replies or ("상담원 연결",), extra=extra)

    def _cctv_footage(self, sid: str, mid: str, state: dict[str, Any], text: str) -> Reply:
        """CCTV footage is never shown: explain the 정보공개 procedure and take the request as a
        complaint for 스마트영상정보팀 (or a call-back when there is no complaint store)."""
        from .tools import tmsg

        lead = tmsg("cctv_footage")
        request = f"CCTV 영상 열람 요청(정보공개): {text}"[:1000]
        if self.router is None or self.complaints is None:
            first = self._start_callback(sid, mid, state, reason=request[:500])
            return Reply(sid, mid, f"{lead}\n{first.text}", "human", quick_replies=first.quick_replies,
                         extra={"tool": "cctv_footage"})
        state["complaint_team"] = {"team": "스마트영상정보팀", "department": "스마트도시과",
                                   "category": "CCTV 영상 열람(정보공개)", "reason": "CCTV 영상 열람 요청"}
        fr = FormRunner(self.forms["complaint"]).start(state, "", {"what": request})
        return Reply(sid, mid, f"{lead}\n{fr.text}", "complaint", quick_replies=fr.quick_replies,
                     extra={"tool": "cctv_footage"})

    # --- forms --------------------------------------------------------------------------------
    def _start_callback(self, sid: str, mid: str, state: dict[str, Any], reason: str,
                        first_message: str = "") -> Reply:
        state["callback_reason"] = reason
        fr = FormRunner(self.forms["callback"]).start(state, first_message)
        return Reply(sid, mid, fr.text, "human", quick_replies=fr.quick_replies)

    def _form_turn(self, sid: str, mid: str, state: dict[str, Any], text: str) -> Reply:
        name = state["form"]["name"]
        intent = {"callback": "human", "complaint": "complaint", "status": "complaint_status"}[name]
        runner = FormRunner(self.forms[name])
        fr: FormReply = runner.handle(state, text)
        if fr.cancelled:
            return Reply(sid, mid, fr.text, intent, quick_replies=quick("start"))
        if not fr.done:
            return Reply(sid, mid, fr.text, intent, quick_replies=fr.quick_replies)
        state.pop("form", None)
        if name == "complaint":
            return self._finish_complaint(sid, mid, state, fr.values)
        if name == "status":
            return self._finish_status(sid, mid, fr.values)
        return self._finish_callback(sid, mid, state, fr.values)

    def _finish_complaint(self, sid: str, mid: str, state: dict[str, Any], values: dict[str, str]) -> Reply:
        assert self.router is not None and self.complaints is not None
        description = values["what"]
        route = self.router.route(f"{description} {values.get('where', '')}")
        forced = state.pop("complaint_team", None)  # set by a tool, e.g. CCTV footage -> 스마트영상정보팀
        if isinstance(forced, dict) and forced.get("team") and not route.urgent:
            route = replace(route, team=forced["team"], department=forced.get("department", route.department),
                            category=forced.get("category", route.category),
                            reason=f"{forced.get('reason', '')} (요청 유형에 따른 지정 배정)".strip())
        phone = values.get("phone", "") if values.get("consent") == "동의" else ""
        kind = "건의" if route.team == "진심소통팀" or re.search(r"제안|건의", description) else "생활불편"
        filed = self.complaints.file(NewComplaint(
            description=description, category=route.category, department=route.department,
            team=route.team, urgent=route.urgent, confidence=route.confidence, route_reason=route.reason,
            kind=kind, address=values.get("where", ""), occurred=values.get("when", ""), phone=phone,
            media_url=" ".join(f"media:{m}" for m in state.pop("media", [])),
            channel=state.get("channel", "chat"), session_id=sid),
            now=self.clock())  # committed before the receipt is shown
        c = filed.complaint
        expected = _korean_datetime(c["expected_at"])
        urgent = msg("complaint_urgent_flag") if c["urgent"] else ""
        if filed.duplicate_of:
            original = self.complaints.get(filed.duplicate_of)
            text = msg("complaint_duplicate").format(original=filed.duplicate_of, team=original["team"],
                                                     id=c["id"], expected=_korean_datetime(original["expected_at"]))
        else:
            key = "complaint_done" if phone else "complaint_done_no_contact"
            text = msg(key).format(id=c["id"], team=c["team"], expected=expected, urgent=urgent)
        info: dict[str, Any] = {"id": c["id"], "status": c["status"], "team": c["team"], "urgent": c["urgent"],
                                "expected_datetime": c["expected_at"].astimezone(SEOUL).isoformat()}
        if filed.duplicate_of:
            info["duplicate_of"] = filed.duplicate_of
        if phone and self.sms is not None and state.get("channel") == "phone":
            # a caller cannot write the receipt number down: send it (phone given with consent)
            try:
                self.sms.send(phone, msg("receipt_sms").format(id=c["id"], team=c["team"], expected=expected))
                text += "\n" + msg("receipt_sms_sent")
                info["receipt_sms"] = True
            except NotifyError as exc:
                log.warning("receipt SMS not sent: %s", type(exc).__name__)
        log.info("complaint filed", extra={"fields": {"complaint_id": c["id"], "team": c["team"],
                                                      "urgent": c["urgent"], "duplicate_of": filed.duplicate_of}})
        return Reply(sid, mid, text, "complaint", quick_replies=("처리 상황 조회", "다른 질문하기"), complaint=info)

    def _finish_status(self, sid: str, mid: str, values: dict[str, str]) -> Reply:
        assert self.complaints is not None
        c = self.complaints.lookup(values.get("receipt", ""), values.get("last4", ""))
        if c is None:
            return Reply(sid, mid, msg("status_not_found"), "complaint_status", quick_replies=("상담원 연결",))
        notes = f"\n처리 내용: {c['status_notes']}" if c.get("status_notes") else ""
        text = msg("status_found").format(id=c["id"], status=c["status"], team=c["team"],
                                          expected=_korean_datetime(c["expected_at"]), notes=notes)
        info = {"id": c["id"], "status": c["status"], "team": c["team"], "urgent": c["urgent"],
                "expected_datetime": c["expected_at"].astimezone(SEOUL).isoformat()}
        return Reply(sid, mid, text, "complaint_status", complaint=info)

    def _finish_callback(self, sid: str, mid: str, state: dict[str, Any], values: dict[str, str]) -> Reply:
        reason = state.pop("callback_reason", "")
        cb_id = self.db.add_callback(sid, values["phone"], values.get("name", ""),
                                     values.get("preferred_time", ""), reason,
                                     channel=state.get("channel", "chat"))  # committed first
        now = self.clock()
        when = (msg("callback_when_open") if self.hours.is_open(now) else
                msg("callback_when_closed").format(next_open=describe_next_open(self.hours, now)))
        text = msg("callback_done").format(id=cb_id, when=when, phone_masked=mask_phone(values["phone"]))
        log.info("callback request stored", extra={"fields": {"callback_id": cb_id}})
        return Reply(sid, mid, text, "human", quick_replies=quick("start"),
                     handoff={"callback_id": cb_id})


def _korean_datetime(value: dt.datetime) -> str:
    t = value.astimezone(SEOUL)
    weekday = "월화수목금토일"[t.weekday()]
    ampm = "오전" if t.hour < 12 else "오후"
    hour = t.hour if t.hour <= 12 else t.hour - 12
    minute = f" {t.minute}분" if t.minute else ""
    return f"{t.month}월 {t.day}일({weekday}) {ampm} {hour}시{minute}"


def _valid_sid(sid: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_-]{1,128}", sid))
