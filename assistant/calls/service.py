"""``CallService``: the agent console's back end, one per app — starts live calls in this worker
(``LiveCall``), loads the shared STT once, builds the per-leg streaming recognisers, and files the
complaint form of a call into the ``ComplaintStore`` (from any worker: the call record with the clear
contact phone is in the shared registry)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voice.streaming import StreamingSTT
from voice.stt import STT

from ..complaints.store import ComplaintStore, NewComplaint
from ..dialogue.callback import extract_phone
from ..hours import SEOUL
from .assist import AgentAssist
from .hub import CallHub
from .live import SPEAKERS, LiveCall, LockedSTT
from .registry import CallRecord, CallRegistry, Source, mask_number
from .transcript import TranscriptStore

log = logging.getLogger("assistant.calls")


@dataclass(frozen=True, slots=True)
class CallConfig:
    step_s: float = 1.0
    first_step_s: float = 0.5
    max_step_s: float = 3.0
    max_buffer_s: float = 15.0
    end_silence_ms: int = 600
    vad_threshold_db: float = -45.0
    store_audio: bool = False
    default_agent: str = ""


class FormError(ValueError):
    """A complaint form that cannot be filed as given (message in Korean)."""


class CallService:
    """The agent console's back end: starts live calls, lists them, files their complaint forms."""

    def __init__(self, hub: CallHub, registry: CallRegistry, assist: AgentAssist,
                 stt_provider: Callable[[], STT], *, agents: list[str], config: CallConfig | None = None,
                 transcripts: TranscriptStore | None = None, complaints: ComplaintStore | None = None,
                 data_dir: Path = Path("data"),
                 stream_factory: Callable[[STT, str, CallConfig], StreamingSTT] | None = None) -> None:
        self.hub = hub
        self.registry = registry
        self.assist = assist
        self.agents = agents
        self.config = config or CallConfig()
        self.transcripts = transcripts
        self.complaints = complaints
        self.audio_dir = Path(data_dir) / "calls"
        self.live: dict[str, LiveCall] = {}
        self._stt_provider = stt_provider
        self._stt: STT | None = None
        self._stt_lock = threading.Lock()
        self._stream_factory = stream_factory or _local_agreement

    def stt(self) -> STT:
        """The shared batch STT, loaded on first use (thread-safe; call from a thread)."""
        with self._stt_lock:
            if self._stt is None:
                self._stt = LockedSTT(self._stt_provider())
            return self._stt

    def make_stream(self, stt: STT, speaker: str) -> StreamingSTT:
        return self._stream_factory(stt, speaker, self.config)

    async def start(self, call_id: str, source: Source, *, agent: str, caller_id: str = "") -> LiveCall:
        """Start hearing ``call_id`` in this worker (creating its record unless it exists)."""
        if call_id in self.live:
            return self.live[call_id]
        streams = await asyncio.to_thread(lambda: {s: self.make_stream(self.stt(), s) for s in SPEAKERS})
        record = await self.registry.get(call_id)
        if record is None:
            record = await self.registry.create(CallRecord(
                call_id, agent, source, "active", dt.datetime.now(dt.UTC), caller=mask_number(caller_id),
                phone=_clear_phone(caller_id)))
        elif record.status != "active":  # the same call streamed again (a reconnect): live once more
            record = await self.registry.update(call_id, status="active", ended_at=None) or record
        if call_id in self.live:  # started meanwhile by another socket of this worker
            return self.live[call_id]
        live = LiveCall(self, record, streams, caller_id)
        self.live[call_id] = live
        await live.publish({"type": "status", "status": "active"})
        if self.transcripts is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.transcripts.save_call, record)
        return live

    async def submit(self, call_id: str, user: str, form: dict[str, Any]) -> dict[str, Any]:
        """File the complaint form of a call; publishes ``form_submitted``; raises FormError."""
        if self.complaints is None:
            raise FormError("민원 저장소를 사용할 수 없습니다. 잠시 후 다시 시도해 주세요.")
        record = await self.registry.get(call_id)
        if record is None:
            raise FormError("통화를 찾을 수 없습니다.")
        description = " ".join(str(form.get("description", "")).split())
        if len(description) < 2:
            raise FormError("민원 내용을 입력해 주세요.")
        category, team, department = (str(form.get(k, "")).strip() for k in ("category", "team", "department"))
        urgent = bool(form.get("urgent"))
        reason = f"상담원 {user} 접수"
        if not team and self.assist.router is not None:
            route = await asyncio.to_thread(self.assist.router.route, description)
            category, team, department = category or route.category, route.team, route.department
            urgent = urgent or route.urgent
            reason += f" ({route.reason})"
        if not team:
            raise FormError("담당팀을 입력해 주세요.")
        consent = bool(form.get("consent"))
        given = str(form.get("contact_phone", "")).strip()
        phone = ""
        if consent:
            phone = record.phone if "*" in given else (extract_phone(given) or "")
        new = NewComplaint(
            description=description, category=category or "생활불편 처리", department=department or team,
            team=team, urgent=urgent, route_reason=reason, address=str(form.get("location", "")).strip(),
            phone=phone, name=str(form.get("contact_name", "")).strip() if consent else "",
            channel="phone" if record.source == "twilio" else "agent", session_id=call_id)
        filed = await asyncio.to_thread(self.complaints.file, new)
        c = filed.complaint
        info: dict[str, Any] = {"id": c["id"], "status": c["status"], "team": c["team"], "urgent": c["urgent"],
                                "expected_datetime": c["expected_at"].astimezone(SEOUL).isoformat()}
        if filed.duplicate_of:
            info["duplicate_of"] = filed.duplicate_of
        await self.registry.update(call_id, complaint_id=c["id"])
        await self.hub.publish(call_id, {"type": "form_submitted", "complaint": info})
        log.info("agent filed a complaint", extra={"fields": {"call_id": call_id, "user": user,
                                                              "complaint_id": c["id"]}})
        return info

    async def close(self) -> None:
        for live in list(self.live.values()):
            with contextlib.suppress(Exception):
                await live.finish()
        await self.hub.close()
        closer = getattr(self.registry, "close", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


def _clear_phone(caller_id: str) -> str:
    digits = "".join(ch for ch in caller_id or "" if ch.isdigit())
    if digits.startswith("82"):
        digits = "0" + digits[2:]
    return (extract_phone(digits) or "") if len(digits) >= 9 else ""


def _local_agreement(stt: STT, speaker: str, cfg: CallConfig) -> StreamingSTT:
    from voice.streaming import LocalAgreementSTT

    max_step = max(cfg.step_s, cfg.first_step_s, cfg.max_step_s)
    return LocalAgreementSTT(stt, speaker=speaker, step_s=cfg.step_s, max_step_s=max_step,
                             max_buffer_s=cfg.max_buffer_s, vad_threshold_db=cfg.vad_threshold_db,
                             end_silence_ms=cfg.end_silence_ms, first_step_s=cfg.first_step_s)
