"""Korean text -> text a speech synthesiser reads well (espeak-ng, Coqui, Twilio ``<Say language="ko-KR">``).

Owns: number reading (Sino-Korean ``2026`` -> 이천이십육, native with counters ``5명`` -> 다섯 명), money as
written in city documents (``1,471,858천원`` -> 십사억 칠천백팔십오만 팔천 원, optionally "약 …"), dates
(``2026. 1. 6.`` -> 이천이십육년 일월 육일; 6월 -> 유월, 10월 -> 시월), clock times on the 24-hour clock
(``18시~익일9시`` -> 오후 여섯 시부터 다음 날 오전 아홉 시까지), phone and receipt numbers read digit by
digit, ranges ``A~B`` -> A부터 B까지, percent, decimals, acronyms, and the removal of markdown, bullets and
parentheses. Long inputs are cut at a sentence boundary.

Decisions: a bare ``N시`` is read on the 24-hour clock (city documents write 18시, not 오후 6시);
``N대`` is Sino-Korean ("3대 과제" -> 삼대 과제) when it starts a phrase and a noun follows, otherwise a
counter ("차량 3대" -> 세 대); 0 in phone and receipt numbers is 공, elsewhere 영.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["format_won", "native_korean", "read_digits", "read_won", "sino_korean", "to_speech",
           "truncate_at_sentence"]

DEFAULT_MAX_CHARS = 500  # ~1.5 minutes of espeak-ng speech at rate 160

# ---- numbers ------------------------------------------------------------------------------------
_DIGITS = "영일이삼사오육칠팔구"
_BIG_UNITS = ["", "만", "억", "조", "경"]
_NATIVE_ONES = ["", "하나", "둘", "셋", "넷", "다섯", "여섯", "일곱", "여덟", "아홉"]
_NATIVE_ONES_ATTR = ["", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉"]
_NATIVE_TENS = ["", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔"]
_MONTHS = ["", "일", "이", "삼", "사", "오", "유", "칠", "팔", "구", "시", "십일", "십이"]
_LETTERS = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                    ["에이", "비", "씨", "디", "이", "에프", "지", "에이치", "아이", "제이", "케이", "엘", "엠",
                     "엔", "오", "피", "큐", "알", "에스", "티", "유", "브이", "더블유", "엑스", "와이", "제트"],
                    strict=True))


def _sino_group(n: int) -> str:
    """1..9999 in Sino-Korean; a leading 1 before 천/백/십 is silent (천, 백, 십)."""
    out = []
    for value, unit in ((1000, "천"), (100, "백"), (10, "십"), (1, "")):
        d = n // value % 10
        if d:
            out.append(unit if d == 1 and unit else _DIGITS[d] + unit)
    return "".join(out)


def sino_korean(n: int) -> str:
    """Sino-Korean reading, spaced by 만-groups: 1062 -> 천육십이, 1471858000 -> 십사억 칠천백팔십오만 팔천."""
    if n < 0:
        return "마이너스 " + sino_korean(-n)
    if n == 0:
        return "영"
    if n >= 10 ** 20:
        return read_digits(str(n), zero="영")
    groups: list[str] = []
    rest, i = n, 0
    while rest:
        rest, g = divmod(rest, 10000)
        if g:
            word = "" if (i == 1 and g == 1 and n < 10 ** 8) else _sino_group(g)  # 만 원, not 일만 원
            groups.append(word + _BIG_UNITS[i])
        i += 1
    return " ".join(reversed(groups))


def native_korean(n: int, attributive: bool = True) -> str:
    """Native Korean for 1..99 (한/두/세 … 스무 before a counter, 하나/둘/셋 … 스물 alone); else Sino."""
    if not 1 <= n <= 99:
        return sino_korean(n)
    tens, ones = divmod(n, 10)
    if attributive and n == 20:
        return "스무"
    return _NATIVE_TENS[tens] + (_NATIVE_ONES_ATTR if attributive else _NATIVE_ONES)[ones]


def read_digits(s: str, zero: str = "공") -> str:
    """Digits one by one: "010" -> 공일공 (other characters are dropped)."""
    return "".join(zero if c == "0" else _DIGITS[int(c)] for c in s if c.isdigit())


def _decimal(text: str) -> str:
    whole, _, frac = text.replace(",", "").partition(".")
    head = sino_korean(int(whole or "0"))
    return f"{head} 점 {read_digits(frac, zero='영')}" if frac else head


def _integer(text: str) -> str:
    digits = text.replace(",", "")
    if len(digits) > 1 and digits.startswith("0"):  # a code such as 0001
        return " ".join(read_digits(digits, zero="영"))
    return sino_korean(int(digits))


# ---- money --------------------------------------------------------------------------------------
_MONEY_UNITS = {"": 1, "천": 1000, "만": 10 ** 4, "십만": 10 ** 5, "백만": 10 ** 6, "천만": 10 ** 7,
                "억": 10 ** 8, "십억": 10 ** 9, "백억": 10 ** 10, "천억": 10 ** 11, "조": 10 ** 12}


def _round_won(won: int) -> int:
    """Keep the top 만-group and the leading digit of the next one: 1,471,858,000 -> 1,470,000,000."""
    if won < 10 ** 4:
        return won
    k = (len(str(won)) - 1) // 4  # index of the top 만-group
    unit = int(10 ** (4 * k - 1))
    return (won + unit // 2) // unit * unit


def format_won(won: int, approximate: bool = False) -> str:
    """Written amount as in city documents: 1471858000 -> "14억 7,185만 8천 원" ("약 14억 7천만 원")."""
    value = _round_won(won) if approximate else won
    if value == 0:
        return "0원"
    parts: list[str] = []
    rest, i = value, 0
    while rest:
        rest, g = divmod(rest, 10000)
        if g:
            num = f"{g // 1000}천" if g % 1000 == 0 else f"{g:,}"
            parts.append(num + _BIG_UNITS[i])
        i += 1
    prefix = "약 " if value != won else ""
    return prefix + " ".join(reversed(parts)) + " 원"


def read_won(won: int, approximate: bool = False) -> str:
    """Spoken amount: 1471858000 -> "십사억 칠천백팔십오만 팔천 원" ("약 십사억 칠천만 원")."""
    value = _round_won(won) if approximate else won
    return ("약 " if value != won else "") + sino_korean(value) + " 원"


# ---- quantity patterns (one alternation; earlier alternatives win at the same position) -----------
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_Y = r"(?:19|20)\d{2}"
_M = r"(?:1[0-2]|0?[1-9])"
_D = r"(?:3[01]|[12]\d|0?[1-9])"
_AMPM = "오전|오후|새벽|아침|낮|저녁|밤"
_NATIVE_COUNTERS = ("시간", "명", "개", "대", "곳", "살", "마리", "가지", "그루", "권", "잔", "벌", "채", "척",
                    "군데", "번째")
_SYMBOL_UNITS = {"%p": "퍼센트포인트", "%": "퍼센트", "퍼센트": "퍼센트", "㎡": "제곱미터", "m²": "제곱미터",
                 "㎢": "제곱킬로미터", "km²": "제곱킬로미터", "km": "킬로미터", "㎞": "킬로미터", "kg": "킬로그램",
                 "㎏": "킬로그램", "cm": "센티미터", "mm": "밀리미터", "m": "미터", "℃": "도", "ha": "헥타르"}
_SYMBOLS = "|".join(re.escape(u) for u in sorted(_SYMBOL_UNITS, key=len, reverse=True))

_QUANTITY = re.compile("|".join([
    r"(?P<receipt>\b[A-Z]{2,5}-\d{4,}(?:-\d{1,8})*(?!\d))",
    r"(?P<phone>(?<![\d-])(?:0\d{1,2}-\d{3,4}-\d{4}|1\d{3}-\d{4}|01\d{8,9})(?![\d-]))",
    rf"(?P<dated>(?<![\d.])(?P<dy>{_Y})\s*(?P<sep>[./-])\s*(?P<dm>{_M})(?:\s*(?P=sep)\s*(?P<dd>{_D}))?"
    r"(?!\d)(?:\s*\.(?!\d))?)",
    r"(?P<hhmm>(?<![\d:])(?P<hh>[01]?\d|2[0-4]):(?P<mm>[0-5]\d)(?![\d:]))",
    rf"(?P<money>(?P<mnum>{_NUM})\s*(?P<munit>십억|백억|천억|십만|백만|천만|천|만|억|조)?\s*원)",
    rf"(?P<unit>(?P<unum>{_NUM})\s*(?P<usym>{_SYMBOLS})(?![A-Za-z]))",
    rf"(?P<clock>(?:(?P<ap>{_AMPM})\s*)?(?<![\d.])(?P<ch>2[0-4]|[01]?\d)시(?!간)(?:\s*(?P<cm>[0-5]?\d)분)?)",
    r"(?P<counter>(?<![\d.,])(?P<cnum>\d{1,3}(?:,\d{3})*)\s*(?P<cword>"
    + "|".join(_NATIVE_COUNTERS) + r")(?!소|월|년|국|교))",
    rf"(?P<month>(?<![\d.,])(?P<mo>{_M})월)",
    rf"(?P<number>{_NUM})",
]))
_KINDS = ("receipt", "phone", "dated", "hhmm", "money", "unit", "clock", "counter", "month", "number")
_PARTICLE = re.compile(r"(?:가|를|는|의|와|도|만|씩|까지|부터|에|로|이|입)")


def _hour(h: int, ampm: str | None, minutes: int = 0, say_ampm: bool = True) -> str:
    if ampm:
        word, h12 = ampm, h % 12 or 12
    elif h in (0, 24):
        word, h12 = "밤", 12
    elif h == 12:
        word, h12 = "낮", 12
    else:
        word, h12 = ("오후", h - 12) if h > 12 else ("오전", h)
    spoken = f"{word} {native_korean(h12)} 시" if say_ampm else f"{native_korean(h12)} 시"
    return spoken + (f" {sino_korean(minutes)} 분" if minutes else "")


def _speak(m: re.Match[str], text: str, approximate: bool) -> str:
    g = m.group
    if g("receipt"):
        return ", ".join(" ".join(_LETTERS.get(c) or read_digits(c) for c in part)
                         for part in g("receipt").split("-"))
    if g("phone"):
        raw = g("phone")
        parts = raw.split("-") if "-" in raw else [raw[:3], raw[3:-4], raw[-4:]]
        return ", ".join(read_digits(p) for p in parts)
    if g("dated"):
        out = f"{sino_korean(int(g('dy')))}년 {_MONTHS[int(g('dm'))]}월"
        out += f" {sino_korean(int(g('dd')))}일" if g("dd") else ""
        return out + "." if g("dated").endswith(".") and _LINE_END.match(text, m.end()) else out
    if g("hhmm"):
        return _hour(int(g("hh")), None, int(g("mm")))
    if g("money"):
        num = g("mnum").replace(",", "")
        scale = _MONEY_UNITS[g("munit") or ""]
        if "." in num:
            whole, frac = num.split(".")
            won_x = int(whole + frac) * scale
            if won_x % 10 ** len(frac):
                return f"{_decimal(num)}{g('munit') or ''} 원"
            won = won_x // 10 ** len(frac)
        else:
            won = int(num) * scale
        spoken = read_won(won, approximate)
        if spoken.startswith("약 ") and text[:m.start()].rstrip().endswith("약"):
            spoken = spoken[2:]
        return spoken
    if g("unit"):
        return f"{_decimal(g('unum'))} {_SYMBOL_UNITS[g('usym')]}"
    if g("clock"):
        return _hour(int(g("ch")), g("ap"), int(g("cm") or 0))
    if g("counter"):
        n, word = int(g("cnum").replace(",", "")), g("cword")
        if word == "대":
            before, after = text[:m.start()], text[m.end():]
            starts_phrase = not re.search(r"[가-힣A-Za-z0-9]\s*$", before)
            if starts_phrase and re.match(r"\s*[가-힣]", after) and not _PARTICLE.match(after):
                return f"{sino_korean(n)}대"
        if word == "번째" and n == 1:
            return "첫 번째"
        return f"{native_korean(n)} {word}"
    if g("month"):
        return f"{_MONTHS[int(g('mo'))]}월"
    num = g("number")
    return _decimal(num) if "." in num else _integer(num)


def _kind(m: re.Match[str]) -> str:
    return next(k for k in _KINDS if m.group(k) is not None)


_LINE_END = re.compile(r"[ \t]*(?:\n|$)")
_GAP_RANGE = re.compile(r"\s*[~∼〜～]\s*(익일\s*)?")
_GAP_DASH = re.compile(r"\s*[-–]\s*(익일\s*)?")
_NUMBER_GROUP = {"money": "mnum", "unit": "unum", "clock": "ch", "counter": "cnum", "month": "mo"}


def _speak_alone(raw: str, approximate: bool) -> str | None:
    m = _QUANTITY.fullmatch(raw)
    return _speak(m, raw, approximate) if m else None


def _speak_quantities(text: str, approximate: bool, plain: Callable[[str], str]) -> str:
    """Replace every quantity; ``A~B`` becomes "A부터 B까지" (a bare A borrows B's unit: 5~10명)."""
    matches = list(_QUANTITY.finditer(text))
    out: list[str] = []
    pos, i = 0, 0
    while i < len(matches):
        a = matches[i]
        if a.start() < pos:  # already read as part of a range
            i += 1
            continue
        out.append(plain(text[pos:a.start()]))
        left = _speak(a, text, approximate)
        nxt = matches[i + 1] if i + 1 < len(matches) else None
        gap = text[a.end():nxt.start()] if nxt else ""
        rng = _GAP_RANGE.fullmatch(gap) if nxt else None
        if nxt and rng is None and {_kind(a), _kind(nxt)} <= {"hhmm", "clock"}:
            rng = _GAP_DASH.fullmatch(gap)
        if nxt is None or rng is None:
            out.append(left)
            pos, i = a.end(), i + 1
            continue
        b, end = nxt, nxt.end()
        ka, kb = _kind(a), _kind(b)
        right = _speak(b, text, approximate)
        preceding_ap = re.search(rf"(?:{_AMPM})\s*$", text[:a.start()]) if kb == "clock" else None
        if ka == "number" and kb == "clock" and (preceding_ap or b.group("ap")):  # 오후 1~3시
            ap = preceding_ap.group(0).strip() if preceding_ap else b.group("ap")
            hb, mb = int(b.group("ch")), int(b.group("cm") or 0)
            left = _hour(int(a.group(0).split(".")[0]), ap, say_ampm=bool(b.group("ap")))
            right = _hour(hb, ap, mb, say_ampm=bool(b.group("ap")))
        elif ka == "number" and kb in _NUMBER_GROUP:  # 5~10명, 9~18시, 100~200만원: borrow B's unit
            suffix = text[b.end(_NUMBER_GROUP[kb]):b.end()]
            left = _speak_alone(a.group(0) + suffix, approximate) or left
        elif ka == "dated" and kb == "number" and b.group(0).isdigit() and 1 <= int(b.group(0)) <= 12:
            month = f"{_MONTHS[int(b.group(0))]}월"  # 2026. 3. ~ 11. / 2026. 1. 6. ~ 1. 9.
            day = re.match(r"\s*\.\s*(" + _D + r")\s*\.(?!\d)", text[end:])
            if a.group("dd") and day:
                month, end = f"{month} {sino_korean(int(day.group(1)))}일", end + day.end()
            elif re.match(r"[ \t]*\.(?!\d)", text[end:]) and not _LINE_END.match(text, text.index(".", end) + 1):
                end = text.index(".", end) + 1
            right = month
        next_day = bool(rng.group(1))
        if not next_day and ka in ("hhmm", "clock") and kb in ("hhmm", "clock"):
            ha = int(a.group("hh") or a.group("ch"))
            hb = int(b.group("hh") or b.group("ch"))
            next_day = hb < ha and not (b.group("ap") or a.group("ap") or preceding_ap)
        tail = "." if right.endswith(".") or (end > b.end() and _LINE_END.match(text, end)) else ""
        out.append(f"{left}부터 {'다음 날 ' if next_day else ''}{right.rstrip('.')}까지{tail}")
        pos, i = end, i + 2
    out.append(plain(text[pos:]))
    return "".join(out)


# ---- markup and punctuation ---------------------------------------------------------------------
_ACRONYM = re.compile(r"\b[A-Z]{2,6}\b")
_WEEKDAYS = "월화수목금토일"


def _plain(text: str) -> str:
    """Text between quantities: spell acronyms (CCTV -> 씨씨티비)."""
    return _ACRONYM.sub(lambda m: "".join(_LETTERS[c] for c in m.group(0)), text)


def _strip_line(line: str) -> str:
    line = re.sub(r"^\s*(?:#{1,6}|>|[-*+•·▪◦○●□■◇◆▶►※☞]|\d{1,2}[.)](?=\s+\D)|[①-⑳])\s*", "", line)
    line = re.sub(r"^\s*[-*+•·▪◦○●□■◇◆▶►※☞]\s*", "", line)  # "□ - 내용"
    line = re.sub(r"!\[([^\]]*)\]\([^)]*\)", "", line)
    line = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)
    line = re.sub(r"</?[A-Za-z][^>]*>", " ", line)
    line = re.sub(r"(\*\*|__|\*|`+)", "", line)
    return line.strip(" \t|")


