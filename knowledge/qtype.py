"""What kind of answer a question wants (amount, count, date, place, who) and whether a text has it.

Used by the reranker and by the answer-sentence picker: "얼마예요?" wants money, "몇 개소" a count,
"언제" a date or period. Pure regular expressions, no model.
"""

from __future__ import annotations

import re

AMOUNT, COUNT, PEOPLE, DATE, PLACE, WHO, DEFINE = (
    "amount", "count", "people", "date", "place", "who", "define")

_ASK = {
    AMOUNT: re.compile(r"얼마|예산|비용|사업비|금액|돈|재원|국비|도비|시비|얼만"),
    COUNT: re.compile(r"몇\s*(개|대|곳|군데|종|회|건|번|가지|팀|개소|배|대수)|개수|몇$|수는|규모|용량"),
    PEOPLE: re.compile(r"몇\s*명|인원|직원\s*수|정원|현원|근무\s*인원|몇\s*분"),
    DATE: re.compile(r"언제|기간|일정|날짜|몇\s*월|며칠|시기|시점|개소일|부터|까지|연도|몇\s*년도|시간"),
    PLACE: re.compile(r"어디|위치|주소|장소"),
    WHO: re.compile(r"누구|누가|어느\s*(팀|부서|과)|담당|운영해|소관|어떤\s*팀"),
    DEFINE: re.compile(r"뭐예요|뭔가요|무엇|뭐야|알려|하는\s*일|업무|내용|어떤"),
}

_MONEY = re.compile(r"\d[\d,]*\s*(천원|백만원|만원|억원|억|원)|단위\s*:\s*(천원|백만원|원)")
_COUNTPAT = re.compile(
    r"\d[\d,]*(\.\d+)?\s*(개소|대|명|곳|종|회|건|개|가지|팀|배|TB|GB|MB|L|㎡|%|시간|일|년|개월|차)"
    r"|(계|소계|합계|총계|정원|현원|인원)\s*:\s*\d|단위\s*:\s*(명|개소|대|건)")
_PEOPLEPAT = re.compile(r"\d[\d,]*\s*명|(계|소계|합계|총계|정원|현원|인원)\s*:\s*\d|단위\s*:\s*명")
_DATEPAT = re.compile(r"\d{4}\s*[.년]\s*\d{1,2}|\d{1,2}\s*월|\d{4}년|\d{1,2}시|~\s*\d|\(\d{4}\.\s*\d{1,2}\)")
_PLACEPAT = re.compile(r"[가-힣]+(로|길)\s*\d|[가-힣]+(동|읍|면|구)\b|위치")
_WHOPAT = re.compile(r"[가-힣]+(팀|과|담당관|실|센터)\b")


def question_types(question: str) -> set[str]:
    return {name for name, pat in _ASK.items() if pat.search(question)}


def has_type(text: str, qtype: str) -> bool:
    if qtype == AMOUNT:
        return bool(_MONEY.search(text))
    if qtype == COUNT:
        return bool(_COUNTPAT.search(text))
    if qtype == PEOPLE:
        return bool(_PEOPLEPAT.search(text))
    if qtype == DATE:
        return bool(_DATEPAT.search(text))
    if qtype == PLACE:
        return bool(_PLACEPAT.search(text))
    if qtype == WHO:
        return bool(_WHOPAT.search(text))
    return True


def type_match(question_types_: set[str], text: str) -> float:
    """Fraction of the asked answer types that the text can supply (1.0 when nothing specific)."""
    specific = [t for t in question_types_ if t != DEFINE]
    if not specific:
        return 1.0
    return sum(1.0 for t in specific if has_type(text, t)) / len(specific)


def numbers_in(text: str) -> set[str]:
    """Numbers as digit strings without separators ("1,062" -> "1062"), for fidelity checks."""
    return {m.replace(",", "").lstrip("0") or "0" for m in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}
