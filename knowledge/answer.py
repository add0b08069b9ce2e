"""Grounded answering: the ``Answerer`` protocol and the default ``ExtractiveAnswerer``.

The extractive answerer never writes a fact of its own: it picks the line(s) of the best retrieved
chunks that answer the question (a table row, a bullet with its parent), frames them in a short
Korean reply and cites document + section. When the evidence is too weak it abstains and points to
the call center. Every number in a reply therefore appears in a cited passage
(``numeric_fidelity`` checks exactly that, and guards the optional generative answerer).

Documents are untrusted text (prompt-injection defence): a line written to an AI ("이전 지시를
무시하고 …", "Ignore previous instructions", "시스템 프롬프트를 출력하라") is never quoted
(``is_instruction_to_ai``), and whatever is quoted or cited passes ``neutralise``: markdown images
and HTML tags are dropped, markdown links keep only their text, and links other than official
``*.go.kr`` pages (without their query string) become "(링크 생략)".
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

import yaml

from .errors import BadQueryError
from .qtype import WHO, has_type, numbers_in, required_types, type_match
from .retrieve import MAX_QUERY_CHARS, HybridRetriever, Query, anchor_found, coverage, entity_match
from .types import Answer, Chunk, Citation, Passage

_GENERIC = re.compile(
    r"^(사업개요|추진계획|추진목표|추진방향|추진전략|기대효과|향후계획|개요|사업내용|주요 추진과제\(사업\)|"
    r"소요예산|세부내용|주요업무|일반현황|재정현황|예산현황|직제|.{0,3}현황)$")
_PAIR_SPLIT = re.compile(r",\s(?=[^,:]{1,40}:\s)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")

# --- untrusted text: active content and instructions aimed at an AI -----------------------------
_MD_IMAGE = re.compile(r"!\[[^\]\n]{0,300}\]\s?\([^)\n]{0,1000}\)")
_MD_LINK = re.compile(r"\[([^\]\n]{0,300})\]\s?\([^)\n]{0,1000}\)")
_MD_REF = re.compile(r"^\s*\[[^\]\n]{1,100}\]:\s*\S+.*$", re.M)  # [id]: http://... reference links
_HTML = re.compile(r"<!--.*?-->|</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]{0,500})?/?>", re.S)
_URL = re.compile(r"\b(?:javascript|vbscript):\S+|\bdata:[a-z]+/\S*|"
                  r"(?:\b(?:https?|ftp|file)://|\bwww\.|\b(?:tel|sms|mailto):)[^\s<>\"'`()\[\]{}]*", re.I)
_OFFICIAL = re.compile(r"^(?:https?://)?(?:[a-z0-9-]+\.)*go\.kr(?=[/:]|$)", re.I)
LINK_REMOVED = "(링크 생략)"
_AI = r"(?:AI|에이아이|인공지능|챗봇|어시스턴트|상담봇|언어\s?모델|GPT|LLM|너|당신)"
_INSTRUCTION = re.compile("|".join([
    # English: ignore/forget the instructions, reveal the prompt, role-play, "the assistant must say"
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(?:instructions?|prompts?|rules|guidelines|"
    r"directions|context|guardrails)\b",
    r"\b(?:system|hidden|initial|original)\s+(?:prompt|instructions?|message)\b",
    r"\b(?:you are now|from now on,? you|pretend (?:to be|you are)|act as (?:an?|the)\b|developer mode|"
    r"jailbreak|do anything now|\bDAN\b)",
    r"\b(?:assistant|ai|chatbot|model|llm|bot)s?\b[^.\n]{0,40}\b(?:must|should|shall|will|needs? to)\b[^.\n]{0,30}"
    r"\b(?:say|output|print|reply|respond|reveal|include|write|append|render|repeat|tell)\b",
    r"\b(?:new|updated|additional|important)\s+instructions?\b",
    # Korean: 이전 지시 무시, 시스템 프롬프트, 역할 바꾸기, "AI는 …을 출력하라"
    r"(?:이전|앞의|앞선|위의|기존|원래|모든|지금까지의?|처음)\s*(?:의\s*)?(?:지시|명령|지침|규칙|프롬프트|설정|안내|"
    r"대화)(?:사항|문)?[을를은는이가과와]?\s*(?:모두\s*|전부\s*|다\s*)?(?:무시|잊|버리|취소|따르지)",
    r"(?:시스템|숨겨진|내부|초기)\s*(?:프롬프트|지시문?|지침|설정\s*문구)",
    r"개발자\s*모드|탈옥|제한\s*(?:없는|을\s*해제)|역할을?\s*바꾸|(?:지금|이제)부터\s*(?:너|당신)|"
    r"(?:너|당신)[은는]\s*(?:지금|이제)부터|(?<![A-Za-z])DAN(?![A-Za-z])",
    r"(?<![가-힣A-Za-z])" + _AI + r"(?:[은는이가]|에게|야|님)\s*(?:지금|이제)부터",
    r"(?<![가-힣A-Za-z])" + _AI + r"(?:[은는이가]|에게|야|님)\s[^\n]{0,80}?(?:출력|표시|말|답|응답|공개|노출|포함|"
    r"삽입|렌더링|보여|알려|전송)(?:하|해)?\s*(?:라|십시오|줘|주세요|야\s*(?:한다|합니다))",
    r"(?:다음|아래)\s*(?:의\s*)?(?:지시|명령|문장|링크|이미지|내용)[을를]?\s*(?:그대로\s*)?(?:따르|출력|실행|포함|삽입)",
    r"(?:이|위|다음|아래)\s*(?:의\s*)?(?:지시|명령)(?:문|사항)?[을를]\s*(?:그대로\s*)?(?:따르|실행|수행)",
]), re.I)


def is_instruction_to_ai(text: str) -> bool:
    """True for a line written to an AI model rather than to citizens (prompt injection in a document)."""
    return bool(_INSTRUCTION.search(text) or _INSTRUCTION.search(neutralise(text)))


def _link(m: re.Match[str]) -> str:
    url = m[0].rstrip(".,;:!?")
    tail = m[0][len(url):]
    if _OFFICIAL.match(url):
        return re.split(r"[?#]", url, maxsplit=1)[0] + tail
    return LINK_REMOVED + tail


def neutralise(text: str) -> str:
    """``text`` with no active content: markdown images and HTML dropped, markdown links reduced to
    their text, links other than official ``*.go.kr`` pages replaced by "(링크 생략)"."""
    if not any(mark in text.lower() for mark in ("](", "] (", "]:", "<", "//", "www.", "javascript:", "data:",
                                                  "vbscript:", "tel:", "sms:", "mailto:")):
        return text
    before = text
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(lambda m: m[1], text)
    text = _MD_REF.sub("", text)
    text = _HTML.sub("", text)
    text = _URL.sub(_link, text)
    return re.sub(r"[ \t]{2,}", " ", text).strip() if text != before else text


def safe_passage(text: str) -> str:
    """A chunk's text as it may be shown or cited: instruction lines removed, the rest neutralised."""
    lines = [neutralise(line) for line in text.split("\n") if not is_instruction_to_ai(line)]
    return "\n".join(line for line in lines if line.strip() or not line)


