"""Line-level text clean-up for Korean administrative documents.

Owns: stripping markdown emphasis and HTML noise, collapsing letter-spaced Korean ("기 획 조 정 실"),
splitting HTML list cells into lines, and recognising bullet markers with their depth.
"""

from __future__ import annotations

import html
import re

_BOLD = re.compile(r"\*\*|__")
_CHECKBOX = re.compile(r"<input[^>]*>", re.I)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_LI_OPEN = re.compile(r"<li[^>]*>", re.I)
_BLOCK_CLOSE = re.compile(r"</(li|ul|ol|p|div|tr)>|<br\s*/?>", re.I)
_UL_OPEN = re.compile(r"<(ul|ol)[^>]*>", re.I)
_WS = re.compile(r"[ \t\u00a0\u3000]+")
# A marker alone in angle brackets, e.g. "<현행>", "<개선안>": a placeholder for a lost figure.
_FIGURE_MARK = re.compile(r"^<[^<>a-zA-Z/][^<>]{0,20}>$")
# Runs of single Hangul syllables separated by one space: "기 획 조 정 실", "구 분", "위 치".
_SPACED = re.compile(r"(?<![가-힣])([가-힣](?: [가-힣]){1,})(?![가-힣])")

# Bullet markers, outermost first. Depth is the rank in this list unless indentation says more.
_MARKERS: tuple[tuple[str, int], ...] = (
    ("□", 0), ("■", 1), ("◆", 1), ("○", 1), ("ㅇ", 1), ("●", 1), ("▶", 1), ("•", 1), ("◦", 2),
    ("-", 2), ("–", 2), ("·", 3), ("ㆍ", 3), ("⇒", 3), ("→", 3), ("※", 3), ("*", 3),
)
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
_NUMBERED = re.compile(r"^(\d{1,2}[.)]|\(\d{1,2}\)|[" + _CIRCLED + r"])\s*")
# Inline markers inside one table cell, where the cell flattens a nested list.
_INLINE_SPLIT = re.compile(r"\s+(?=[" + _CIRCLED + r"•▶○◆■]\s?)|\s+(?=-\s)|\s+(?=\*\s)")


_SINGLE_WORDS = frozenset("및등또그이저수외약각더잘안못중간내전후")


def despace(text: str) -> str:
    """Collapse letter-spaced Korean words: "기 획 조 정 실 장" -> "기획조정실장".

    A run of two syllables is only joined when it stands alone or neither is a one-syllable word
    ("직제 및 정·현원" stays as it is).
    """

    def join(m: re.Match[str]) -> str:
        run = m.group(1)
        tokens = run.split(" ")
        whole = m.start() == 0 and m.end() == len(m.string)
        if len(tokens) == 2 and not whole and any(t in _SINGLE_WORDS for t in tokens):
            return run
        return run.replace(" ", "")

    return _SPACED.sub(join, text)


def clean_inline(text: str) -> str:
    """Remove emphasis, tags and entities; fold white space; collapse letter-spacing."""
    text = _CHECKBOX.sub(" ", text)
    text = _BOLD.sub("", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text).replace("\t", "  ").strip()
    # letter-spacing first: a wide gap ("담 당 관      업 우 원") separates two words
    text = " ".join(despace(part) for part in re.split(r"\s{2,}", text))
    return _WS.sub(" ", text).strip()


def is_noise(line: str) -> bool:
    """Blank lines, rules and figure placeholders carry nothing to retrieve."""
    s = line.strip()
    if not s:
        return True
    if set(s) <= set("-=_*#|: "):
        return True
    return bool(_FIGURE_MARK.match(s))


def cell_lines(cell: str) -> list[str]:
    """Split one table cell (possibly an HTML list flattened into a line) into lines."""
    cell = _CHECKBOX.sub(" ", cell)
    cell = _LI_OPEN.sub("\n", cell)
    cell = _UL_OPEN.sub("\n", cell)
    cell = _BLOCK_CLOSE.sub("\n", cell)
    out: list[str] = []
    for raw in cell.split("\n"):
        carry = ""
        for piece in _INLINE_SPLIT.split(raw):
            cleaned = clean_inline(piece)
            if cleaned and set(cleaned) <= set("-*–·"):
                carry = cleaned  # a bullet whose text starts with its own marker ("- ① ...")
                continue
            if cleaned:
                out.append(cleaned if not carry or cleaned[0] in _CIRCLED else f"{carry} {cleaned}")
                carry = ""
    return out


def keeps_marker(marker: str) -> bool:
    """Numbering ("①", "1.", "(2)") is content; bullets ("-", "○") are layout."""
    return bool(marker) and (marker[0] in _CIRCLED or marker[0].isdigit() or marker[0] == "(")


def strip_heading_marker(title: str) -> str:
    marker, body = split_marker(title)
    return body if marker and not keeps_marker(marker) else title


def split_marker(line: str) -> tuple[str, str]:
    """Return (marker, text) for a bullet line; marker is "" for plain text."""
    s = line.strip()
    m = _NUMBERED.match(s)
    if m and len(s) > len(m.group(0)):
        return m.group(1), s[m.end():].strip()
    for marker, _depth in _MARKERS:
        if s.startswith(marker) and len(s) > len(marker):
            rest = s[len(marker):]
            # "-" only counts as a bullet when followed by a space ("-1" is a number).
            if marker in "-*–" and not rest.startswith(" "):
                continue
            return marker, rest.strip()
    return "", s


def marker_depth(marker: str) -> int:
    for m, depth in _MARKERS:
        if m == marker:
            return depth
    if marker and (marker[0] in _CIRCLED or marker[0].isdigit() or marker.startswith("(")):
        return 1
    return 0


def indent_of(raw: str) -> int:
    """Leading spaces (a tab counts as four)."""
    n = 0
    for ch in raw:
        if ch == " ":
            n += 1
        elif ch == "\t":
            n += 4
        else:
            break
    return n
