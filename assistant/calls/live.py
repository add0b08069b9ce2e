"""``LiveCall``: one call being heard by this worker (made by ``service.CallService``).

A ``LiveCall`` has one track per call leg — ``caller`` (Twilio's inbound track, or the browser
microphone) and ``agent`` (Twilio's outbound track) — each with its own ``StreamingSTT`` (by default
``LocalAgreementSTT``) over ONE shared batch STT model, serialised by a lock (two cores: one
transcription at a time is fastest). Audio is queued without blocking the event loop; one worker task
per track drains everything queued so far into a single ``feed`` call run in a thread, so a slow
moment never builds a backlog (LocalAgreementSTT transcribes at most once per feed and grows its step
when behind). Events become console messages (``transcript`` with a per-call ``seq``, text PII-masked),
finals are stored masked (``TranscriptStore``), and each caller final queues an assist job (intent,
suggestion, form; coalesced to the newest when assist is behind). ``finish`` flushes both legs, then
publishes the summary and ``status: ended``.

Everything is published through the ``CallHub``, so consoles on any worker see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from voice.audio import STT_RATE, resample
from voice.streaming import StreamingSTT, TranscriptEvent
from voice.stt import STT, Transcript

from ..pii import mask_pii
from .assist import NO_SUGGESTION_INTENTS, QUIET_ABSTAIN_INTENTS, intent_label
from .registry import CallRecord
from .transcript import AudioRecorder

if TYPE_CHECKING:
    from .service import CallService

log = logging.getLogger("assistant.calls")
SPEAKERS = ("caller", "agent")


class LockedSTT:
    """A batch STT shared by every call leg of this worker, one transcription at a time."""

    def __init__(self, stt: STT) -> None:
        self.stt = stt
        self._lock = threading.Lock()

    def transcribe(self, audio: npt.NDArray[Any], sample_rate: int = STT_RATE) -> Transcript:
        with self._lock:
            return self.stt.transcribe(audio, sample_rate)


class Upsampler:
    """Streaming resampler to 16 kHz without block-edge clicks: each block is resampled with 16 samples
    of context on both sides (the right context is held back until the next block: 2 ms at 8 kHz)."""

    CONTEXT = 16

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.ratio = STT_RATE / rate
        self._left = np.zeros(0, np.float32)
        self._pending = np.zeros(0, np.float32)

    def __call__(self, x: npt.NDArray[np.float32], final: bool = False) -> npt.NDArray[np.float32]:
        if self.rate == STT_RATE:
            return x
        pending = np.concatenate([self._pending, x])
        hold = 0 if final else self.CONTEXT
        if pending.size <= hold:
            self._pending = pending
            return np.zeros(0, np.float32)
        seg = np.concatenate([self._left, pending])
        y = resample(seg, self.rate, STT_RATE)
        a = round(self._left.size * self.ratio)
        b = round((self._left.size + pending.size - hold) * self.ratio)
        emitted = pending[:pending.size - hold]
        self._left = np.concatenate([self._left, emitted])[-self.CONTEXT:]
        self._pending = pending[pending.size - hold:]
        return y[a:b]


@dataclass
class _Track:
    speaker: str
    stream: StreamingSTT
    upsampler: Upsampler
    recorder: AudioRecorder | None = None
    pending: list[npt.NDArray[np.float32]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    received_s: float = 0.0


class LiveCall:
    """One call heard by this worker (see the module docstring)."""

    def __init__(self, service: CallService, record: CallRecord, streams: dict[str, StreamingSTT],
                 caller_id: str = "") -> None:
        self.service = service
        self.call_id = record.call_id
        self.record = record
        self.caller_id = caller_id
        self.started = time.monotonic()
        self.seq = 0
        self.finals: dict[str, list[str]] = {s: [] for s in SPEAKERS}
        self.intent = ""
        self.suggestions: list[dict[str, Any]] = []
        self.form: dict[str, Any] | None = None
        self._last_query = ""
        self._closing = False
        self._finished = asyncio.Event()
        self._pub_lock = asyncio.Lock()
        self._assist_jobs: asyncio.Queue[int | None] = asyncio.Queue()
        cfg = service.config
        folder = service.audio_dir if cfg.store_audio else None
        self.tracks = {s: _Track(s, streams[s], Upsampler(STT_RATE),
                                 AudioRecorder(folder, self.call_id, s) if folder else None) for s in SPEAKERS}
        self._tasks = [asyncio.create_task(self._track_worker(t)) for t in self.tracks.values()]
        self._tasks.append(asyncio.create_task(self._assist_worker()))

    # --- audio in -------------------------------------------------------------------------------
    def feed(self, speaker: str, audio: npt.NDArray[np.float32], rate: int) -> None:
        """Queue mono float audio of one leg (any length, any rate); never blocks."""
        track = self.tracks.get(speaker)
        if track is None or self._closing or audio.size == 0:
            return
        if track.upsampler.rate != rate:
            track.upsampler = Upsampler(rate)
        track.pending.append(np.asarray(audio, dtype=np.float32))
        track.received_s += audio.size / rate
        track.wake.set()

    def _process(self, track: _Track, audio: npt.NDArray[np.float32], final: bool) -> list[TranscriptEvent]:
        x = track.upsampler(audio, final=final)
        if track.recorder is not None and x.size:
            track.recorder.write(x)
        events = track.stream.feed(x) if x.size else []
        if final:
            events += track.stream.flush()
        return events

    async def _track_worker(self, track: _Track) -> None:
        while True:
            if not track.pending:
                if self._closing:
                    return
                await track.wake.wait()
                track.wake.clear()
                continue
            chunks, track.pending = track.pending, []
            try:
                events = await asyncio.to_thread(self._process, track, np.concatenate(chunks), False)
                await self._on_events(events)
            except Exception:
                log.exception("live transcription failed on one chunk")

    # --- events out -----------------------------------------------------------------------------
    async def publish(self, event: dict[str, Any]) -> None:
        async with self._pub_lock:
            try:
                await self.service.hub.publish(self.call_id, event)
            except Exception:
                log.exception("call event not published")

    async def _on_events(self, events: list[TranscriptEvent]) -> None:
        for ev in events:
            self.seq += 1
            seq = self.seq  # the other leg's worker may number events while this one awaits
            text = mask_pii(ev.text)
            await self.publish({"type": "transcript", "kind": ev.kind, "speaker": ev.speaker, "text": text,
                                "start": round(ev.start, 2), "end": round(ev.end, 2), "seq": seq})
            if ev.kind != "final":
                continue
            self.finals[ev.speaker].append(ev.text)
            if self.service.transcripts is not None:
                try:
                    await asyncio.to_thread(self.service.transcripts.add_segment, self.call_id, seq,
                                            ev.speaker, ev.start, ev.end, ev.text)
                except Exception:
                    log.exception("transcript segment not stored")
            if ev.speaker == "caller":
                self._assist_jobs.put_nowait(seq)

    async def _assist_worker(self) -> None:
        while True:
            seq = await self._assist_jobs.get()
            stop = seq is None
            while not self._assist_jobs.empty():  # behind: only the newest state matters
                nxt = self._assist_jobs.get_nowait()
                if nxt is None:
                    stop = True
                else:
                    seq = nxt
            if seq is not None:
                try:
                    await self._assist(seq)
                except Exception:
                    log.exception("agent assist failed")
            if stop:
                return

    async def _assist(self, seq: int) -> None:
        assist = self.service.assist
        finals = list(self.finals["caller"])
        intent = await asyncio.to_thread(assist.intent, finals)
        if intent != self.intent:
            self.intent = intent
            await self.publish({"type": "intent", "intent": intent, "label": intent_label(intent)})
        query = assist.query(finals)
        if intent not in NO_SUGGESTION_INTENTS and query and query != self._last_query:
            self._last_query = query
            answers = await asyncio.to_thread(assist.suggest, query)
            if intent in QUIET_ABSTAIN_INTENTS:
                answers = [a for a in answers if not a.get("abstained")]
            if answers:
                self.suggestions.extend(answers)
                await self.publish({"type": "suggestion", "based_on_seq": seq, "query": mask_pii(query),
                                    "answers": answers})
        pre = await asyncio.to_thread(assist.prefill, finals, self.caller_id)
        if pre.form != self.form:
            self.form = pre.form
            await self.publish({"type": "form", "form": pre.form})
        if pre.phone and pre.phone != self.record.phone:
            updated = await self.service.registry.update(self.call_id, phone=pre.phone, intent=intent)
            self.record = updated or self.record

    # --- hang-up --------------------------------------------------------------------------------
    async def finish(self) -> None:
        """End of the call: flush both legs, summary, ``status: ended`` (idempotent)."""
        if self._closing:
            await self._finished.wait()
            return
        self._closing = True
        try:
            for t in self.tracks.values():
                t.wake.set()
            await asyncio.gather(*self._tasks[:len(self.tracks)], return_exceptions=True)
            for t in self.tracks.values():
                rest = np.concatenate(t.pending) if t.pending else np.zeros(0, np.float32)
                t.pending = []
                try:
                    await self._on_events(await asyncio.to_thread(self._process, t, rest, True))
                except Exception:
                    log.exception("final flush failed")
                if t.recorder is not None:
                    t.recorder.close()
            self._assist_jobs.put_nowait(None)
            await asyncio.gather(self._tasks[-1], return_exceptions=True)
            await self._summarise()
        finally:
            self.service.live.pop(self.call_id, None)
            self._finished.set()

    async def _summarise(self) -> None:
        svc = self.service
        record = await svc.registry.get(self.call_id) or self.record
        complaint: dict[str, Any] | None = None
        if record.complaint_id and svc.complaints is not None:
            with contextlib.suppress(Exception):
                c = await asyncio.to_thread(svc.complaints.get, record.complaint_id)
                complaint = {"id": c["id"], "team": c["team"]}
        summary = svc.assist.summary(
            duration_s=time.monotonic() - self.started, intent=self.intent or "question",
            caller_finals=self.finals["caller"], agent_turns=len(self.finals["agent"]),
            suggestions=self.suggestions, complaint=complaint, form=self.form)
        await self.publish({"type": "summary", "summary": summary})
        ended = await svc.registry.update(self.call_id, status="ended", ended_at=dt.datetime.now(dt.UTC),
                                          intent=summary["intent"]) or record
        await self.publish({"type": "status", "status": "ended"})
        if svc.transcripts is not None:
            try:
                await asyncio.to_thread(svc.transcripts.save_call, ended, summary["text"])
            except Exception:
                log.exception("call record not stored")
        log.info("call ended", extra={"fields": {"call_id": self.call_id, "caller_turns": summary["caller_turns"],
                                                 "agent_turns": summary["agent_turns"]}})
