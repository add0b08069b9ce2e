"""Tests for knowledge.ingest.formats: every supported format -> corpus text, and the failures."""

from __future__ import annotations

import unicodedata
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfWriter

from knowledge.errors import IngestError, UnsupportedFormatError
from knowledge.ingest import formats
from knowledge.ingest.formats import (
    SUPPORTED_SUFFIXES,
    html_to_corpus_text,
    hwpx_to_corpus_text,
    pdf_to_corpus_text,
    read_text,
    to_corpus_text,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "corpus_formats"


def _squash(text: str) -> str:
    return "".join(text.split())


# ------------------------------------------------------------------------------- text files


def test_supported_suffixes() -> None:
    assert frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".hwpx"}) == SUPPORTED_SUFFIXES


def test_read_text_cp949_korean_and_crlf() -> None:
    raw = (FIXTURES / "notice_cp949.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the fixture really is cp949, not UTF-8
    text = read_text(FIXTURES / "notice_cp949.txt")
    assert text == "□ 남양주시 공지\n○ 다산동 행정복지센터 민원 안내\n"


def test_read_text_strips_utf8_bom() -> None:
    assert (FIXTURES / "bom_utf8.md").read_bytes().startswith(b"\xef\xbb\xbf")
    text = to_corpus_text(FIXTURES / "bom_utf8.md")
    assert text == "# 기획조정실\n\n- 예산 편성\n"


def test_read_text_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "utf16.txt"
    path.write_bytes("예산 편성\r\n기획조정실\r끝".encode("utf-16"))  # CRLF and a lone CR
    assert read_text(path) == "예산 편성\n기획조정실\n끝"


def test_read_text_nfc_normalises_decomposed_hangul(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "남양주시 민원")
    assert nfd != "남양주시 민원"
    path = tmp_path / "nfd.md"
    path.write_bytes(nfd.encode("utf-8"))
    assert read_text(path) == "남양주시 민원"


@pytest.mark.parametrize("data", [b"\x80\xff\x80\xff", b"abc\x00\x01\x02def"], ids=["garbage", "binary"])
def test_read_text_undecodable_raises_ingest_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(IngestError, match="인코딩"):
        read_text(path)


def test_missing_file_raises_ingest_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError):
        to_corpus_text(tmp_path / "없는파일.md")


# ------------------------------------------------------------------------------------- HTML


def test_html_fixture_to_corpus_text() -> None:
    text = to_corpus_text(FIXTURES / "page.html")
    lines = text.splitlines()
    assert "## 시민시장담당관" in lines
    assert "시민시장 제도는 시민의 목소리를 시정에 반영합니다." in lines  # whitespace collapsed, <b> inline
    assert "문의는 평일에 받습니다." in lines  # <br> starts a new line
    assert "- 민원 접수" in lines
    assert "- 정책 제안" in lines
    assert "### 정원 현황" in lines
    assert "구분\t공무원\t\t비고" in lines  # colspan=2 -> one empty cell after the cell
    assert "정원\t5급\t6급\t2026년" in lines
    header_row = lines.index("구분\t공무원\t\t비고")
    assert lines[header_row - 1] == ""  # blank line before the table
    for gone in (
        "스크립트",
        "tracking",
        "color",
        "주석",
        "사이트맵",
        "머리말",
        "저작권",
        "자바스크립트",
        "<",
    ):
        assert gone not in text, gone


def test_html_rowspan_leaves_following_cells_empty() -> None:
    html = """<table>
      <tr><td rowspan="2">기획예산과</td><td>예산팀</td><td rowspan="3">3층</td></tr>
      <tr><td>기획팀</td></tr>
      <tr><td>법무과</td><td>송무팀</td></tr>
    </table><p>끝</p>"""
    assert html_to_corpus_text(html).splitlines() == [
        "기획예산과\t예산팀\t3층",
        "\t기획팀\t",
        "법무과\t송무팀\t",
        "",
        "끝",
    ]


def test_html_nested_table_and_cell_blocks_stay_in_their_cell() -> None:
    html = (
        "<table><tr><td><p>첫 줄</p><p>둘째 줄</p></td>"
        "<td><table><tr><td>안</td><td>쪽</td></tr></table></td></tr></table>"
    )
    assert html_to_corpus_text(html) == "첫 줄 둘째 줄\t안 쪽\n"


