"""Converting corpus files of several formats into the one plain-text *corpus format*.

This module owns the step "file on disk -> corpus text" and nothing after it (structure
parsing and chunking read the string it returns). The corpus format is what
``shared/corpus/*.md`` look like:

* one logical line per paragraph, bullet or heading; bullets (``- ``, ``○ ``, ``□ `` ...) as written;
* markdown headings ``#`` .. ``####``;
* a table as one line per row, cells separated by TAB, with a blank line before and after it.

Supported: markdown/text (decoded as is), HTML (bs4 + stdlib ``html.parser``), PDF with a text
layer (pypdf) and HWPX (OWPML zip, stdlib ``zipfile`` + ``xml.etree``). Legacy binary ``.hwp``
and scanned PDFs raise :class:`UnsupportedFormatError`; unreadable or corrupt files raise
:class:`IngestError`. Third-party exceptions are translated here and never leak.
"""

from __future__ import annotations

import codecs
import posixpath
import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag
from pypdf import PasswordType, PdfReader
from pypdf.errors import PyPdfError

from knowledge.errors import IngestError, KnowledgeError, UnsupportedFormatError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "html_to_corpus_text",
    "hwpx_to_corpus_text",
    "pdf_to_corpus_text",
    "read_text",
    "to_corpus_text",
]

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".hwpx"})

HWPX_MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
"""Zip-bomb guard: the whole HWPX archive may not unpack to more than this."""

_TEXT_ENCODINGS = ("utf-8", "cp949", "euc-kr")
_WS = re.compile(r"\s+")


def _collapse(text: str) -> str:
    """Collapse every run of whitespace (tabs and newlines too) into one space."""
    return _WS.sub(" ", text).strip()


def _finish(lines: Iterable[str]) -> str:
    """Join lines: NFC, no trailing spaces, at most one blank line in a row, one final newline."""
    out: list[str] = []
    for raw in lines:
        line = unicodedata.normalize("NFC", raw).rstrip(" ")
        if not line.strip():
            if out and out[-1] != "":
                out.append("")
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def _table_block(rows: Iterable[list[str]]) -> list[str]:
    """Table rows as corpus lines (cells joined by TAB) with a blank line before and after."""
    body = ["\t".join(row) for row in rows if any(cell for cell in row)]
    return ["", *body, ""] if body else []


# --------------------------------------------------------------------------------------- text


def read_text(path: Path) -> str:
    """Decode a text file: BOM (UTF-8/UTF-16), then UTF-8, then cp949/euc-kr; LF newlines; NFC."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: 파일을 읽을 수 없습니다 (cannot read file): {exc}") from exc
    text: str | None = None
    if data.startswith(codecs.BOM_UTF8):
        text = _try_decode(data, "utf-8-sig")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _try_decode(data, "utf-16")
    else:
        for encoding in _TEXT_ENCODINGS:
            text = _try_decode(data, encoding)
            if text is not None:
                break
    if text is None or "\x00" in text:
        raise IngestError(
            f"{path}: 텍스트 인코딩을 알 수 없습니다 (not UTF-8, UTF-16 with BOM, cp949 or euc-kr text)"
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text)


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


# --------------------------------------------------------------------------------------- HTML

_HTML_DROP = frozenset({"script", "style", "nav", "footer", "header", "noscript", "head", "template", "svg"})
_HTML_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4}
_HTML_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "form", "h5", "h6", "hr", "html", "main", "ol", "p",
        "pre", "section", "summary", "ul",
    }
)  # fmt: skip


class _HtmlFlattener:
    """Walks a bs4 tree and emits corpus lines; inline text accumulates until a block ends."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._buf: list[str] = []
        self._prefix = ""
        self._in_pre = 0

    def flush(self) -> None:
        text = _collapse("".join(self._buf))
        self._buf.clear()
        if text:
            self.lines.append(self._prefix + text)
            self._prefix = ""

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Tag):
                self._tag(child)
            elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
                self._text(str(child))

    def _text(self, text: str) -> None:
        if not self._in_pre:
            self._buf.append(text)
            return
        first, *rest = text.split("\n")
        self._buf.append(first)
        for part in rest:
            self.flush()
            self._buf.append(part)

    def _tag(self, tag: Tag) -> None:
        name = tag.name.lower()
        if name in _HTML_DROP:
            return
        if name == "br":
            self.flush()
        elif name in _HTML_HEADINGS:
            self.flush()
            text = _inline_text(tag)
            if text:
                self.lines.extend(["", "#" * _HTML_HEADINGS[name] + " " + text, ""])
        elif name == "li":
            self.flush()
            self._prefix = "- "
            self.walk(tag)
            self.flush()
            self._prefix = ""
        elif name == "table":
            self.flush()
            caption = tag.find("caption")
            if isinstance(caption, Tag) and caption.find_parent("table") is tag:
                self.lines.append(_inline_text(caption))
            self.lines.extend(_table_block(_html_table_rows(tag)))
        elif name in _HTML_BLOCKS:
            self.flush()
            self._in_pre += name == "pre"
            self.walk(tag)
            self._in_pre -= name == "pre"
            self.flush()
            if name == "p":
                self.lines.append("")
        elif name != "caption":
            self.walk(tag)


