"""Structure-aware chunking of a plan document in "corpus format" text.

Owns the outline rules: which lines are headings (Roman-numeral parts, department names, numbered
projects, □/○ sub-sections, markdown ``#``), which are bullets and how deep, and how bullets group
into chunks. Each chunk knows its document, department, section path and line range; tables become
one record per row (see ``tables``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ..types import Chunk
from .tables import Record, is_table_line, split_row, table_records
from .text import (
    clean_inline,
    indent_of,
    is_noise,
    keeps_marker,
    marker_depth,
    split_marker,
    strip_heading_marker,
)

_ROMAN = re.compile(r"^(I{1,3}|IV|V|VI{0,3}|IX|X)\.\s*\S")
_DEPT = re.compile(r"^[가-힣]{2,14}(과|실|담당관|국|단|센터|본부|사업소|청|관)$")
_PROJECT = re.compile(r"^(\d{1,2})\s+(\S.{2,90})$")
_LONE_NUMBER = re.compile(r"^\d{1,2}$")
_SUBSECTION = re.compile(r"^.{0,14}(목표|방향|계획|전략|개요|효과|과제\(사업\)|과제|현황|일정)$")
_CAPTION = re.compile(r"^[\[(【].{1,40}[\])】]$")
_KV = re.compile(r"\S\s*:\s*\S")
_WHOLE_BOLD = re.compile(r"^(?:[-▶◆■•]\s*)?\*\*[^*]+\*\*$")

MAX_CHUNK_CHARS = 600
MERGE_CHARS = 350

# Heading levels (lower = outer).
L_ROOT, L_PART, L_DEPT, L_PROJECT, L_SECTION, L_SUB = 0, 1, 2, 3, 4, 5


@dataclass(slots=True)
class _Item:
    depth: int
    text: str
    line: int


@dataclass(slots=True)
class _Builder:
    document: str
    root: str = ""
    stack: list[tuple[int, str]] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    items: list[_Item] = field(default_factory=list)

    # --- headings -------------------------------------------------------------------------
    def heading(self, level: int, title: str) -> None:
        self.flush()
        title = strip_heading_marker(title.strip())
        if (level == L_ROOT or (not self.root and level <= L_DEPT)) and not self.root:
            self.root = title
            self.stack = []
            return
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))

    @property
    def department(self) -> str:
        for level, title in reversed(self.stack):
            if level == L_DEPT:
                return title
        return self.root

    @property
    def section(self) -> str:
        parts = [self.root] if self.root else []
        has_dept = any(level == L_DEPT for level, _ in self.stack)
        for level, title in self.stack:
            if level == L_PART and has_dept:
                continue  # "IV. 부서별 세부과제(사업)" adds nothing once the department is known
            if not parts or parts[-1] != title:
                parts.append(title)
        return " > ".join(parts)

    # --- items ----------------------------------------------------------------------------
    def item(self, depth: int, text: str, line: int) -> None:
        self.items.append(_Item(depth, text, line))

    def flush(self) -> None:
        if not self.items:
            return
        groups: list[list[_Item]] = []
        top = min(i.depth for i in self.items)
        for it in self.items:
            if not groups or it.depth <= top:
                groups.append([it])
            else:
                groups[-1].append(it)
        merged: list[list[_Item]] = []
        for g in groups:
            size = sum(len(i.text) for i in g)
            if (merged and sum(len(i.text) for i in merged[-1]) + size <= MERGE_CHARS
                    and len(merged[-1]) >= 1 and all(len(i.text) < 120 for i in g)
                    and all(len(i.text) < 120 for i in merged[-1])):
                merged[-1].extend(g)
            else:
                merged.append(list(g))
        for g in merged:
            self._emit_group(g)
        self.items = []

    def _emit_group(self, group: list[_Item]) -> None:
        base = min(i.depth for i in group)
        lines = [("  " * min(i.depth - base, 3)) + i.text for i in group]
        part: list[str] = []
        start = group[0].line
        for ln, it in zip(lines, group, strict=True):
            if part and sum(len(x) for x in part) + len(ln) > MAX_CHUNK_CHARS:
                self.add_chunk("\n".join(part), start, it.line - 1)
                # keep the group's lead line as context for the continuation
                part = [lines[0]] if lines[0] != ln else []
                start = it.line
            part.append(ln)
        if part:
            self.add_chunk("\n".join(part), start, group[-1].line)

    def add_chunk(self, text: str, start: int, end: int, kind: str = "text", extra_section: str = "") -> None:
        section = self.section + (f" > {extra_section}" if extra_section else "")
        digest = hashlib.sha1(f"{self.document}|{section}|{text}".encode()).hexdigest()[:12]
        self.chunks.append(Chunk(
            id=f"{self.document}#{start}-{digest}", document=self.document, department=self.department,
            section=section, text=text, line_start=start, line_end=max(start, end), kind=kind,
        ))

    def table(self, records: list[Record], columns: list[Record]) -> None:
        self.flush()
        for rec in columns:
            self.add_chunk("\n".join(rec.lines), rec.line_start, rec.line_end, kind="row")
        for rec in records:
            if rec.structured:
                self.add_chunk("\n".join(rec.lines), rec.line_start, rec.line_end, kind="row")
                continue
            # A text row: its label is a sub-section, its list items chunk like bullets.
            saved = list(self.stack)
            if rec.label:
                self.stack.append((L_SUB + 1, rec.label))
            for ln in rec.lines:
                marker, body = split_marker(ln)
                depth = marker_depth(marker) if marker else 0
                self.item(depth, ln if keeps_marker(marker) else body, rec.line_start)
            self.flush()
            self.stack = saved


def _heading_of(raw: str, text: str, next_text: str) -> tuple[int, str] | None:
    """Classify a (cleaned) line as a heading: returns (level, title) or None."""
    s = raw.strip()
    if s.startswith("#"):
        title = clean_inline(s.lstrip("#"))
        if not title:
            return None
        marker, _ = split_marker(title)
        return _semantic_level(title, next_text) or (L_SUB if marker == "○" else L_SECTION, title)
    return _semantic_level(text, next_text)


def _semantic_level(text: str, next_text: str) -> tuple[int, str] | None:
    if _ROMAN.match(text):
        return L_PART, text
    compact = text.replace(" ", "")
    if _DEPT.match(compact) and len(text) <= 20:
        return L_DEPT, compact
    m = _PROJECT.match(text)
    if m and not re.search(r":\s*[\d금총약]", text) and len(text) <= 70:
        return L_PROJECT, text
    marker, body = split_marker(text)
    if marker == "□" and not _KV.search(body):
        return L_SECTION, body
    if marker == "○" and not _KV.search(body) and len(body) <= 50:
        nm, _ = split_marker(next_text)
        if nm in ("-", "–", "·", "※") or "\t" in next_text or len(body) <= 20:
            return L_SUB, body
    if not marker and _SUBSECTION.match(compact) and len(text) <= 16:
        return L_SECTION, text
    return None


def _caption_before_table(raw_lines: list[str], j: int) -> bool:
    """True if the lines from j on are more captions and then a table."""
    while j < len(raw_lines):
        line = raw_lines[j]
        if is_table_line(line):
            return True
        if not is_noise(line) and not _CAPTION.match(clean_inline(line)):
            return False
        j += 1
    return False


def parse_document(text: str, document: str) -> list[Chunk]:
    """Chunk one document given in corpus format."""
    raw_lines = text.split("\n")
    b = _Builder(document)
    n = len(raw_lines)
    i = 0
    pending_number = ""
    last_caption = ""
    while i < n:
        raw = raw_lines[i]
        lineno = i + 1
        if is_table_line(raw):
            rows: list[tuple[int, list[str]]] = []
            while i < n and is_table_line(raw_lines[i]):
                cells = split_row(raw_lines[i])
                if cells is not None:
                    rows.append((i + 1, cells))
                i += 1
            # Numbered list written as a table ("1.\t미래형 ...") is a list, not a table; it may
            # come under a one-cell title row ("주요 추진과제(사업)").
            title_row = rows[0] if rows and sum(1 for c in rows[0][1] if clean_inline(c)) == 1 else None
            listed = rows[1:] if title_row else rows
            if listed and all(re.fullmatch(r"\d{1,2}\.?|-", next((c for c in cells if c), "x"))
                              and sum(1 for c in cells if c) == 2 for _, cells in listed):
                if title_row:
                    b.heading(L_SECTION, next(clean_inline(c) for c in title_row[1] if clean_inline(c)))
                for ln, cells in listed:
                    num, body = [c for c in cells if c][:2]
                    b.item(1, f"{num} {clean_inline(body)}", ln)
                continue
            records, columns = table_records(rows, caption=last_caption)
            b.table(records, columns)
            last_caption = ""
            continue
        i += 1
        if is_noise(raw):
            continue
        text_line = clean_inline(raw.lstrip("#")) if raw.strip().startswith("#") else clean_inline(raw)
        if not text_line:
            continue
        if _LONE_NUMBER.match(text_line):
            pending_number = text_line
            continue
        next_text = ""
        j = i
        while j < n:
            if not is_noise(raw_lines[j]):
                next_text = "\t" if is_table_line(raw_lines[j]) else clean_inline(raw_lines[j])
                break
            j += 1
        if pending_number:
            b.heading(L_PROJECT, f"{pending_number} {text_line}")
            pending_number = ""
            continue
        if _CAPTION.match(text_line) and _caption_before_table(raw_lines, j):
            last_caption = f"{last_caption} {text_line.strip('[]()【】 ')}".strip()
            continue
        if not b.root:
            b.heading(L_ROOT, text_line.replace(" ", "") if len(text_line) <= 20 else text_line)
            continue
        marker, body = split_marker(text_line)
        if marker == "□" and _KV.search(body):
            key = body.split(":", 1)[0].strip()
            b.heading(L_SECTION, key)
            b.item(0, body, lineno)
            continue
        if _WHOLE_BOLD.match(raw.strip()) and len(text_line) <= 60:
            b.heading(L_SECTION if marker in ("", "-") else L_SUB, body if marker else text_line)
            continue
        h = _heading_of(raw, text_line, next_text)
        if h is not None:
            b.heading(*h)
            continue
        depth = marker_depth(marker) if marker else 0
        indent = indent_of(raw)
        if marker and indent:
            depth += (indent + 1) // 2
        if not marker:
            depth = 0
        b.item(depth, text_line if keeps_marker(marker) else body, lineno)
    b.flush()
    return b.chunks