# -------------------------------------------------------------------------------------- PDF


def test_pdf_korean_text_layer_comes_back() -> None:
    text = to_corpus_text(FIXTURES / "korean_text.pdf")
    for expected in (
        "남양주시 시민시장담당관",
        "시민시장 제도는 시민의 목소리를 시정에 반영합니다.",
        "□ 민원 접수: 평일 09:00 ~ 18:00",
        "○ 문의 전화 031-590-0000",
        "다산동 행정복지센터에서 신청할 수 있습니다.",
    ):
        assert _squash(expected) in _squash(text), expected
    lines = text.splitlines()
    first_page_end = next(i for i, line in enumerate(lines) if _squash(line).startswith("□민원접수"))
    assert lines[first_page_end + 1] == ""  # page break -> blank line
    assert all(line == line.strip() for line in lines)


def test_pdf_fixture_is_small() -> None:
    assert (FIXTURES / "korean_text.pdf").stat().st_size < 50_000


def test_pdf_without_text_layer_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "scanned.pdf"
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(path)
    with pytest.raises(UnsupportedFormatError, match="OCR"):
        to_corpus_text(path)


def test_pdf_encrypted_raises_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret", algorithm="RC4-128")
    writer.write(path)
    with pytest.raises(IngestError, match="암호") as info:
        pdf_to_corpus_text(path)
    assert not isinstance(info.value, UnsupportedFormatError)


def test_pdf_corrupt_raises_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\nthis is not really a pdf\n")
    with pytest.raises(IngestError) as info:
        pdf_to_corpus_text(path)
    assert not isinstance(info.value, UnsupportedFormatError)


# ------------------------------------------------------------------------------------- HWPX

_NS = (
    'xmlns:hs="http://www.hancom.co.kr/hwpml/2011/section" '
    'xmlns:hp="http://www.hancom.co.kr/hwpml/2011/paragraph"'
)


def _p(text: str) -> str:
    return f'<hp:p paraPrIDRef="0"><hp:run charPrIDRef="0"><hp:t>{text}</hp:t></hp:run></hp:p>'


def _tc(col: int, row: int, *paragraphs: str, colspan: int = 1) -> str:
    body = "".join(_p(text) for text in paragraphs)
    return (
        f"<hp:tc><hp:subList>{body}</hp:subList>"
        f'<hp:cellAddr colAddr="{col}" rowAddr="{row}"/>'
        f'<hp:cellSpan colSpan="{colspan}" rowSpan="1"/></hp:tc>'
    )


def _section(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><hs:sec {_NS}>{body}</hs:sec>'


def _hpf(*section_ids: str) -> str:
    items = "".join(
        f'<opf:item id="{sid}" href="Contents/{sid}.xml" media-type="application/xml"/>'
        for sid in section_ids
    )
    refs = "".join(f'<opf:itemref idref="{sid}" linear="yes"/>' for sid in section_ids)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<opf:package xmlns:opf="http://www.idpf.org/2007/opf/">'
        '<opf:manifest><opf:item id="header" href="Contents/header.xml" media-type="application/xml"/>'
        f"{items}</opf:manifest>"
        f'<opf:spine><opf:itemref idref="header" linear="yes"/>{refs}</opf:spine></opf:package>'
    )