def _parentheses(text: str) -> str:
    text = re.sub(rf"\(\s*([{_WEEKDAYS}])\s*\)", r" \1요일", text)

    def inner(m: re.Match[str]) -> str:
        content = m.group(1).strip(" ,")
        if not re.search(r"[가-힣0-9]", content):  # empty, or an English/Hanja gloss
            return " "
        return f", {content}, "

    prev = None
    while prev != text:
        prev, text = text, re.sub(r"[(\[（［]([^()\[\]（）［］]*)[)\]）］]", inner, text)
    return re.sub(r"[()\[\]（）［］]", " ", text)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.!?])", r"\1", text)
    text = re.sub(r"([,.!?])(?:\s*,)+", r"\1", text)
    text = re.sub(r",\s*([.!?])", r"\1", text)
    text = re.sub(r"([.!?])(?:\s*\.)+", r"\1", text)
    text = re.sub(r"(?<=[가-힣])까지에(?=[\s,.!?]|$)", "까지", text)
    text = re.sub(r"([,.!?])(?=[^\s\d,.!?])", r"\1 ", text)
    return text.strip(" ,")


def truncate_at_sentence(text: str, max_chars: int) -> str:
    """``text`` if short enough, else its longest prefix ending a sentence (or, failing that, a clause
    or a word) within ``max_chars``."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars + 1]
    for pattern in (r"[.!?](?=\s)", r"[,;](?=\s)", r"\s"):
        cuts = [m.end() for m in re.finditer(pattern, head) if m.end() <= max_chars]
        if cuts and cuts[-1] > max_chars // 3:
            return head[:cuts[-1]].rstrip(" ,;")
    return text[:max_chars]


def to_speech(text: str, *, approximate: bool = False, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Rewrite Korean text so that a synthesiser reads it as a person would (see the module docstring).

    ``approximate`` reads amounts of money rounded ("약 십사억 칠천만 원"); the result is at most
    ``max_chars`` long, cut at a sentence boundary. Returns "" when nothing speakable is left.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")[:max_chars * 4]
    lines = []
    for raw in text.split("\n"):
        line = _strip_line(raw)
        if line and not re.search(r"[.!?。…:,]$", line):
            line += "."
        if line:
            lines.append(line)
    text = "\n".join(lines)
    text = re.sub(r"[’‘'](\d{2})(?=년|\.)", r"20\1", text)  # '25년 -> 2025년
    text = re.sub(r"[\"“”„'‘’`「」『』《》〈〉]", "", text)
    # keypad keys are read like phone digits: "0번을 눌러" -> "공번을 눌러"
    text = re.sub(r"(?<!\d)(\d)번(?=을?\s*(?:누르|눌러))", lambda m: read_digits(m.group(1)) + "번", text)
    text = _parentheses(text)
    text = re.sub(rf"(?<![\d가-힣])([{_WEEKDAYS}])(?:요일)?\s*[~∼〜～]\s*([{_WEEKDAYS}])(?:요일)?(?![가-힣])",
                  r"\1요일부터 \2요일까지", text)
    text = text.replace("익월", "다음 달")
    text = _speak_quantities(text, approximate, _plain)
    text = text.replace("익일", "다음 날 ")
    text = re.sub(r"\s*[·•/|→⇒]\s*", ", ", text)
    text = re.sub(r"\s*[&＆]\s*", " 및 ", text)
    text = re.sub(r"\s*[~∼〜～]\s*", ", ", text)
    text = re.sub(r"[#*_=<>{}\\^]", " ", text)
    text = truncate_at_sentence(_tidy(text), max_chars)
    return text if re.search(r"\w", text) else ""