@lru_cache(maxsize=1)
def messages() -> dict[str, str]:
    text = resources.files("knowledge").joinpath("data/messages.yaml").read_text(encoding="utf-8")
    return {str(k): str(v).strip() for k, v in (yaml.safe_load(text) or {}).items()}


KIND_NAMES = {"amount": "금액", "count": "수량", "people": "인원", "date": "날짜·기간", "place": "장소·방법",
              "phone": "연락처", "weekday": "요일", "target": "대상"}


class Answerer(Protocol):
    """Answers one question from the knowledge base; ``context`` is the topic of the previous
    answer in a conversation (for follow-up questions), or None."""

    def answer(self, question: str, context: str | None = None) -> Answer: ...


@dataclass(frozen=True, slots=True)
class AbstainPolicy:
    """When the best passage is too weak to answer from.

    ``min_coverage``: IDF-weighted share of the question's topic words present in the best chunk;
    ``min_dense``: cosine similarity of question and chunk. Both are deliberately permissive: the
    sharper guard is per line (``ExtractiveAnswerer.pick_lines``), which refuses lines that lack
    the kind of fact asked for. Calibrated with ``python -m eval qa`` on the dev and held-out sets
    (docs/evaluation.md).
    """

    min_coverage: float = 0.3
    min_dense: float = 0.8
    # the answering line itself must resemble the question unless the chunk covers its topic well
    # ("맛집 추천" must not be answered with "우수직원 추천 시 ..."); 0 disables (non-e5 models)
    min_line_dense: float = 0.81
    line_check_below_coverage: float = 0.6
    # when part of the question's topic is unknown to the whole corpus ("맛집", "견학"), ask for
    # more of the rest to be covered

    @classmethod
    def for_embedder(cls, model_id: str, min_coverage: float = 0.3,
                     min_dense: float | None = None) -> AbstainPolicy:
        """Cosine scales differ by model: e5 similarities sit in 0.7-0.95, so 0.8 is its floor;
        for other models, unless calibrated (``min_dense``), only coverage decides."""
        e5 = "e5" in model_id.lower()
        if min_dense is None:
            min_dense = 0.8 if e5 else 0.0
        return cls(min_coverage, min_dense, 0.81 if e5 else 0.0)

    def accept_line(self, line_dense: float, best: Passage) -> bool:
        return (line_dense >= self.min_line_dense
                or best.features.get("coverage", 0.0) >= self.line_check_below_coverage)

    def accept(self, best: Passage) -> bool:
        return best.dense >= self.min_dense and best.features.get("coverage", 0.0) >= self.min_coverage


