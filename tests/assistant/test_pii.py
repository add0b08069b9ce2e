"""PII masking: every positive case must be masked completely, every negative case left unchanged;
the logging filter and the JSON formatter must mask message, args, extra fields and exceptions."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from assistant.logs import JsonFormatter, configure_logging, request_id_var, session_id_var
from assistant.pii import (
    ACCOUNT_TOKEN,
    ADDRESS_TOKEN,
    CARD_TOKEN,
    EMAIL_TOKEN,
    PHONE_TOKEN,
    RRN_TOKEN,
    PiiMaskingFilter,
    mask_pii,
    mask_value,
)

# (sentence, the personal data in it, the token that must replace it)
POSITIVE: list[tuple[str, str, str]] = [
    # 주민등록번호: with/without hyphen or space, before and after 2020 (random tail), foreigners
    ("제 주민등록번호는 900101-1234567입니다.", "900101-1234567", RRN_TOKEN),
    ("주민번호 9001011234567 로 조회해 주세요", "9001011234567", RRN_TOKEN),
    ("주민번호 900101 1234567 확인 부탁드립니다", "900101 1234567", RRN_TOKEN),
    ("아이 주민번호는 210315-3987654이에요", "210315-3987654", RRN_TOKEN),
    ("2020년 이후 발급 201130-4000001 입니다", "201130-4000001", RRN_TOKEN),
    ("외국인등록번호 850505-5123456", "850505-5123456", RRN_TOKEN),
    ("윤년생 000229-3123456 맞습니다", "000229-3123456", RRN_TOKEN),
    ("주민번호900101-2234567이고요", "900101-2234567", RRN_TOKEN),
    ("앞자리만 900101-1****** 로 적었어요", "900101-1******", RRN_TOKEN),
    # phone numbers
    ("연락처는 010-1234-5678로 주세요", "010-1234-5678", PHONE_TOKEN),
    ("제 번호 010 1234 5678 입니다", "010 1234 5678", PHONE_TOKEN),
    ("휴대폰 01012345678로 문자 주세요", "01012345678", PHONE_TOKEN),
    ("집 전화는 02-123-4567입니다", "02-123-4567", PHONE_TOKEN),
    ("민원 담당 031-590-1234로 전화했어요", "031-590-1234", PHONE_TOKEN),
    ("해외에서 +82 10-1234-5678 로 연락 바랍니다", "+82 10-1234-5678", PHONE_TOKEN),
    ("사무실 (031)590-1234 입니다", "(031)590-1234", PHONE_TOKEN),
    ("사무실 (031) 590-1234 입니다", "(031) 590-1234", PHONE_TOKEN),
    ("사무실 031)590-1234 입니다", "031)590-1234", PHONE_TOKEN),
    ("번호가 010.1234.5678 이에요", "010.1234.5678", PHONE_TOKEN),
    ("옛날 번호 011-123-4567 도 있어요", "011-123-4567", PHONE_TOKEN),
    ("인터넷전화 070-1234-5678", "070-1234-5678", PHONE_TOKEN),
    ("안심번호 0505-123-4567로 연결", "0505-123-4567", PHONE_TOKEN),
    ("국제 +82-31-590-1234 번", "+82-31-590-1234", PHONE_TOKEN),
    ("국제 +821012345678 번", "+821012345678", PHONE_TOKEN),
    ("집 0315901234 입니다", "0315901234", PHONE_TOKEN),
    ("전화번호는 590-1234입니다", "590-1234", PHONE_TOKEN),
    # bank accounts
    ("환불은 신한은행 110-123-456789로 입금해 주세요", "110-123-456789", ACCOUNT_TOKEN),
    ("계좌번호 국민은행 123456-01-123456 입니다", "123456-01-123456", ACCOUNT_TOKEN),
    ("우리은행 1002-123-456789 예금주 홍길동", "1002-123-456789", ACCOUNT_TOKEN),
    ("카카오뱅크 3333-01-1234567로 보내 주세요", "3333-01-1234567", ACCOUNT_TOKEN),
    ("농협 302-1234-5678-11 통장으로", "302-1234-5678-11", ACCOUNT_TOKEN),
    ("통장 번호 3021234567811로 환급 부탁합니다", "3021234567811", ACCOUNT_TOKEN),
    ("계좌 110 123 456789 로 이체", "110 123 456789", ACCOUNT_TOKEN),
    ("환불 받을 곳 1002-987-654321", "1002-987-654321", ACCOUNT_TOKEN),
    # e-mail
    ("답변은 hong.gildong@naver.com으로 보내주세요", "hong.gildong@naver.com", EMAIL_TOKEN),
    ("메일 kim_01+civil@korea.kr 로", "kim_01+civil@korea.kr", EMAIL_TOKEN),
    # card numbers
    ("카드번호 1234-5678-9012-3456 결제", "1234-5678-9012-3456", CARD_TOKEN),
    ("카드 4111 1111 1111 1111 로 냈어요", "4111 1111 1111 1111", CARD_TOKEN),
    ("카드 4111111111111111 로 냈어요", "4111111111111111", CARD_TOKEN),
    # street addresses (road-name, lot, flats)
    ("남양주시 별내3로 308 앞에 쓰레기가 있어요", "별내3로 308", ADDRESS_TOKEN),
    ("진접읍 해밀예당1로 12-3 가로등이 꺼졌어요", "해밀예당1로 12-3", ADDRESS_TOKEN),
    ("금곡동 123-45번지 불법 주차 신고합니다", "123-45번지", ADDRESS_TOKEN),
    ("OO아파트 101동 1203호에 살아요", "101동 1203호", ADDRESS_TOKEN),
    ("다산중앙로123번길 20 앞 도로가 파였어요", "다산중앙로123번길 20", ADDRESS_TOKEN),
    ("진건읍 사릉로 123번길 45에서", "사릉로 123번길 45", ADDRESS_TOKEN),
    ("경춘로 1037 (금곡동) 앞 신호등", "경춘로 1037", ADDRESS_TOKEN),
    ("화도읍 마석우리 123-4 하천 악취", "123-4", ADDRESS_TOKEN),
    ("장현리 산12-3 불법 벌목", "산12-3", ADDRESS_TOKEN),
    ("금곡동 185-10 일대 불법 주차", "185-10", ADDRESS_TOKEN),
    ("와부읍 덕소리 123-4 배수로", "123-4", ADDRESS_TOKEN),
    ("수동면 운수리 산 23 산사태", "산 23", ADDRESS_TOKEN),
    ("오남읍 진건오남로 500 입니다", "진건오남로 500", ADDRESS_TOKEN),
    ("래미안아파트 102동 앞 포트홀", "102동", ADDRESS_TOKEN),
    ("행복빌라 201호 누수", "201호", ADDRESS_TOKEN),
    ("B동 203호 소음", "B동 203호", ADDRESS_TOKEN),
]

# sentences that must come back unchanged
NEGATIVE: list[str] = [
    "사업기간 : 2026. 1. 6. ~ 2026. 11. 22.",
    "접수일 2026-11-22, 처리기한 2026-12-01",
    "2026.11 준공 예정",
    "2026년 1월 6일 18:00에 접수",
    "운영시간 09:00~18:00",
    "소요예산 1,471,858천원",
    "총사업비 253,363백만원",
    "도로 파임(포트홀) 1,062개소 긴급 보수",
    "접수번호 NYJ-20261122-0001 로 조회하세요",
    "NYJ-20261122-0001",
    "1-4번 버스가 안 와요",
    "202번 버스 배차간격",
    "8002번 광역버스",
    "M2316 버스 정류장",
    "버스로 8002 타고 왔어요",
    "전년 대비 12.5% 증가",
    "국비 50% 지원",
    "만족도 87.3%",
    "제2026-123호 공문",
    "2026-2030년 중장기 계획",
    "노후 가로등 300개 교체",
    "도로 12개소 정비",
    "학교로 10시까지 오세요",
    "별도로 2026. 3. 에 시행",
    "그대로 3개월 유지",
    "대표번호 1588-1234",
    "인구 1,000,000명",
    "정원 12명, 현원 11명",
    "1단계로 2026년 추진",
    "지하철 4호선",
    "버전 v1.2.3 배포",
    "예산 1,200 전년도 900",
    "3,000원 환불 완료",
    "계좌 개설 2026-01-06 예정",
    "운동 3회 관리 2건",
    "도시관리 2 부서, 민원처리 3 단계",
    "덕소리 주민 300명, 별내동 1000세대, 호평동 일대 3곳",
    "1층 101호실 옆 2호 안건",
    "국도 47호선과 4호선",
    "마을버스 9-2번, 버스 1-4 운행",
    "IPv4 192.168.0.1, COVID-19, ISO 9001, 주차장 A-12 구역",
    "10-20대 청년 3~5개월",
    "농협 2026-11-22 입금 예정, 입금 20261122",
    "2,000,000원을 국민은행으로 입금",
    "",
]


@pytest.mark.parametrize(("text", "secret", "token"), POSITIVE, ids=[p[1] for p in POSITIVE])
def test_positive_cases_are_masked(text: str, secret: str, token: str) -> None:
    masked = mask_pii(text)
    assert secret not in masked
    assert token in masked
    # the digits of the secret must be gone entirely
    digits = "".join(ch for ch in secret if ch.isdigit())
    assert digits == "" or digits not in "".join(ch for ch in masked if ch.isdigit())


@pytest.mark.parametrize("text", NEGATIVE)
def test_negative_cases_are_unchanged(text: str) -> None:
    assert mask_pii(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("연락처는 010-1234-5678로 주세요", "연락처는 [전화번호]로 주세요"),
        ("진접읍 해밀예당1로 12-3 가로등", "진접읍 [주소] 가로등"),
        ("금곡동 123-45번지", "금곡동 [주소]"),
        ("OO아파트 101동 1203호", "OO아파트 [주소]"),
        ("주민번호 900101-1234567, 전화 010-1234-5678, 메일 a@b.kr",
         "주민번호 [주민번호], 전화 [전화번호], 메일 [이메일]"),
    ],
)
def test_exact_output(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "991332-1234567",  # month 13: not a date, so not an RRN
        "900230-1234567",  # 30 February
        "4111111111111112",  # 16 digits failing Luhn, no bank nearby
    ],
)
def test_invalid_numbers_are_not_masked_as_such(text: str) -> None:
    assert mask_pii(text) == text


def test_idempotent() -> None:
    for text, _, _ in POSITIVE:
        once = mask_pii(text)
        assert mask_pii(once) == once


def test_mask_value_recurses() -> None:
    value = {"a": "010-1234-5678", "b": ["900101-1234567", 5], "c": {"d": None, "e": 1.5}}
    assert mask_value(value) == {"a": PHONE_TOKEN, "b": [RRN_TOKEN, 5], "c": {"d": None, "e": 1.5}}


# --- logging -----------------------------------------------------------------------------------

PHONE = "010-1234-5678"
RRN = "900101-1234567"


@pytest.fixture()
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PiiMaskingFilter())
    logger = logging.getLogger("tests.pii.captured")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_filter_masks_message_and_args() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "call %s about %s", (PHONE, RRN), None)
    assert PiiMaskingFilter().filter(record) is True
    assert record.getMessage() == f"call {PHONE_TOKEN} about {RRN_TOKEN}"
    assert PHONE not in record.getMessage() and RRN not in record.getMessage()


def test_filter_masks_fields_and_exception() -> None:
    try:
        raise ValueError(f"bad citizen {RRN}")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    record.fields = {"phone": PHONE}
    PiiMaskingFilter().filter(record)
    assert record.fields == {"phone": PHONE_TOKEN}
    assert record.exc_text is not None
    assert RRN not in record.exc_text and RRN_TOKEN in record.exc_text
    text = logging.Formatter().format(record)
    assert RRN not in text and PHONE not in text


def test_filter_survives_bad_format_string() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", (PHONE,), None)
    PiiMaskingFilter().filter(record)
    assert PHONE not in record.getMessage()


def test_json_formatter_masks_message_args_and_extra(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    token_s = session_id_var.set("sess-1")
    token_r = request_id_var.set("req-9")
    try:
        logger.info("citizen %s said %s", PHONE, f"내 주민번호는 {RRN}",
                    extra={"fields": {"caller": PHONE, "note": {"rrn": RRN}, "count": 3, "level": "x"}})
    finally:
        session_id_var.reset(token_s)
        request_id_var.reset(token_r)
    raw = stream.getvalue()
    assert PHONE not in raw and RRN not in raw
    (rec,) = records(stream)
    assert rec["message"] == f"citizen {PHONE_TOKEN} said 내 주민번호는 {RRN_TOKEN}"
    assert rec["caller"] == PHONE_TOKEN
    assert rec["note"] == {"rrn": RRN_TOKEN}
    assert rec["count"] == 3
    assert rec["extra_level"] == "x"  # standard keys are never overwritten
    assert rec["level"] == "INFO"
    assert rec["logger"] == "tests.pii.captured"
    assert rec["session_id"] == "sess-1" and rec["request_id"] == "req-9"
    assert isinstance(rec["ts"], str) and rec["ts"].endswith("Z") and "T" in rec["ts"]


def test_json_formatter_without_filter_still_masks() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "call %s", (PHONE,), None)
    record.fields = {"rrn": RRN}
    out = json.loads(formatter.format(record))
    assert out["message"] == f"call {PHONE_TOKEN}"
    assert out["rrn"] == RRN_TOKEN
    assert out["session_id"] is None and out["request_id"] is None


def test_json_formatter_masks_exceptions(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise RuntimeError(f"lookup failed for {PHONE}")
    except RuntimeError:
        logger.exception("error")
    (rec,) = records(stream)
    assert isinstance(rec["exc"], str)
    assert PHONE not in rec["exc"] and PHONE_TOKEN in rec["exc"] and "RuntimeError" in rec["exc"]


def test_configure_logging_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        configure_logging("debug", json_logs=True)
        configure_logging("INFO", json_logs=True)
        ours = [h for h in root.handlers if h not in before]
        assert len(ours) == 1
        assert root.level == logging.INFO
        for name in ("faiss", "bm25s", "httpx", "urllib3"):
            assert logging.getLogger(name).level == logging.WARNING
        logging.getLogger("tests.pii.root").info("전화 %s", PHONE)
        err = capsys.readouterr().err
        lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert any(line["message"] == f"전화 {PHONE_TOKEN}" for line in lines)
        assert PHONE not in err
        configure_logging("WARNING", json_logs=False)
        ours = [h for h in root.handlers if h not in before]
        assert len(ours) == 1 and not isinstance(ours[0].formatter, JsonFormatter)
        with pytest.raises(ValueError):
            configure_logging("LOUD", json_logs=True)
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)
        root.setLevel(level)
