"""Slot-filling forms with confirmation, corrections and cancel.

A ``FormSpec`` lists slots (what to ask, how to read the answer). ``FormRunner`` keeps the form's
progress inside the session state (a plain dict, so any worker can continue it), asks for what is
missing, accepts corrections at any point ("아니요, 연락처는 010-…"), reads everything back for
confirmation and calls the form's ``on_done`` once the citizen says yes. The callback request uses
it now; complaint intake plugs in the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .text import msg, quick

Extractor = Callable[[str], str | None]

_YES = re.compile(r"^(네|예|응|어|맞아요?|맞습니다|좋아요|좋습니다|그래요|확인|동의(합니다|해요)?|ㅇㅇ|yes|ok|오케이)[.!~ ]*$", re.I)
_NO = re.compile(r"^(아니요?|아뇨|아니오|아니에요|틀려요|틀렸어요|동의\s*안\s*(해요|함)|싫어요|no)[.,!~ ]*", re.I)
_SKIP = re.compile(r"^(건너뛰기|건너뛸게요|없어요|없음|생략|패스|skip)[.!~ ]*$", re.I)


def is_yes(text: str) -> bool:
    return bool(_YES.match(text.strip()))


def is_no(text: str) -> bool:
    return bool(_NO.match(text.strip()))


@dataclass(frozen=True, slots=True)
class SlotSpec:
    name: str
    label: str  # Korean name shown in the summary ("연락처")
    prompt: str
    extract: Extractor
    required: bool = True
    hint: str = ""  # said when the answer could not be read
    aliases: tuple[str, ...] = ()  # words a correction uses for this slot ("전화번호", "번호")
    quick_replies: tuple[str, ...] = ()
    display: Callable[[str], str] = lambda v: v  # how the summary shows the value (masking)
    condition: Callable[[dict[str, str]], bool] | None = None  # ask only when this holds


@dataclass(frozen=True, slots=True)
class FormReply:
    text: str
    quick_replies: tuple[str, ...] = ()
    done: bool = False
    cancelled: bool = False
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FormSpec:
    name: str
    slots: tuple[SlotSpec, ...]
    # slots whose "아니요" ends the form (consent); value of the refusal message
    refusal: dict[str, str] = field(default_factory=dict)
    confirm: bool = True  # read everything back before finishing
    hidden: frozenset[str] = frozenset()  # slots not shown in the read-back

    def slot(self, name: str) -> SlotSpec:
        return next(s for s in self.slots if s.name == name)


class FormRunner:
    """Drives one form; the state lives in ``state["form"]`` of the session."""

    max_tries = 3

    def __init__(self, spec: FormSpec) -> None:
        self.spec = spec

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self, state: dict[str, Any], first_message: str = "",
              prefill: dict[str, str] | None = None) -> FormReply:
        form: dict[str, Any] = {"name": self.spec.name, "values": dict(prefill or {}),
                                "pending": None, "confirming": False, "tries": 0, "fixing": False}
        state["form"] = form
        if first_message:
            self._fill_from_free_text(form, first_message, only_safe=True)
        return self._next(form)

    def handle(self, state: dict[str, Any], text: str) -> FormReply:
        form = state["form"]
        text = text.strip()
        if form.get("fixing"):
            slot = self._slot_named_in(text)
            if slot is not None:
                form["fixing"] = False
                form["confirming"] = False
                value = self._value_after_name(text, slot)
                if value:
                    form["values"][slot.name] = value
                    return self._next(form)
                form["pending"] = slot.name
                return FormReply(msg("form_fix_prompt").format(label=slot.label), slot.quick_replies)
            return FormReply(msg("form_which_fix"), self._fix_choices())
        correction = self._correction(text)
        if correction is not None:
            slot, value = correction
            form["values"][slot.name] = value
            form["confirming"] = False
            return self._next(form)
        if form.get("confirming"):
            if is_yes(text):
                state.pop("form", None)
                return FormReply("", done=True, values=dict(form["values"]))
            if is_no(text):
                form["fixing"] = True
                return FormReply(msg("form_which_fix"), self._fix_choices())
            return self._confirm(form)
        pending = form.get("pending")
        if pending:
            slot = self.spec.slot(pending)
            if slot.name in self.spec.refusal and is_no(text):
                state.pop("form", None)
                return FormReply(self.spec.refusal[slot.name], cancelled=True)
            if not slot.required and _SKIP.match(text):
                form["values"][slot.name] = ""
                form["tries"] = 0
                return self._next(form)
            value = slot.extract(text)
            if value:
                form["values"][slot.name] = value
                form["tries"] = 0
                return self._next(form)
            form["tries"] = int(form.get("tries", 0)) + 1
            if form["tries"] >= self.max_tries:
                return FormReply(msg("form_give_up"), ("취소",))
            return FormReply(msg("form_retry").format(hint=slot.hint or slot.prompt),
                             slot.quick_replies)
        return self._next(form)

    # --- internals ----------------------------------------------------------------------------
    def _next(self, form: dict[str, Any]) -> FormReply:
        for slot in self.spec.slots:
            if slot.name in form["values"]:
                continue
            if slot.condition is not None and not slot.condition(form["values"]):
                form["values"][slot.name] = ""
                continue
            form["pending"] = slot.name
            extra = quick("skip") if not slot.required else ()
            return FormReply(slot.prompt, slot.quick_replies or extra)
        form["pending"] = None
        if not self.spec.confirm:
            return FormReply("", done=True, values=dict(form["values"]))
        return self._confirm(form)

    def _confirm(self, form: dict[str, Any]) -> FormReply:
        form["confirming"] = True
        lines = []
        for slot in self.spec.slots:
            value = form["values"].get(slot.name, "")
            if slot.name in self.spec.refusal or slot.name in self.spec.hidden:
                continue
            lines.append(f"- {slot.label}: {slot.display(value) if value else '(없음)'}")
        return FormReply(msg("form_confirm").format(summary="\n".join(lines)), quick("yes_no"))

    def _fix_choices(self) -> tuple[str, ...]:
        return (*tuple(s.label for s in self.spec.slots if s.name not in self.spec.refusal), "취소")

    def _slot_named_in(self, text: str) -> SlotSpec | None:
        for slot in self.spec.slots:
            if slot.name in self.spec.refusal:
                continue
            for word in (slot.label, *slot.aliases):
                if word and word in text:
                    return slot
        return None

    def _value_after_name(self, text: str, slot: SlotSpec) -> str | None:
        for word in (slot.label, *slot.aliases):
            i = text.find(word)
            if i >= 0:
                rest = re.sub(r"^\s*(은|는|을|를|이|가)?\s*", "", text[i + len(word):])
                rest = re.sub(r"(입니다|이에요|예요|이요|요|로\s*(바꿔|수정|변경).*|으로\s*(바꿔|수정|변경).*)[.!~ ]*$", "", rest).strip()
                if rest:
                    return slot.extract(rest)
        return None

    def _correction(self, text: str) -> tuple[SlotSpec, str] | None:
        """"아니요, 주소는 …" / "연락처 010-… 로 바꿔 주세요": a slot named, then a new value."""
        if not (is_no(text) or re.search(r"바꿔|수정|변경|정정|잘못", text)):
            return None
        slot = self._slot_named_in(text)
        if slot is None:
            return None
        value = self._value_after_name(text, slot)
        return (slot, value) if value else None

    def _fill_from_free_text(self, form: dict[str, Any], text: str, only_safe: bool) -> None:
        for slot in self.spec.slots:
            if slot.name in form["values"] or slot.name in self.spec.refusal:
                continue
            if only_safe and not getattr(slot.extract, "safe_on_free_text", False):
                continue
            value = slot.extract(text)
            if value:
                form["values"][slot.name] = value


def safe_on_free_text(fn: Extractor) -> Extractor:
    """Mark an extractor precise enough to pick its value out of any message (a phone number)."""
    fn.safe_on_free_text = True  # type: ignore[attr-defined]
    return fn