def _make_hwpx(path: Path, sections: dict[str, str], hpf: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/hwp+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("Contents/header.xml", '<?xml version="1.0"?><hh:head xmlns:hh="urn:x"/>')
        if hpf is not None:
            zf.writestr("Contents/content.hpf", hpf)
        for name, xml in sections.items():
            zf.writestr(f"Contents/{name}.xml", xml)
    return path


def test_hwpx_paragraph_and_2x2_table(tmp_path: Path) -> None:
    page_header = (
        "<hp:p><hp:run><hp:ctrl><hp:header><hp:subList>{}</hp:subList></hp:header></hp:ctrl>"
        "</hp:run></hp:p>".format(_p("쪽 머리말"))
    )
    table = (
        '<hp:p><hp:run><hp:tbl rowCnt="2" colCnt="2">'
        f"<hp:tr>{_tc(0, 0, '구분')}{_tc(1, 0, '담당 업무')}</hp:tr>"
        f"<hp:tr>{_tc(0, 1, '예산팀')}{_tc(1, 1, '본예산 편성', '추경 편성')}</hp:tr>"
        "</hp:tbl></hp:run></hp:p>"
    )
    body = (
        page_header
        + _p("기획조정실  주요 업무")
        + "<hp:p><hp:run><hp:t>첫 줄<hp:lineBreak/>둘째 줄<hp:tab/>탭 뒤</hp:t></hp:run></hp:p>"
        + table
        + _p("○ 표 다음 문단")
    )
    path = _make_hwpx(tmp_path / "doc.hwpx", {"section0": _section(body)}, _hpf("section0"))
    assert to_corpus_text(path).splitlines() == [
        "기획조정실 주요 업무",
        "첫 줄",
        "둘째 줄 탭 뒤",
        "",
        "구분\t담당 업무",
        "예산팀\t본예산 편성 추경 편성",
        "",
        "○ 표 다음 문단",
    ]


def test_hwpx_merged_cells_keep_the_grid(tmp_path: Path) -> None:
    table = (
        '<hp:p><hp:run><hp:tbl rowCnt="2" colCnt="3">'
        f"<hp:tr>{_tc(0, 0, '구분')}{_tc(1, 0, '정원', colspan=2)}</hp:tr>"
        f"<hp:tr>{_tc(1, 1, '5급')}</hp:tr>"
        "</hp:tbl></hp:run></hp:p>"
    )
    path = _make_hwpx(tmp_path / "merged.hwpx", {"section0": _section(table)})
    assert hwpx_to_corpus_text(path) == "구분\t정원\t\n\t5급\t\n"


def test_hwpx_follows_spine_order(tmp_path: Path) -> None:
    sections = {"section0": _section(_p("영번 구역")), "section1": _section(_p("일번 구역"))}
    path = _make_hwpx(tmp_path / "spine.hwpx", sections, _hpf("section1", "section0"))
    assert hwpx_to_corpus_text(path) == "일번 구역\n\n영번 구역\n"


def test_hwpx_without_hpf_sorts_sections_numerically(tmp_path: Path) -> None:
    sections = {f"section{i}": _section(_p(f"구역 {i}")) for i in (10, 2, 0)}
    path = _make_hwpx(tmp_path / "nohpf.hwpx", sections)
    assert hwpx_to_corpus_text(path).split() == ["구역", "0", "구역", "2", "구역", "10"]


def test_hwpx_corrupt_zip_raises_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.hwpx"
    path.write_bytes(b"PK\x03\x04 this zip was cut short")
    with pytest.raises(IngestError, match="zip"):
        to_corpus_text(path)


def test_hwpx_without_sections_raises_ingest_error(tmp_path: Path) -> None:
    path = _make_hwpx(tmp_path / "empty.hwpx", {})
    with pytest.raises(IngestError, match="section"):
        hwpx_to_corpus_text(path)


def test_hwpx_malformed_xml_raises_ingest_error(tmp_path: Path) -> None:
    path = _make_hwpx(tmp_path / "badxml.hwpx", {"section0": "<hs:sec><hp:p>"})
    with pytest.raises(IngestError, match="XML"):
        hwpx_to_corpus_text(path)


def test_hwpx_zip_bomb_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _make_hwpx(tmp_path / "big.hwpx", {"section0": _section(_p("가" * 5000))})
    assert "가" * 5000 in hwpx_to_corpus_text(path)
    monkeypatch.setattr(formats, "HWPX_MAX_UNCOMPRESSED_BYTES", 4096)
    with pytest.raises(IngestError, match="zip bomb"):
        hwpx_to_corpus_text(path)


# --------------------------------------------------------------------------------- dispatch


def test_legacy_hwp_is_unsupported_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "공문.HWP"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # OLE2 signature of binary .hwp
    with pytest.raises(UnsupportedFormatError) as info:
        to_corpus_text(path)
    message = str(info.value)
    assert "HWPX" in message and "PDF" in message and "저장" in message and "save" in message


def test_unknown_suffix_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "report.docx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(UnsupportedFormatError, match="docx"):
        to_corpus_text(path)


def test_suffix_dispatch_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "PAGE.HTM"
    path.write_text("<h1>공지</h1><script>x()</script>", encoding="utf-8")
    assert to_corpus_text(path) == "# 공지\n"
