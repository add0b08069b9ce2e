"""voice.speech_text: Korean text normalisation for speech, table-driven."""

from __future__ import annotations

import pytest

from voice.speech_text import (
    format_won,
    native_korean,
    read_digits,
    read_won,
    sino_korean,
    to_speech,
    truncate_at_sentence,
)


@pytest.mark.parametrize(("n", "spoken"), [
    (0, "영"), (1, "일"), (10, "십"), (11, "십일"), (20, "이십"), (100, "백"), (110, "백십"), (1000, "천"),
    (1062, "천육십이"), (2026, "이천이십육"), (10000, "만"), (15000, "만 오천"), (110000, "십일만"),
    (100000000, "일억"), (100010000, "일억 일만"), (1471858000, "십사억 칠천백팔십오만 팔천"),
    (1000000000000, "일조"), (-5, "마이너스 오"),
])
def test_sino_korean(n: int, spoken: str) -> None:
    assert sino_korean(n) == spoken


@pytest.mark.parametrize(("n", "attributive", "spoken"), [
    (1, True, "한"), (1, False, "하나"), (2, True, "두"), (3, True, "세"), (4, True, "네"), (5, True, "다섯"),
    (10, True, "열"), (11, True, "열한"), (12, True, "열두"), (20, True, "스무"), (20, False, "스물"),
    (21, True, "스물한"), (35, True, "서른다섯"), (99, True, "아흔아홉"), (100, True, "백"), (0, True, "영"),
])
def test_native_korean(n: int, attributive: bool, spoken: str) -> None:
    assert native_korean(n, attributive) == spoken


@pytest.mark.parametrize(("won", "approximate", "written", "spoken"), [
    (1471858000, False, "14억 7,185만 8천 원", "십사억 칠천백팔십오만 팔천 원"),
    (1471858000, True, "약 14억 7천만 원", "약 십사억 칠천만 원"),
    (253363000000, False, "2,533억 6,300만 원", "이천오백삼십삼억 육천삼백만 원"),
    (253363000000, True, "약 2,533억 6천만 원", "약 이천오백삼십삼억 육천만 원"),
    (250000000, True, "2억 5천만 원", "이억 오천만 원"),  # already round: no "약"
    (1999600000, True, "약 20억 원", "약 이십억 원"),  # rounding carries into the top group
    (9600000, True, "960만 원", "구백육십만 원"),  # top group 만: kept whole
    (8500, True, "8,500 원", "팔천오백 원"),  # under 만: exact
    (0, False, "0원", "영 원"),
])
def test_money(won: int, approximate: bool, written: str, spoken: str) -> None:
    assert format_won(won, approximate) == written
    assert read_won(won, approximate) == spoken


def test_read_digits() -> None:
    assert read_digits("010") == "공일공"
    assert read_digits("2026", zero="영") == "이영이육"


