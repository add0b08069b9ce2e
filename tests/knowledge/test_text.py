from knowledge.ingest.text import cell_lines, clean_inline, despace, is_noise, split_marker


def test_despace_collapses_letter_spaced_words_only() -> None:
    assert despace("기 획 조 정 실") == "기획조정실"
    assert despace("구 분") == "구분"
    assert despace("위 치 : 남양주시") == "위치 : 남양주시"
    assert despace("직제 및 정·현원") == "직제 및 정·현원"  # "및" is a word of its own
    assert despace("이사비 최대 40만원") == "이사비 최대 40만원"


def test_clean_inline_strips_markup_and_keeps_wide_gaps_as_word_breaks() -> None:
    assert clean_inline("**일반현황(시설현황)**") == "일반현황(시설현황)"
    assert clean_inline('<input type="checkbox"/> 주요 추진과제(사업)') == "주요 추진과제(사업)"
    assert clean_inline("<b>정 원</b>") == "정원"
    assert clean_inline("시 민 시 장 담 당 관      업 우 원") == "시민시장담당관 업우원"
    assert clean_inline("A &amp; B") == "A & B"


def test_noise_lines() -> None:
    assert is_noise("---")
    assert is_noise("<현행>")
    assert is_noise("   ")
    assert not is_noise("<b>정원</b> 18")


def test_cell_lines_split_html_lists_and_inline_bullets() -> None:
    cell = ('<ul style="list-style-type: none"><li>① 첫째 과제</li><li>② 둘째 과제</li></ul>')
    assert cell_lines(cell) == ["① 첫째 과제", "② 둘째 과제"]
    flat = "• 신규추진 청년 지원 <ul> - 이사비 최대 40만원</ul> • 확대추진 봉투 지원 - ① 대상 확대"
    lines = cell_lines(flat)
    assert lines[0].startswith("• 신규추진")
    assert "- 이사비 최대 40만원" in lines
    assert "① 대상 확대" in lines  # a lone "-" before a numbered item does not become a line


def test_split_marker() -> None:
    assert split_marker("- 사업기간 : 2026") == ("-", "사업기간 : 2026")
    assert split_marker("○ 기대효과") == ("○", "기대효과")
    assert split_marker("① 지원대상 확대") == ("①", "지원대상 확대")
    assert split_marker("-1,000원 감액") == ("", "-1,000원 감액")
    assert split_marker("평문 문장") == ("", "평문 문장")
