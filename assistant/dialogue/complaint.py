"""Complaint intake and status look-up as dialogue forms.

Intake: what happened (taken from the first message when it already describes the problem), where,
when (optional), consent to personal data, contact phone (only with consent), read-back for
confirmation, then routing and filing: the receipt number is given only after the complaint is
committed. Without consent the report is still filed, without contact details. Status: receipt
number + the last four digits of the phone given at intake.
"""

from __future__ import annotations

import re

from .callback import extract_free, extract_phone, mask_phone
from .forms import FormSpec, SlotSpec, is_no, is_yes, safe_on_free_text

_RECEIPT = re.compile(r"NYJ-?\s*(\d{8})-?\s*(\d{3,4})", re.I)


def extract_description(text: str) -> str | None:
    text = " ".join(text.split())
    return text[:1000] if len(re.sub(r"\W", "", text)) >= 4 else None


def extract_place(text: str) -> str | None:
    text = " ".join(text.split())
    if re.fullmatch(r"(몰라요|모르겠어요|모름|잘\s*모르겠어요)[.!~ ]*", text):
        return None
    return text[:200] if len(re.sub(r"\W", "", text)) >= 2 else None


def extract_consent_choice(text: str) -> str | None:
    if is_yes(text):
        return "동의"
    if is_no(text):
        return "동의 안 함"
    return None


@safe_on_free_text
def extract_receipt(text: str) -> str | None:
    m = _RECEIPT.search(text)
    return f"NYJ-{m.group(1)}-{int(m.group(2)):04d}" if m else None


def extract_last4(text: str) -> str | None:
    digits = re.sub(r"\D", "", text)
    return digits[-4:] if len(digits) >= 4 else None


def complaint_form() -> FormSpec:
    return FormSpec(
        name="complaint",
        slots=(
            SlotSpec("what", "민원 내용", "어떤 불편이 있으신지 자세히 알려 주세요.", extract_description,
                     hint="불편한 내용을 한두 문장으로 알려 주세요. 예: 가로등이 꺼져 있어요.",
                     aliases=("내용",)),
            SlotSpec("where", "장소", "장소를 알려 주세요. 도로명 주소나 근처 건물·정류장 이름도 좋아요.",
                     extract_place, hint="예: 별내동 별내3로 308 앞, 진접역 2번 출구 근처",
                     aliases=("위치", "주소", "곳")),
            SlotSpec("when", "발생 시점", "언제부터 그랬나요? (모르시면 '건너뛰기')", extract_free,
                     required=False, aliases=("시점", "언제")),
            SlotSpec("consent", "개인정보 동의",
                     "처리 결과를 알려 드리려면 연락처가 필요합니다. 연락처는 민원 처리에만 쓰고 기록에는 가려서 "
                     "저장합니다. 개인정보 수집·이용에 동의하시나요? (동의하지 않으셔도 민원은 접수됩니다)",
                     extract_consent_choice, hint="동의하시면 '네', 원하지 않으시면 '아니요'라고 답해 주세요.",
                     quick_replies=("네", "아니요")),
            SlotSpec("phone", "연락처", "연락받으실 전화번호를 알려 주세요. (예: 010-1234-5678)", extract_phone,
                     hint="전화번호를 숫자로 알려 주세요. 예: 010-1234-5678",
                     aliases=("전화번호", "휴대폰", "핸드폰", "번호"), display=mask_phone,
                     condition=lambda v: v.get("consent") == "동의"),
        ),
        hidden=frozenset({"consent"}),
    )


def status_form() -> FormSpec:
    return FormSpec(
        name="status",
        slots=(
            SlotSpec("receipt", "접수번호", "접수번호를 알려 주세요. (예: NYJ-20261122-0001)", extract_receipt,
                     hint="접수번호는 'NYJ-날짜-번호' 형식입니다. 예: NYJ-20261122-0001"),
            SlotSpec("last4", "전화번호 뒤 4자리", "본인 확인을 위해 접수할 때 남기신 전화번호 뒤 4자리를 알려 주세요.",
                     extract_last4, hint="숫자 4자리를 알려 주세요."),
        ),
        confirm=False,
    )