# (input, the spoken text must contain each of these, ... and none of these)
CASES: list[tuple[str, list[str], list[str]]] = [
    # numbers
    ("1,062개소", ["천육십이개소"], ["1"]),
    ("2026년", ["이천이십육년"], []),
    ("3.14", ["삼 점 일사"], []),
    ("0.5", ["영 점 오"], []),
    ("접수 0001번", ["영 영 영 일"], []),
    # money as written in the plans
    ("소요예산 : 1,471,858천원", ["십사억 칠천백팔십오만 팔천 원"], ["천원"]),
    ("253,363백만원", ["이천오백삼십삼억 육천삼백만 원"], []),
    ("250,000천원", ["이억 오천만 원"], []),
    ("1.5억원", ["일억 오천만 원"], []),
    ("10,000원", ["만 원"], ["일만"]),
    ("8천 원", ["팔천 원"], []),
    ("14억 7,185만 8천 원", ["십사억 칠천백팔십오만 팔천 원"], []),
    # dates (6월 유월, 10월 시월)
    ("2026. 1. 6.", ["이천이십육년 일월 육일"], []),
    ("2026.11", ["이천이십육년 십일월"], []),
    ("2026년 7월 27일", ["이천이십육년 칠월 이십칠일"], []),
    ("2026-11-22", ["이천이십육년 십일월 이십이일"], []),
    ("6월과 10월", ["유월과 시월"], ["육월", "십월"]),
    ("6개월", ["육개월"], ["유"]),
    ("'25년 대비", ["이천이십오년 대비"], []),
    ("사업기간 : 2026. 3. ~ 11.", ["이천이십육년 삼월부터 십일월까지"], []),
    ("2026. 1. 6. ~ 1. 9.", ["이천이십육년 일월 육일부터 일월 구일까지"], []),
    ("1월~3월", ["일월부터 삼월까지"], []),
    ("○ 기 간 : 2026. 1. ~ 2026. 12.", ["이천이십육년 일월부터 이천이십육년 십이월까지."], []),
    ("- 사업기간: 2026. 1. 1. ~ 12. 31.", ["이천이십육년 일월 일일부터 십이월 삼십일일까지."], []),
    ("「1일 명예시장」", ["일일 명예시장"], ["「", "」"]),
    # times (24-hour clock, native hours)
    ("18:00", ["오후 여섯 시"], []),
    ("09:30", ["오전 아홉 시 삼십 분"], []),
    ("12시", ["낮 열두 시"], []),
    ("0시", ["밤 열두 시"], []),
    ("오후 6시", ["오후 여섯 시"], ["오후 오후"]),
    ("오후 1~3시", ["오후 한 시부터 세 시까지"], ["오전"]),
    ("9시 30분", ["오전 아홉 시 삼십 분"], []),
    ("보이스봇은 18시~익일9시에 운영합니다", ["보이스봇은 오후 여섯 시부터 다음 날 오전 아홉 시까지 운영합니다"],
     ["까지에"]),
    ("18:00~09:00", ["오후 여섯 시부터 다음 날 오전 아홉 시까지"], []),
    ("9~18시", ["오전 아홉 시부터 오후 여섯 시까지"], []),
    ("평일(월~금) 09:00-18:00", ["월요일부터 금요일까지", "오전 아홉 시부터 오후 여섯 시까지"], ["(", "~"]),
    ("2026. 1. 6.(화)", ["이천이십육년 일월 육일 화요일"], []),
    # counters: native where Korean uses them, Sino otherwise
    ("5명", ["다섯 명"], []),
    ("3대", ["세 대"], []),
    ("차량 3대 운영", ["세 대"], []),
    ("3대가 있습니다", ["세 대가"], []),
    ("3대 과제", ["삼대 과제"], []),
    ("4곳", ["네 곳"], []),
    ("7살", ["일곱 살"], []),
    ("20명", ["스무 명"], []),
    ("21개", ["스물한 개"], []),
    ("120명", ["백이십 명"], []),
    ("2시간 30분", ["두 시간 삼십분"], []),
    ("24시간 365일", ["스물네 시간 삼백육십오일"], []),
    ("1번째와 2번째", ["첫 번째와 두 번째"], []),
    ("65세 이상", ["육십오세"], []),
    ("5~10명", ["다섯 명부터 열 명까지"], []),
    ("100~200만원", ["백만 원부터 이백만 원까지"], []),
    # percent and units
    ("12.5%", ["십이 점 오 퍼센트"], ["%"]),
    ("3%p 상승", ["삼 퍼센트포인트"], []),
    ("3~5%", ["삼 퍼센트부터 오 퍼센트까지"], []),
    ("1,200㎡", ["천이백 제곱미터"], []),
    ("3km", ["삼 킬로미터"], []),
    # phone and receipt numbers: digit by digit with pauses
    ("010-1234-5678", ["공일공, 일이삼사, 오육칠팔"], []),
    ("031-590-2114", ["공삼일, 오구공, 이일일사"], []),
    ("1588-1234", ["일오팔팔, 일이삼사"], []),
    ("01012345678", ["공일공, 일이삼사, 오육칠팔"], []),
    ("접수번호 NYJ-20261122-0001 입니다", ["엔 와이 제이, 이 공 이 육 일 일 이 이, 공 공 공 일"], ["NYJ"]),
    # markup, bullets, parentheses, acronyms
    ("- 사업내용 : 도로 파임(포트홀) 보수", ["사업내용 : 도로 파임, 포트홀, 보수"], ["-", "("]),
    ("□ 재정현황\n○ 예산", ["재정현황. 예산."], ["□", "○"]),
    ("## 제목\n**굵게** `코드` [링크](https://example.com)", ["제목. 굵게 코드 링크."], ["#", "*", "http"]),
    ("교통·안전", ["교통, 안전"], ["·"]),
    ("민원(civil complaint) 접수", ["민원 접수"], ["civil"]),
    ("CCTV 설치", ["씨씨티브이 설치"], ["CCTV"]),
    ("“따옴표” '인용'", ["따옴표 인용"], ["“", "'"]),
]


