"""What kind of answer a question wants, and whether a text line can supply it.

"얼마예요?" wants an amount, "몇 개소" a count, "몇 명" a head count, "언제" a date or period,
"전화번호" a phone number, "무슨 요일" a weekday, "누가 할 수 있어요" an eligibility ("대상").
The answerer uses this twice: to rank candidate lines, and to refuse to answer when no retrieved line
holds the kind of fact asked for (the documents mention the topic but not, say, its phone number).
Pure regular expressions, no model.
"""

from __future__ import annotations

import re

AMOUNT, COUNT, PEOPLE, DATE, PLACE, WHO, DEFINE = (
    "amount", "count", "people", "date", "place", "who", "define")
PHONE, WEEKDAY, TARGET = "phone", "weekday", "target"

# Kinds of answer that a line must literally contain for the question to count as answered.
REQUIRED = frozenset({AMOUNT, COUNT, PEOPLE, DATE, PLACE, PHONE, WEEKDAY, TARGET})

_ASK = {
    AMOUNT: re.compile(
        r"얼마(?!나\s*(걸|줄|늘|단축|빨|크|많|오래|자주|넓|길|높|되는\s*시간))|얼만|금액|비용|총액|액수"
        r"|몇\s*(원|억|만\s*원)|사업비|소요\s*예산|예산\s*(은|이|액|규모|총액)?\s*(\?|$)|무슨\s*돈|어디\s*돈"),
    COUNT: re.compile(r"몇\s*(개|대|곳|군데|종|회|건|번|가지|개소|배|대수|시간|테라|tb|일|장|매|권|차례)|개수|몇$|수는|규모|용량"
                      r"|며칠|얼마나\s*(걸|줄|늘|단축|빨|크|많|오래|자주|넓|길|높)"),
    PEOPLE: re.compile(r"몇\s*명|인원|직원\s*수|정원|현원|근무\s*인원|몇\s*분이"),
    DATE: re.compile(r"언제|기간|일정|날짜|몇\s*월|시기|시점|개소일|연도|몇\s*년도|몇\s*시|기한"),
    PLACE: re.compile(r"어디(서|에서)?\s*(해|하|받|신청|가|있|접수|발급)|어디야|어디예요|어디에요|위치|주소|장소"
                      r"|어느\s*(교차로|동네|지역|곳|장소)|신청\s*(방법|하려면|은\s*어떻게)"),
    PHONE: re.compile(r"전화\s*번호|연락처|번호\s*(좀|알려|가)|팩스|이메일|메일\s*주소"),
    WEEKDAY: re.compile(r"요일"),
    TARGET: re.compile(r"누가\s*(할|받|신청|참여|참가|이용|지원)|대상|자격|누구나|누구\s*(를|에게)"),
    WHO: re.compile(r"누구|누가|어느\s*(팀|부서|과)|담당|운영해|소관|어떤\s*팀|이름"),
    DEFINE: re.compile(r"뭐예요|뭔가요|무엇|뭐야|알려|하는\s*일|업무|내용|어떤"),
}

_MONEY = re.compile(r"\d[\d,]*\s*(천원|백만원|만원|억원|억|원)|단위\s*:\s*(천원|백만원|원)")
_COUNTPAT = re.compile(
    r"\d[\d,]*(\.\d+)?\s*(개소|대|명|곳|종|회|건|개|가지|팀|배|TB|GB|MB|L|㎡|%|시간|일|년|개월|차|장|매|권)"
    r"|(계|소계|합계|총계|정원|현원|인원)\s*:\s*\d|단위\s*:\s*(명|개소|대|건)|:\s*\d[\d,]*\b")
_PEOPLEPAT = re.compile(r"\d[\d,]*\s*(명|자녀|인\b)|(계|소계|합계|총계|정원|현원|인원)\s*:\s*\d|단위\s*:\s*명")
_DATEPAT = re.compile(
    r"\d{4}\s*[.년]\s*\d{1,2}|\d{1,2}\s*월|\d{4}\s*년|\d{1,2}\s*시|~\s*\d|\(\d{4}\.\s*\d{1,2}\)"
    r"|\d{2,4}\.\s*\d{1,2}\.\s*\d{1,2}|상반기|하반기|분기|매월|매년|연\s*\d+회")
_PLACEPAT = re.compile(
    r"[가-힣]+\d*(로|길)\s*\d+(?![\d,]*\s*(개|대|곳|명|%))|[가-힣]+(동|읍|면)\s|위\s*치\s*:|주소\s*:|소재지"
    r"|홈페이지|누리집"
    r"|(행정복지|주민)센터|시청|구청|사무소|\d+\s*층|접수처")
_PHONEPAT = re.compile(r"\d{2,4}\s*-\s*\d{3,4}\s*-\s*\d{4}|\b1\d{2,3}-\d{4}\b|@[\w.-]+\.\w+")
_WEEKDAYPAT = re.compile(r"[월화수목금토일](요일)|매주|평일|주말")
_TARGETPAT = re.compile(r"대상|자격|누구나|[가-힣]+(생|자|인|가정|청년|주민|시민)\b")
_WHOPAT = re.compile(r"[가-힣]+(팀|과|담당관|실|센터|장)\b")

_HAS = {AMOUNT: _MONEY, COUNT: _COUNTPAT, PEOPLE: _PEOPLEPAT, DATE: _DATEPAT, PLACE: _PLACEPAT,
        PHONE: _PHONEPAT, WEEKDAY: _WEEKDAYPAT, TARGET: _TARGETPAT, WHO: _WHOPAT}


def question_types(question: str) -> set[str]:
    kinds = {name for name, pat in _ASK.items() if pat.search(question)}
    if PEOPLE in kinds:
        kinds.discard(COUNT)
    if PHONE in kinds or WEEKDAY in kinds:
        kinds -= {COUNT, DATE}
    if TARGET in kinds:
        kinds.discard(WHO)
    return kinds


def has_type(text: str, qtype: str) -> bool:
    pat = _HAS.get(qtype)
    return bool(pat.search(text)) if pat is not None else True


def type_match(question_types_: set[str], text: str) -> float:
    """Fraction of the asked answer types that the text can supply (1.0 when nothing specific)."""
    specific = [t for t in question_types_ if t != DEFINE]
    if not specific:
        return 1.0
    return sum(1.0 for t in specific if has_type(text, t)) / len(specific)


def required_types(question_types_: set[str]) -> set[str]:
    return {t for t in question_types_ if t in REQUIRED}


def numbers_in(text: str) -> set[str]:
    """Numbers as digit strings without separators ("1,062" -> "1062"), for fidelity checks."""
    return {m.replace(",", "").lstrip("0") or "0" for m in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}
