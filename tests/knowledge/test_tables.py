from knowledge.ingest.tables import split_row, table_records


def rows(text: str) -> list[tuple[int, list[str]]]:
    out = []
    for i, line in enumerate(text.strip("\n").split("\n"), start=1):
        cells = split_row(line)
        if cells is not None:
            out.append((i, cells))
    return out


def texts(records) -> list[str]:  # type: ignore[no-untyped-def]
    return ["\n".join(r.lines) for r in records]


def test_merged_two_row_header_and_units() -> None:
    t = rows("버스정보 시스템\t교통 CCTV\t\t\t방범CCTV\n"
             "\t교통관제\t버스 승강장\t스마트 교차로\t일반방범\n"
             "1,062개소\t206개소\t577개소\t113개소\t1,896개소 (6,249대)")
    recs, cols = table_records(t)
    assert not cols
    [rec] = texts(recs)
    assert "교통 CCTV 스마트 교차로: 113개소" in rec
    assert "버스정보 시스템: 1,062개소" in rec
    assert "방범CCTV 일반방범: 1,896개소 (6,249대)" in rec


def test_row_labels_fill_down_and_extra_label_cells_shift_values() -> None:
    t = rows("구 분\t계\t일 반 직\t\t임기제\n"
             "\t\t소계\t5급\t\n"
             "정 원\t18\t18\t1\t\n"
             "현원\t합 계\t21\t15\t1\n"
             "\t현장기동팀\t5\t5\t-")
    recs, _ = table_records(t, caption="단위 : 명")
    r = texts(recs)
    assert r[0].startswith("정원 — 계: 18, 일반직 소계: 18, 일반직 5급: 1")
    assert r[1].startswith("현원 합계 — 계: 21, 일반직 소계: 15")
    assert r[2].startswith("현원 현장기동팀 — 계: 5, 일반직 소계: 5, 일반직 5급: -")
    assert all(x.endswith("(단위 : 명)") for x in r)


def test_header_with_years_and_value_only_row() -> None:
    t = rows("총 계\t~ 2021년\t2022년\t2023년\n1,947 개소\t1,545개소\t147개소\t91개소")
    [rec] = texts(table_records(t, caption="연도별 설치 현황")[0])
    assert "2022년: 147개소" in rec and rec.endswith("(연도별 설치 현황)")


def test_key_value_table_without_header() -> None:
    t = rows("기 획 조 정 실 장\t오 철 수\n예 산 과 장\t안 병 찬")
    [rec] = texts(table_records(t)[0])
    assert rec == "기획조정실장: 오철수\n예산과장: 안병찬"


def test_text_grid_becomes_one_record_per_column() -> None:
    t = rows("기획조정실\t\t\n정책기획과\t의회법무과\t인사과\n기획팀\t의회법무팀\t인사기획팀\n정책팀\t납세자보호관\t인사운영팀")
    recs, cols = table_records(t)
    assert not recs
    assert "의회법무과: 의회법무팀, 납세자보호관 (기획조정실)" in texts(cols)


def test_text_rows_with_html_lists_become_labelled_items() -> None:
    t = rows("추진전략\t중점 추진과제\n"
             "1. 전략 하나\t<ul><li>① 과제 가</li><li>② 과제 나</li></ul>")
    recs, _ = table_records(t)
    [rec] = recs
    assert not rec.structured and rec.label == "1. 전략 하나"
    assert rec.lines == ("① 과제 가", "② 과제 나")


def test_markdown_pipe_rows_and_separator() -> None:
    assert split_row("|----|-----|") is None
    assert split_row("| 1. | 더 나은 적극행정 |") == ["1.", "더 나은 적극행정"]
