"""The call-back request form (hand-off to a person): consent, phone, name, preferred time."""

from __future__ import annotations

import re

from .forms import FormSpec, SlotSpec, is_yes, safe_on_free_text
from .text import msg

_PHONE = re.compile(r"(?<!\d)(?:\+?82[-\s]?)?(0?\d{1,2})[-\s.)]{0,2}(\d{3,4})[-\s.]?(\d{4})(?!\d)")


@safe_on_free_text
def extract_phone(text: str) -> str | None:
    """A Korean phone number in any common spelling -> "010-1234-5678"."""
    m = _PHONE.search(text)
    if not m or not (m.group(1).startswith("0") or "82" in text[: m.start(1)]):
        return None
    area, mid, last = m.groups()
    if not area.startswith("0"):
        area = "0" + area
    return f"{area}-{mid}-{last}"


def mask_phone(phone: str) -> str:
    parts = phone.split("-")
    return f"{parts[0]}-****-{parts[-1]}" if len(parts) == 3 else "***"


def extract_name(text: str) -> str | None:
    name = re.sub(r"(입니다|이에요|예요|이요|요|라고\s*합니다)[.!~ ]*$", "", text.strip())
    name = re.sub(r"^(제\s*이름은|이름은|성함은|저는)\s*", "", name).strip()
    if re.fullmatch(r"[가-힣]{2,5}|[A-Za-z][A-Za-z .'-]{1,40}", name):
        return name
    return None


def extract_free(text: str) -> str | None:
    text = " ".join(text.split())
    return text[:200] if text else None


def extract_consent(text: str) -> str | None:
    return "동의" if is_yes(text) else None


def callback_form(contact: str) -> FormSpec:
    return FormSpec(
        name="callback",
        slots=(
            SlotSpec("consent", "개인정보 동의",
                     "상담원이 연락드리려면 연락처(필수)와 성함(선택)이 필요합니다. 콜백 처리에만 쓰고 "
                     "처리 후 파기하며, 기록에는 가려서 저장합니다. 개인정보 수집·이용에 동의하시나요?",
                     extract_consent, hint="동의하시면 '네', 원하지 않으시면 '아니요'라고 답해 주세요.",
                     quick_replies=("네", "아니요")),
            SlotSpec("phone", "연락처", "연락받으실 전화번호를 알려 주세요. (예: 010-1234-5678)",
                     extract_phone, hint="전화번호를 숫자로 알려 주세요. 예: 010-1234-5678",
                     aliases=("전화번호", "휴대폰", "핸드폰", "번호"), display=mask_phone),
            SlotSpec("name", "성함", "성함을 알려 주세요. (원하지 않으시면 '건너뛰기')", extract_name,
                     required=False, hint="성함을 한글 또는 영문으로 알려 주세요. 원하지 않으시면 '건너뛰기'.",
                     aliases=("이름",)),
            SlotSpec("preferred_time", "연락 희망 시간",
                     "연락받기 편한 시간이 있으면 알려 주세요. (없으면 '건너뛰기')", extract_free,
                     required=False, aliases=("시간",)),
        ),
        refusal={"consent": msg("consent_refused").format(contact=contact)},
    )