@pytest.mark.parametrize(("text", "present", "absent"), CASES, ids=[c[0][:30] for c in CASES])
def test_to_speech(text: str, present: list[str], absent: list[str]) -> None:
    spoken = to_speech(text)
    for part in present:
        assert part in spoken, spoken
    for part in absent:
        assert part not in spoken, spoken


def test_approximate_money() -> None:
    assert to_speech("총 1,471,858천원", approximate=True) == "총 약 십사억 칠천만 원."
    assert to_speech("약 1,471,858천원", approximate=True) == "약 십사억 칠천만 원."  # no "약 약"
    assert to_speech("253,363백만원", approximate=True) == "약 이천오백삼십삼억 육천만 원."


def test_no_digits_left_in_a_plan_excerpt() -> None:
    excerpt = ("1 포트홀 긴급 보수 사업\n□ 사업개요\n- 사업기간 : 2026. 3. ~ 11.\n- 소요예산 : 250,000천원\n"
               "- 사업내용 : 도로 파임(포트홀) 1,062개소 긴급 보수\n- 문의 : 031-590-2114 (평일 09:00~18:00)")
    spoken = to_speech(excerpt)
    assert not any(c.isdigit() for c in spoken), spoken
    assert "이억 오천만 원" in spoken and "천육십이개소" in spoken and "공삼일, 오구공, 이일일사" in spoken


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "- ", "()", "**"])
def test_nothing_to_say(text: str) -> None:
    assert to_speech(text) == ""


def test_sentences_end_with_punctuation_and_lines_are_separated() -> None:
    assert to_speech("첫째 줄\n둘째 줄") == "첫째 줄. 둘째 줄."
    assert to_speech("질문입니까?") == "질문입니까?"


def test_long_text_is_cut_at_a_sentence_boundary() -> None:
    sentence = "민원 접수는 남양주시 민원콜센터로 문의하세요. "
    spoken = to_speech(sentence * 200, max_chars=300)
    assert len(spoken) <= 300
    assert spoken.endswith("문의하세요.")


def test_truncate_without_boundaries() -> None:
    assert truncate_at_sentence("가" * 50, 10) == "가" * 10
    assert truncate_at_sentence("하나 둘 셋 넷 다섯", 8) == "하나 둘 셋"
    assert truncate_at_sentence("짧다.", 10) == "짧다."


def test_shell_metacharacters_are_plain_text() -> None:
    spoken = to_speech('"; rm -rf / # $(reboot) `id`')
    assert "rm -rf" in spoken and "$" in spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("상담원 연결은 0번을 눌러 주세요.", "상담원 연결은 공번을 눌러 주세요."),
    ("접수번호는 NYJ-20261122-0001입니다.", "접수번호는 엔 와이 제이, 이 공 이 육 일 일 이 이, 공 공 공 일입니다."),
])
def test_keypad_keys_and_receipts_followed_by_particles(text: str, spoken: str) -> None:
    assert to_speech(text) == spoken
