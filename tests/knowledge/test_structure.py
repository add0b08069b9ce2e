from pathlib import Path

from knowledge.ingest import corpus_files, load_corpus
from knowledge.ingest.structure import parse_document
from tests.conftest import CORPUS, MINI_DOC


def by_text(chunks, needle):  # type: ignore[no-untyped-def]
    hits = [c for c in chunks if needle in c.text]
    assert hits, f"no chunk contains {needle!r}"
    return hits[0]


def test_mini_document_outline() -> None:
    chunks = parse_document(MINI_DOC, "mini-plan.md")
    budget = by_text(chunks, "소요예산 : 250,000천원")
    assert budget.section == "시범담당관 > 도로과 > 1 포트홀 긴급 보수 사업 > 사업개요"
    assert budget.department == "도로과"
    assert "사업기간 : 2026. 3. ~ 11." in budget.text  # short sibling items share a chunk
    patrol = by_text(chunks, "매주 화요일 야간 순찰")
    assert patrol.section.endswith("1 포트홀 긴급 보수 사업 > 추진계획 > 야간 순찰 강화")
    lamp = by_text(chunks, "80,000천원")
    assert "2 가로등 교체 사업" in lamp.section
    row = by_text(chunks, "정원 — 계: 12")
    assert row.kind == "row" and "민원팀: 5" in row.text and row.text.endswith("(단위 : 명)")
    money = by_text(chunks, "전년도 예산액(최종): 900")
    assert "(단위 : 천원)" in money.text
    assert money.department == "시범담당관"


def test_line_ranges_point_into_the_source() -> None:
    lines = MINI_DOC.split("\n")
    for c in parse_document(MINI_DOC, "mini-plan.md"):
        assert 1 <= c.line_start <= c.line_end <= len(lines)
    c = by_text(parse_document(MINI_DOC, "mini-plan.md"), "소요예산 : 80,000천원")
    assert "80,000천원" in "\n".join(lines[c.line_start - 1 : c.line_end])


def test_bundled_corpus_structure() -> None:
    chunks, problems = load_corpus(CORPUS)
    assert not problems
    assert {c.document for c in chunks} == {
        "namyangju-2026-planning-coordination-office.md", "namyangju-2026-citizen-mayor-office.md"}
    assert 100 < len(chunks) < 400
    row = by_text(chunks, "2022년: 147개소")
    assert row.section == "기획조정실 > 스마트도시과 > 2 방법용 CCTV 확대 및 개선 > 추진계획"
    smart = by_text(chunks, "소요예산 : 500,000천원")
    assert smart.section == "기획조정실 > 스마트도시과 > 3 스마트 교차로 구축 사업 > 사업개요"
    staff = by_text(chunks, "현원 현장기동팀")
    assert "계: 5" in staff.text and staff.kind == "row"
    voicebot = by_text(chunks, "(보이스봇) 콜센터 업무시간 종료 후")
    assert voicebot.department == "시민시장담당관"
    cell = by_text(chunks, "7,209백만원 → 9,561백만원")
    assert "생애주기 맞춤형 인구정책" in cell.section
    assert not any("<li>" in c.text or "**" in c.text or "<input" in c.text for c in chunks)


def test_corpus_files_skip_notes_and_hidden(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# 가\n내용", encoding="utf-8")
    (tmp_path / "README.md").write_text("note", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "b.md").write_text("x", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("다", encoding="utf-8")
    assert [p.name for p in corpus_files(tmp_path)] == ["a.md", "c.txt"]


def test_unreadable_file_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# 제목\n- 내용 한 줄", encoding="utf-8")
    (tmp_path / "old.hwp").write_bytes(b"\xd0\xcf\x11\xe0 legacy")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    chunks, problems = load_corpus(tmp_path)
    assert chunks and len(problems) == 2
    assert any("broken.pdf" in p for p in problems) and any("old.hwp" in p for p in problems)