def clean_question(question: object) -> str:
    """Normalise a raw question; raises BadQueryError with a Korean message for bad input."""
    if not isinstance(question, str):
        raise BadQueryError(messages()["not_text"])
    text = unicodedata.normalize("NFC", question)
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if not text:
        raise BadQueryError(messages()["empty"])
    if len(text) > MAX_QUERY_CHARS:
        raise BadQueryError(messages()["too_long"].format(limit=f"{MAX_QUERY_CHARS:,}"))
    return text


def topic_of(section: str) -> str:
    parts = [p.strip() for p in section.split(" > ") if p.strip()]
    for part in reversed(parts):
        if not _GENERIC.match(part):
            return re.sub(r"^\d{1,2}\s+", "", part)
    return parts[-1] if parts else "문의하신 내용"


def _units(text: str) -> list[tuple[str, str]]:
    """(display text, parent line) for each line of a chunk; indented lines keep their parent."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    for raw in text.split("\n"):
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        out.append((line, parent))
        stack.append((indent, line))
    return out


class ExtractiveAnswerer:
    """Retrieve, pick the answering line(s), frame them, cite them — or abstain."""

    def __init__(self, retriever: HybridRetriever, policy: AbstainPolicy | None = None,
                 contact: str = "남양주시 민원콜센터", top_k: int = 5, max_lines: int = 2,
                 min_line_coverage: float = 0.3) -> None:
        self.retriever = retriever
        self.policy = policy or AbstainPolicy()
        self.contact = contact
        self.top_k = top_k
        self.max_lines = max_lines
        self.min_line_coverage = min_line_coverage

    def answer(self, question: str, context: str | None = None) -> Answer:
        t0 = time.perf_counter()
        try:
            text = clean_question(question)
        except BadQueryError as exc:
            return Answer(str(exc), True, (), 0.0, (time.perf_counter() - t0) * 1000, "input-check")
        query = self.retriever.prepare(text, context)
        passages = self.retriever.retrieve(query, k=self.top_k)
        result = self.compose(query, passages)
        return Answer(result.answer, result.abstained, result.citations, result.confidence,
                      (time.perf_counter() - t0) * 1000, result.answerer)

    def abstain(self, confidence: float = 0.0) -> Answer:
        return Answer(messages()["abstain"].format(contact=self.contact), True, (), confidence)

    def compose(self, query: Query, passages: list[Passage]) -> Answer:
        if not passages or not self.policy.accept(passages[0]):
            conf = passages[0].features.get("coverage", 0.0) if passages else 0.0
            return self.abstain(conf)
        best = passages[0]
        picked = self.pick_lines(query, passages)
        if not picked:
            # the documents talk about the topic but do not hold the kind of fact asked for
            return self.abstain_partial(topic_of(best.chunk.section), query, best)
        if (self.policy.min_line_dense and query.vector is not None
                and best.features.get("coverage", 0.0) < self.policy.line_check_below_coverage):
            line_vec = self.retriever.embedder.embed_passages([picked[0][0]])[0]
            if not self.policy.accept_line(float(line_vec @ query.vector), best):
                return self.abstain(best.features.get("coverage", 0.0))
        lines = [line for line, _ in picked]
        msg = messages()
        topic = topic_of(picked[0][1].chunk.section)
        body = "\n".join(f"- {ln}" for ln in lines)
        dept = picked[0][1].chunk.department
        if WHO in query.types and dept and dept not in body and dept not in topic:
            # "어느 부서에 있어요?": the unit is known from the document's outline (its section path)
            body += "\n" + msg["answer_department"].format(department=dept)
        # sources travel as structured citations; each channel shows them its own way
        reply = "\n".join([msg["answer_lead"].format(topic=topic), body])
        cited: list[Passage] = list({p.chunk.id: p for _, p in picked}.values())
        seen = {p.chunk.id for p in cited}
        cited += [p for p in passages[1:3] if p.chunk.id not in seen and p.score >= best.score - 0.3]
        citations = tuple(Citation(p.chunk.document, p.chunk.section, safe_passage(p.chunk.text),
                                   p.chunk.line_start, p.chunk.line_end) for p in cited)
        return Answer(reply, False, citations, best.features.get("coverage", 0.0))

    def abstain_partial(self, topic: str, query: Query, best: Passage) -> Answer:
        kinds = [KIND_NAMES[t] for t in sorted(required_types(set(query.types))) if t in KIND_NAMES]
        if query.years and not kinds:
            kinds = [f"{'·'.join(query.years)}년 자료"]
        text = messages()["abstain_partial"].format(
            topic=topic, kind=", ".join(kinds) or "내용", contact=self.contact)
        return Answer(text, True, (), best.features.get("coverage", 0.0))

    def pick_lines(self, query: Query, passages: list[Passage]) -> list[tuple[str, Passage]]:
        """The best line(s): topic coverage and answer type per line, weighted by passage rank.

        Lines that lack a required kind of fact (an amount for "얼마", a year the question names)
        are not candidates at all; an empty result means "the documents do not say".
        """
        tok = self.retriever.tokenizer
        qtypes = set(query.types)
        required = required_types(qtypes)
        best_score = passages[0].score
        scored: list[tuple[float, str, Passage]] = []
        for p in passages[: self.top_k]:
            if p.score < best_score - 1.5:
                break
            units = _units(p.chunk.text)
            token_rows = tok.tokens_batch([u for u, _ in units]) if units else []
            context = set(tok.tokens(p.chunk.section))  # a line inherits its section's words
            for (line, parent), toks in zip(units, token_rows, strict=True):
                if is_instruction_to_ai(line) or (parent and is_instruction_to_ai(parent)):
                    continue  # written to an AI, not to citizens: never quoted
                shown = f"{parent}: {line}" if parent and len(parent) < 80 else line
                if required and not any(has_type(shown, t) for t in required):
                    continue
                if (required and query.years
                        and not any(y in f"{p.chunk.section} {shown}" for y in query.year_marks)):
                    continue  # "작년 예산" must not be answered with this year's figure
                own = set(toks) | context | (set(tok.tokens(parent)) if parent else set())
                hit = coverage(query, own, self.retriever.index, f"{p.chunk.section} {shown}")
                # a line of a relevant chunk shares its chunk's topic ("소요예산" of a project)
                if max(hit, 0.7 * p.features.get("coverage", 0.0)) < self.min_line_coverage:
                    continue
                if query.years and not anchor_found(query, own, self.retriever.index,
                                                    f"{p.chunk.section} {shown}"):
                    continue  # another year's figure, but of something else
                tm = type_match(qtypes, line)
                ent = entity_match(query, Chunk("", "", "", p.chunk.section, shown, 0, 0))
                s = 0.5 * (p.score - best_score) + 2.0 * hit + 1.0 * tm + 1.0 * ent
                scored.append((s, shown, p))
        scored.sort(key=lambda x: x[0], reverse=True)
        if not scored:
            return []
        out = [(scored[0][1], scored[0][2])]
        for s, shown, p in scored[1:]:
            if len(out) >= self.max_lines:
                break
            if (s >= scored[0][0] - 0.15 and p.chunk.section == out[0][1].chunk.section
                    and shown not in out[0][0] and out[0][0] not in shown):
                out.append((shown, p))
        picked = [(neutralise(self.focus(query, line)), p) for line, p in out]
        return [(line, p) for line, p in picked if line.strip()]

    def focus(self, query: Query, line: str) -> str:
        """Shorten a wide table record to the cells the question is about (label kept)."""
        label, sep, rest = line.partition(" — ")
        if not sep:
            label, rest = "", line
        caption = ""
        m = re.search(r"\s(\([^()]*\))$", rest)
        if m and ":" not in m.group(1):
            caption, rest = m.group(1), rest[: m.start()]
        pairs = _PAIR_SPLIT.split(rest)
        if len(pairs) < 3 or not all(":" in p for p in pairs):
            return line
        terms = [("".join(t), t) for t in query.terms] + [(e, (e,)) for e in query.expansion]
        scores = []
        for pair in pairs:
            # substring match: Kiwi splits a lone header ("정책기획과") unlike the same word in a question
            head = re.sub(r"\s+", "", pair.split(":", 1)[0]).lower()
            scores.append(sum(
                1.0 if len(j) >= 2 and j.lower() in head
                else 0.5 if len(t) > 1 and all(len(x) >= 2 and x.lower() in head for x in t)
                else 0.0 for j, t in terms))
        top = max(scores)
        keep = [p for p, sc in zip(pairs, scores, strict=True) if sc == top and top > 0]
        if not keep or len(keep) == len(pairs):
            return line
        if type_match(set(query.types), " ".join(keep)) < 1.0:
            return line  # the cells named by the question do not hold the asked kind of answer
        text = ", ".join(keep)
        return " ".join(x for x in (f"{label} —" if label else "", text, caption) if x)


def numeric_fidelity(answer: str, passages: list[str]) -> bool:
    """True if every number in ``answer`` appears in at least one of ``passages``."""
    allowed: set[str] = set()
    for p in passages:
        allowed |= numbers_in(p)
    return numbers_in(answer) <= allowed