def _inline_text(tag: Tag) -> str:
    """All text of ``tag`` (blocks, lists and tables inside included) on one collapsed line."""
    sub = _HtmlFlattener()
    sub.walk(tag)
    sub.flush()
    return _collapse(" ".join(sub.lines))


def _span(tag: Tag, attr: str) -> int:
    value = tag.get(attr)
    if not isinstance(value, str):
        return 1
    match = re.match(r"\s*(\d+)", value)
    return min(max(int(match.group(1)), 1), 1000) if match else 1


def _html_table_rows(table: Tag) -> Iterator[list[str]]:
    """Rows of ``table`` (not of nested tables). colspan pads empty cells after the cell;
    rowspan leaves the cell's column(s) empty in the following rows."""
    pending: dict[int, int] = {}  # column -> rows still covered by a rowspan from above
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue
        row: list[str] = []
        for cell in tr.find_all(["td", "th"], recursive=False):
            _skip_covered(row, pending)
            start, colspan, rowspan = len(row), _span(cell, "colspan"), _span(cell, "rowspan")
            row.append(_inline_text(cell))
            row.extend([""] * (colspan - 1))
            if rowspan > 1:
                for col in range(start, start + colspan):
                    pending[col] = rowspan - 1
        while any(left > 0 and col >= len(row) for col, left in pending.items()):
            if pending.get(len(row), 0) > 0:
                _skip_covered(row, pending)
            else:
                row.append("")
        yield row


def _skip_covered(row: list[str], pending: dict[int, int]) -> None:
    """Append an empty cell for each column at the row's end still covered by a rowspan."""
    while pending.get(len(row), 0) > 0:
        pending[len(row)] -= 1
        row.append("")


def html_to_corpus_text(html: str) -> str:
    """HTML -> corpus text (headings h1-h4 as ``#``, ``li`` as ``- ``, tables as TAB rows)."""
    soup = BeautifulSoup(html, "html.parser")
    flattener = _HtmlFlattener()
    flattener.walk(soup)
    flattener.flush()
    return _finish(flattener.lines)


# ---------------------------------------------------------------------------------------- PDF


