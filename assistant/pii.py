"""Masking of citizens' personal data in logs, transcripts and exports.

``mask_pii(text)`` replaces personal data with fixed Korean tokens, in this order:

- ``[이메일]``: e-mail addresses.
- ``[주민번호]``: resident registration numbers ``900101-1234567``, ``9001011234567``,
  ``900101 1234567``, ``900101-1******`` (also 외국인등록번호). The date part must be a real date
  (the 7th digit gives the century); no checksum is used, since post-2020 numbers have none. Thirteen
  bare digits next to a bank word (and no 주민/외국인 word) are left to the account rule.
- ``[카드번호]``: 4x4 digits separated by ``-`` or spaces, or 16 digits passing the Luhn check.
- ``[전화번호]``: mobile, landline, 070, 050x and 080 numbers with ``-``, ``.``, a space or nothing
  between the groups; ``+82``/``0082`` forms; ``(031)590-1234`` and ``031)590-1234``; a bare
  ``590-1234`` right after 전화/연락처/휴대폰/☎/Tel; and numbers read out in Sino-Korean digits, as a
  call transcript writes them (``공일공 일이삼사 오육칠팔``, ``영일영에 …``).
- ``[계좌번호]``: 10-16 digits in 3+ hyphenated groups anywhere, or 10-16 digits (hyphens or spaces)
  within a few characters of 계좌/은행/통장/입금/이체/송금/환불 or a bank name.
- ``[주소]``: road-name addresses (``별내3로 308``, ``다산중앙로123번길 20``), lot numbers
  (``금곡동 123-45번지``, ``장현리 산12-3``) and flats (``101동 1203호``, ``OO빌라 201호``). The
  place name before them (시/읍/면/동/리) is kept, since routing a complaint needs it.

Full-width digits and punctuation (``０１０－１２３４``) are folded to ASCII first, so the output
of a text that had them carries ASCII forms.

Left alone on purpose: dates (``2026. 1. 6.``, ``2026-11-22``), money and counts (``1,471,858천원``,
``1,062개소``), receipt numbers (``NYJ-20261122-0001``), bus routes (``1-4``, ``8002``, ``M2316``),
times, percentages, and business numbers such as ``1588-1234`` (unless written right after
전화/연락처): they are never a person's own line. Every landline-shaped number is masked, a city
office's published one included, since nothing in the number tells it from a citizen's home phone.
Digits glued to Latin letters, or joined to them by ``-``/``.``, are identifiers and never personal
data; a number followed by a unit (명, 개소, 년, 번 ...) is not a building number.
Names are not detected (no dictionary of Korean names is shipped). The rules are plain regular
expressions (no model, no dependency) and ``mask_pii`` is idempotent.

``PiiMaskingFilter`` applies the same masking to log records (message after ``%`` formatting, the
``fields`` extra and exception text), so any handler can be protected.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

__all__ = [
    "ACCOUNT_TOKEN",
    "ADDRESS_TOKEN",
    "CARD_TOKEN",
    "EMAIL_TOKEN",
    "PHONE_TOKEN",
    "RRN_TOKEN",
    "PiiMaskingFilter",
    "mask_pii",
    "mask_value",
]

RRN_TOKEN = "[주민번호]"
PHONE_TOKEN = "[전화번호]"
ACCOUNT_TOKEN = "[계좌번호]"
EMAIL_TOKEN = "[이메일]"
CARD_TOKEN = "[카드번호]"
ADDRESS_TOKEN = "[주소]"

# A number starts/ends where it is not glued to ASCII letters/digits, nor joined to them by - or .
# (so NYJ-20261122-0001, M2316, v1.2.3 and 2026.11.22 are never split into "numbers").
_S = r"(?<![0-9A-Za-z])(?<![0-9A-Za-z][-.])"
_E = r"(?![0-9A-Za-z])(?![-.][0-9A-Za-z])"
_DASH = "\\-\u2010-\u2015\u2212\ufe63"  # hyphen, Unicode hyphens/dashes, minus sign, small hyphen
_SEP = r"(?:[ \t]?[." + _DASH + r"][ \t]?|[ \t])"  # one separator between digit groups

# Full-width ASCII forms (U+FF01-FF5E) and the ideographic space, folded to ASCII before matching.
_FULLWIDTH = re.compile("[\uff01-\uff5e\u3000]")
_FOLD = {c: (c - 0xFEE0 if c != 0x3000 else 0x20) for c in [*range(0xFF01, 0xFF5F), 0x3000]}

_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![A-Za-z0-9])")

_RRN = re.compile(_S + r"(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2})(?:[ \t]?[" + _DASH + r"][ \t]?|[ \t])?"
                  r"(?P<g>\d)(?:\d{6}|[*xX●○]{6})" + _E)

_CARD_GROUPED = re.compile(_S + r"\d{4}(?P<sep>[ \t]?[" + _DASH + r"][ \t]?|[ \t])[\d*]{4}(?P=sep)[\d*]{4}(?P=sep)\d{4}" + _E)
_CARD_PLAIN = re.compile(_S + r"\d{16}" + _E)

_AREA = r"(?:1[016789]|2|[3-6][1-5]|70|80|50[2-8]?)"  # Korean area/mobile codes without the trunk 0
_PHONE = re.compile(
    r"(?:(?<![0-9A-Za-z+])(?:\+|00)82[ \t-]?(?:\(0\)[ \t]?)?" + _AREA + _SEP + "?"  # +82 10-1234-5678
    r"|(?<![0-9A-Za-z])\(0" + _AREA + r"\)[ \t]?"  # (031)590-1234
    r"|" + _S + "0" + _AREA + r"(?:\)[ \t]?|" + _SEP + "?))"  # 031-590-1234, 031)590-1234, 01012345678
    r"\d{3,4}" + _SEP + r"?\d{4}" + _E
)
_PHONE_CONTEXT = re.compile(
    r"(?P<kw>전화(?:번호)?|연락처|휴대(?:폰|전화)|핸드폰|폰\s?번호|☎|[Tt][Ee][Ll]\.?)(?P<gap>\s*[:：)]?\s*(?:은|는|이|가)?\s*)"
    + _S + r"\d{3,4}" + _SEP + r"\d{4}" + _E
)

# Phone numbers read out in Sino-Korean digits (공/영 = 0, 일 = 1, ... 구 = 9), as transcripts of calls
# write them: a trunk zero, an area/mobile code, then 3-4 and 4 digits, with spaces, hyphens or a
# spoken "에" between the groups. The end must not run into more digit syllables (a particle such as
# 이에요/이고 may follow).
_KD = "[공영일이삼사오육륙칠팔구]"
_KSEP = r"[ \t]*(?:[-.,][ \t]*|에[ \t]*|의[ \t]*)?"
_SPOKEN_PHONE = re.compile(
    r"(?<![가-힣])[공영](?:일[공영일육칠팔구]|이|[삼사오육][일이삼사오]|칠[공영]|[공영]오[공영]?[이삼사오육칠팔]?)"
    + _KSEP + _KD + "{3,4}" + _KSEP + _KD + "{4}"
    r"(?:(?!" + _KD + r")|(?=이(?:에요|예요|고|며|야|다|라|구요|니|요|면|에)))"
)
_RRN_CONTEXT = re.compile(r"주민|외국인|등록번호|생년월일")

_BANK_CONTEXT = re.compile(
    r"계좌|은행|통장|입금|이체|송금|환불|예금주|신한|농협|카카오뱅크|케이뱅크|토스뱅크|새마을금고|우체국|"
    r"(?<![A-Za-z])(?:KB|NH|IBK)(?![a-z])"
)
_ACCOUNT_HYPHEN = re.compile(_S + r"\d+(?:-\d+)+" + _E)
_ACCOUNT_CONTEXT = re.compile(_S + r"\d+(?:[ \t]?-[ \t]?\d+|[ \t]\d+)*" + _E)
_CONTEXT_BEFORE, _CONTEXT_AFTER = 20, 12


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Whole words ending in 로/길/동/리 that are not place names but often precede a number.
_NOT_ROAD = _words(
    "버스로 택시로 지하철로 전철로 열차로 기차로 차로 전화로 문자로 메일로 이메일로 우편으로 팩스로 방문으로 "
    "인터넷으로 홈페이지로 앱으로 카톡으로 현금으로 카드로 계좌로 도로 별도로 새로 주로 서로 스스로 홀로 "
    "그대로 제대로 마음대로 실제로 최초로 절대로 이대로 계획대로 예정대로 순서대로 규정대로 원칙대로 약속대로 "
    "대로 길 외길 갈림길 지름길 산책길 등굣길 퇴근길 출근길 가는길 오는길"
)
_NOT_PLACE = _words(
    "공동 활동 이동 자동 운동 행동 협동 변동 작동 출동 가동 연동 노동 감동 충동 진동 구동 파동 소동 발동 "
    "기동 유동 부동 합동 수동 능동 정리 관리 처리 수리 거리 무리 요리 논리 권리 원리 대리 경리 심리 "
    "총리 유리 소리 머리 자리 다리 우리 오리 꼬리 미리 진리 물리 분리 보리 도리 고리 이리 저리 그리 "
    "마리 비리 조리 섭리 병리 약리 추리 승리"
)
# ... and endings no place name has, so compounds are caught too (도시관리, 민원처리, 봉사활동).
_NOT_PLACE_ENDINGS = tuple(_words(
    "관리 처리 정리 활동 이동 운동 행동 작동 출동 가동 노동 변동 연동 합동 협동 자동 권리 논리 원리 심리 "
    "대리 분리 물리 요리 조리 추리 승리 구동 감동 충동"
))
# What may follow a building/lot number: nothing Korean, or a particle / place word. A unit
# (308명, 12개소, 2026년), a date/time/money continuation or a bus word means it is not one.
_AFTER_NUMBER = (
    r"에|의|으?로|이(?!상|하|내|후|전)|가(?!구)|은|는|을|를|와|과|도|번지|앞|뒤|옆|쪽|부근|근처|일대|주변|"
    r"인근|까지|부터|건너|맞은편|입구|사거리|삼거리|방향|일원"
)
_NUM_END = (
    r"(?![0-9])(?!-\d)(?![.:][ \t]?\d)(?!,\d)(?![%％])(?:(?![가-힣])|(?=" + _AFTER_NUMBER + r"))"
    r"(?![ \t](?:(?:개|명|원|억|만|천|년|월|일|시|분|초|번|건|회|대|곳|차|층|배|주|장|권|점|살|세)(?![가-힣])"
    r"|개소|개월|시간|호선|노선|버스|퍼센트|세대|가구|[%％]|km|㎞|㎡))"
)
_ROAD = re.compile(
    r"(?<![가-힣A-Za-z0-9])(?P<stem>[가-힣][가-힣0-9]{0,14}?)(?<!으)(?P<kind>대로|로|길)"
    r"(?P<sub>[ \t]?\d{1,4}번?[가-힣]?길)?[ \t]?(?:지하[ \t]?)?[1-9]\d{0,3}(?:-[1-9]\d{0,3})?(?:[ \t]?번지)?"
    + _NUM_END
)
_LOT = re.compile(
    r"(?<![가-힣A-Za-z0-9])(?P<stem>[가-힣]{1,6}(?:동|리))[ \t]?(?:산[ \t]?)?"
    r"[1-9]\d{0,3}(?:-[1-9]\d{0,3})?(?P<bunji>[ \t]?번지)?" + _NUM_END
)
_FLAT_UNIT = re.compile(r"(?<![0-9A-Za-z])(?:\d{1,4}|[A-Za-z])[ \t]?동[ \t]?\d{1,5}[ \t]?호(?!선)")  # 101동 1203호
_FLAT_NAMED = re.compile(  # OO빌라 201호, OO아파트 101동, OO아파트 101-1203
    r"(?P<name>아파트|APT|apt|빌라|맨션|오피스텔|빌딩|타워|하이츠|주택|연립|빌)[ \t]?"
    r"(?:\d{1,4}[ \t]?동(?:[ \t]?\d{1,5}[ \t]?호)?|\d{1,5}[ \t]?호|\d{1,4}-\d{1,5})(?![0-9-])(?!선)"
)


def _valid_rrn_date(yy: str, mm: str, dd: str, gender: str) -> bool:
    century = {"1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000,
               "9": 1800, "0": 1800}[gender]
    try:
        date(century + int(yy), int(mm), int(dd))
    except ValueError:
        return False
    return True


def _rrn(m: re.Match[str]) -> str:
    if not _valid_rrn_date(m["yy"], m["mm"], m["dd"], m["g"]):
        return m[0]
    if m[0].isdigit():  # 13 bare digits: an account number when a bank word is near and no RRN word
        around = m.string[max(0, m.start() - _CONTEXT_BEFORE):m.end() + _CONTEXT_AFTER]
        if _BANK_CONTEXT.search(around) and not _RRN_CONTEXT.search(around):
            return m[0]
    return RRN_TOKEN


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card_plain(m: re.Match[str]) -> str:
    return CARD_TOKEN if _luhn(m[0]) else m[0]


def _digit_count(s: str) -> int:
    return sum(ch.isdigit() for ch in s)


def _mask_accounts(text: str) -> str:
    """3+ hyphenated groups of 10-16 digits anywhere; 10-16 digits (hyphens or spaces) near a bank word."""

    def hyphenated(m: re.Match[str]) -> str:
        groups = m[0].split("-")
        return ACCOUNT_TOKEN if len(groups) >= 3 and 10 <= _digit_count(m[0]) <= 16 else m[0]

    masked = _ACCOUNT_HYPHEN.sub(hyphenated, text)

    def near_bank(m: re.Match[str]) -> str:
        if not 10 <= _digit_count(m[0]) <= 16:
            return m[0]
        before = masked[max(0, m.start() - _CONTEXT_BEFORE):m.start()]
        after = masked[m.end():m.end() + _CONTEXT_AFTER]
        return ACCOUNT_TOKEN if _BANK_CONTEXT.search(before + " " + after) else m[0]

    return _ACCOUNT_CONTEXT.sub(near_bank, masked)


def _road(m: re.Match[str]) -> str:
    return m[0] if m["stem"] + m["kind"] in _NOT_ROAD and not m["sub"] else ADDRESS_TOKEN


def _lot(m: re.Match[str]) -> str:
    stem = m["stem"]
    if (stem in _NOT_PLACE or stem.endswith(_NOT_PLACE_ENDINGS)) and not m["bunji"]:
        return m[0]
    # keep the place name (routing needs the 동/리), mask the lot number
    return stem + " " + ADDRESS_TOKEN


def mask_pii(text: str, *, keep_addresses: bool = False) -> str:
    """``text`` with personal data replaced by fixed tokens (see the module docstring).

    ``keep_addresses=True`` masks everything but street addresses: for the location of a problem
    that is published on purpose (the public Open311 feed of requests filed through Open311)."""
    if not text:
        return text
    if _FULLWIDTH.search(text):
        text = text.translate(_FOLD)
    text = _EMAIL.sub(EMAIL_TOKEN, text)
    text = _RRN.sub(_rrn, text)
    text = _CARD_GROUPED.sub(CARD_TOKEN, text)
    text = _CARD_PLAIN.sub(_card_plain, text)
    text = _PHONE.sub(PHONE_TOKEN, text)
    text = _PHONE_CONTEXT.sub(lambda m: m["kw"] + m["gap"] + PHONE_TOKEN, text)
    text = _SPOKEN_PHONE.sub(PHONE_TOKEN, text)
    text = _mask_accounts(text)
    if keep_addresses:
        return text
    text = _FLAT_UNIT.sub(ADDRESS_TOKEN, text)
    text = _FLAT_NAMED.sub(lambda m: m["name"] + " " + ADDRESS_TOKEN, text)
    text = _ROAD.sub(_road, text)
    return _LOT.sub(_lot, text)


def mask_value(value: Any) -> Any:
    """Mask every string inside ``value`` (dicts, lists, tuples); other scalars are returned as is."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_pii(str(value))


class PiiMaskingFilter(logging.Filter):
    """Mask personal data in every record passing through: the formatted message (``msg % args``),
    the ``fields`` extra (``extra={"fields": {...}}``) and the exception/stack text.

    Attach it to a handler (protects everything that handler writes) or to a logger.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format: still never let raw args through
            message = f"{record.msg} {record.args!r}" if record.args else str(record.msg)
        record.msg = mask_pii(message)
        record.args = None
        fields = getattr(record, "fields", None)
        if fields is not None:
            record.fields = mask_value(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pii(record.stack_info)
        return True