def pdf_to_corpus_text(path: Path) -> str:
    """Text layer of a PDF, page by page; a blank line between pages. No OCR."""
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise IngestError(f"{path}: 암호가 걸린 PDF입니다 (encrypted PDF, password required)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except KnowledgeError:
        raise
    except (PyPdfError, OSError) as exc:
        raise IngestError(f"{path}: PDF를 읽을 수 없습니다 (unreadable PDF): {exc}") from exc
    except Exception as exc:  # malformed PDFs make pypdf fail in many ways
        raise IngestError(
            f"{path}: PDF를 읽을 수 없습니다 (corrupt PDF): {type(exc).__name__}: {exc}"
        ) from exc
    if not pages:
        raise IngestError(f"{path}: 페이지가 없는 PDF입니다 (PDF has no pages)")
    if not any(text.strip() for text in pages):
        raise UnsupportedFormatError(
            f"{path}: 텍스트 레이어가 없는 PDF입니다 (스캔 이미지) — OCR 필요. "
            "(PDF has no text layer, probably scanned; run OCR first.)"
        )
    lines: list[str] = []
    for text in pages:
        lines.extend(line.strip() for line in text.splitlines())
        lines.append("")
    return _finish(lines)


# --------------------------------------------------------------------------------------- HWPX

_SECTION_RE = re.compile(r"(?:^|/)section(\d+)\.xml$", re.IGNORECASE)
_HWPX_SKIP = frozenset({"header", "footer", "secPr"})  # page header/footer, section properties


def _local(tag: object) -> str:
    """Local name of an ElementTree tag, namespace URI ignored."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


class _Budget:
    """Bytes still allowed to be unpacked from one archive (zip-bomb guard)."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def read(self, zf: zipfile.ZipFile, name: str) -> bytes:
        """Read one member, counting its real (not declared) size against what is left."""
        with zf.open(name) as fh:
            data = fh.read(self.left + 1)
        if len(data) > self.left:
            raise IngestError(f"HWPX 압축 해제 크기가 한도를 넘습니다 (zip bomb guard: {name})")
        self.left -= len(data)
        return data


def _parse_xml(data: bytes, name: str) -> ET.Element:
    if b"<!ENTITY" in data:
        raise IngestError(f"HWPX {name}: XML 엔티티 선언은 허용되지 않습니다 (entity declarations refused)")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise IngestError(f"HWPX {name}: XML 형식 오류 (malformed XML): {exc}") from exc


def _hwpx_section_names(zf: zipfile.ZipFile, budget: _Budget) -> list[str]:
    """Section files in reading order: the content.hpf spine if it lists any, else section0..N."""
    names = set(zf.namelist())
    hpf = next((n for n in ("Contents/content.hpf", "content.hpf") if n in names), None)
    if hpf is not None:
        root = _parse_xml(budget.read(zf, hpf), hpf)
        hrefs = {
            item.get("id", ""): item.get("href", "") for item in root.iter() if _local(item.tag) == "item"
        }
        ordered: list[str] = []
        for ref in root.iter():
            if _local(ref.tag) != "itemref":
                continue
            href = hrefs.get(ref.get("idref", ""), "")
            for candidate in (href, posixpath.normpath(posixpath.join(posixpath.dirname(hpf), href))):
                if candidate in names and _SECTION_RE.search(candidate) and candidate not in ordered:
                    ordered.append(candidate)
                    break
        if ordered:
            return ordered
    found = [(m, n) for n in names if n.startswith("Contents/") and (m := _SECTION_RE.search(n))]
    return [n for m, n in sorted(found, key=lambda pair: int(pair[0].group(1)))]


class _HwpxFlattener:
    """Turns OWPML section XML into corpus lines: paragraphs (hp:p) and tables (hp:tbl)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def block(self, elem: ET.Element) -> None:
        """Emit every paragraph and table under ``elem`` (a section or a cell's subList)."""
        for child in elem:
            name = _local(child.tag)
            if name == "p":
                self.paragraph(child)
            elif name == "tbl":
                self.lines.extend(_table_block(self._rows(child)))
            elif name not in _HWPX_SKIP:
                self.block(child)

    def paragraph(self, p: ET.Element) -> None:
        buf: list[str] = []

        def flush() -> None:
            self.lines.append(_collapse("".join(buf)))
            buf.clear()

        def visit(elem: ET.Element) -> None:
            for child in elem:
                name = _local(child.tag)
                if name == "t":
                    buf.append(child.text or "")
                    for inner in child:  # <hp:lineBreak/>, <hp:tab/> ... inside a run of text
                        inner_name = _local(inner.tag)
                        if inner_name == "lineBreak":
                            flush()
                        elif inner_name == "tab":
                            buf.append(" ")
                        buf.append(inner.tail or "")
                elif name == "tbl":
                    flush()
                    self.lines.extend(_table_block(self._rows(child)))
                elif name == "p":  # text boxes, footnotes: their own lines
                    flush()
                    self.paragraph(child)
                elif name not in _HWPX_SKIP:
                    visit(child)

        visit(p)
        flush()

    def _rows(self, tbl: ET.Element) -> Iterator[list[str]]:
        """Rows placed by each cell's colAddr, so cells covered by a merge stay empty; a colSpan
        pads empty cells after its cell and every row is padded to the table's colCnt."""
        width = _small_int(tbl.get("colCnt"), default=0)
        for tr in tbl:
            if _local(tr.tag) != "tr":
                continue
            row: list[str] = []
            for tc in tr:
                if _local(tc.tag) != "tc":
                    continue
                col, colspan = len(row), 1
                for prop in tc:
                    if _local(prop.tag) == "cellAddr":
                        col = max(col, _small_int(prop.get("colAddr"), default=0))
                    elif _local(prop.tag) == "cellSpan":
                        colspan = max(_small_int(prop.get("colSpan"), default=1), 1)
                row.extend([""] * (col - len(row)))
                sub = _HwpxFlattener()
                sub.block(tc)
                row.append(_collapse(" ".join(sub.lines)))
                row.extend([""] * (colspan - 1))
            row.extend([""] * (width - len(row)))
            yield row


def _small_int(value: str | None, *, default: int) -> int:
    """A non-negative integer attribute, capped so hostile files cannot blow up a row."""
    return min(int(value), 1000) if value is not None and value.strip().isdigit() else default


def hwpx_to_corpus_text(path: Path) -> str:
    """HWPX (OWPML zip) -> corpus text: section paragraphs in order, tables as TAB rows."""
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(info.file_size for info in zf.infolist())
            if declared > HWPX_MAX_UNCOMPRESSED_BYTES:
                raise IngestError(
                    f"{path}: HWPX 압축 해제 크기 {declared} 바이트가 한도를 넘습니다 (zip bomb guard)"
                )
            budget = _Budget(HWPX_MAX_UNCOMPRESSED_BYTES)
            sections = _hwpx_section_names(zf, budget)
            if not sections:
                raise IngestError(f"{path}: HWPX 본문(Contents/section*.xml)이 없습니다 (not an HWPX file)")
            flattener = _HwpxFlattener()
            for name in sections:
                flattener.block(_parse_xml(budget.read(zf, name), name))
                flattener.lines.append("")
    except KnowledgeError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise IngestError(f"{path}: 손상된 HWPX(zip) 파일입니다 (bad zip): {exc}") from exc
    except (OSError, RuntimeError, NotImplementedError, ValueError) as exc:
        raise IngestError(f"{path}: HWPX를 읽을 수 없습니다 (unreadable HWPX): {exc}") from exc
    return _finish(flattener.lines)


# ------------------------------------------------------------------------------------ dispatch


def to_corpus_text(path: Path) -> str:
    """Corpus text of ``path``, chosen by its (lower-cased) suffix."""
    suffix = path.suffix.lower()
    if suffix in {".md", ".markdown", ".txt"}:
        return read_text(path)
    if suffix in {".html", ".htm"}:
        return html_to_corpus_text(read_text(path))
    if suffix == ".pdf":
        return pdf_to_corpus_text(path)
    if suffix == ".hwpx":
        return hwpx_to_corpus_text(path)
    if suffix == ".hwp":
        raise UnsupportedFormatError(
            f"{path}: 구형 한글(.hwp) 바이너리 파일은 지원하지 않습니다. 한글에서 HWPX 또는 PDF로 "
            "저장한 뒤 다시 넣어 주세요. (Legacy binary .hwp is not supported; save it as HWPX or PDF.)"
        )
    raise UnsupportedFormatError(
        f"{path}: 지원하지 않는 파일 형식입니다 (unsupported file type {suffix or '(none)'!r}; "
        f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))})"
    )
