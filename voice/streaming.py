"""Streaming speech-to-text: the ``StreamingSTT`` seam and ``LocalAgreementSTT``, which turns any batch
:class:`~voice.stt.STT` into a stream of ``partial`` / ``final`` :class:`TranscriptEvent` with the
LocalAgreement-2 policy of whisper_streaming (Macháček et al., 2023).

How ``LocalAgreementSTT`` works:

* Audio (float32 mono 16 kHz, chunks of any length) is appended to a buffer that starts at the last
  commit point (the end of the last ``final``). An :class:`~voice.audio.EnergyVAD` runs on the same
  audio; while it has not heard speech only a short pre-roll is kept and nothing is transcribed, so
  silence never produces events (nor hallucinations).
* Every ``step_s`` seconds of new speech audio (``first_step_s`` for the first look at a phrase) the
  whole buffer is re-transcribed. The longest common
  word prefix of the last two hypotheses, beyond the words already committed, is committed. The running
  line (committed words + the newest hypothesis' uncommitted tail) is emitted as a ``partial`` when it
  changes. Committed words are never taken back.
* A ``final`` (the committed words of the utterance, nothing else) is emitted and the buffer trimmed
  when: a sentence ends (the batch STT returned a segment boundary and every word before it is
  committed; Whisper's segments end at sentences, its punctuation is stripped); the VAD reports the
  end of the turn; the buffer reaches ``max_buffer_s``; or :meth:`LocalAgreementSTT.flush` is called.
  At end of turn / overflow / flush the newest hypothesis' tail is committed too (nothing follows that
  could confirm it).
* Bounded latency: processing time is measured against the audio it covered; when transcription is
  slower than real time the step grows (up to ``max_step_s``), and shrinks back when it is fast again.
  A ``feed`` call transcribes at most once for the step, however much audio it brings, and the buffer
  never holds more than ``max_buffer_s`` — there is no backlog. Each new phrase (speech after the VAD
  heard a pause) starts again at the base step: nothing is pending then, and the first partial of a
  phrase is what an agent waits for.

Timestamps are seconds from the first sample fed since construction / :meth:`reset`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from .audio import STT_RATE, EnergyVAD, FloatArray
from .stt import STT, Segment, Transcript, is_hallucination


@dataclass(frozen=True, slots=True)
class TranscriptEvent:
    kind: Literal["partial", "final"]
    text: str
    start: float  # stream-relative seconds
    end: float
    speaker: str  # label given by the user of the API, e.g. "caller" or "agent"


class StreamingSTT(Protocol):
    """Incremental speech-to-text over one audio stream (float32 mono 16 kHz)."""

    def feed(self, audio: npt.NDArray[Any]) -> list[TranscriptEvent]:
        """Add a chunk of any length; returns the events it caused (possibly none)."""
        ...

    def flush(self) -> list[TranscriptEvent]:
        """End of stream: a ``final`` for whatever is pending; the stream then starts afresh."""
        ...

    def reset(self) -> None:
        """Drop all state (pending words are discarded) and restart stream time at 0."""
        ...


@dataclass(frozen=True, slots=True)
class _Hypothesis:
    words: tuple[str, ...]
    # (number of words up to and including segment i, end of segment i in buffer seconds)
    bounds: tuple[tuple[int, float], ...]
    start: float | None  # start of the first segment with words, buffer seconds


def _hypothesis(t: Transcript) -> _Hypothesis:
    segments: Sequence[Segment] = t.segments
    if not segments and t.text.strip():
        segments = (Segment(0.0, t.duration_s, t.text),)
    words: list[str] = []
    bounds: list[tuple[int, float]] = []
    start: float | None = None
    for seg in segments:
        seg_words = seg.text.split()
        if not seg_words or is_hallucination(seg.text):
            continue
        if start is None:
            start = seg.start
        words.extend(seg_words)
        bounds.append((len(words), seg.end))
    return _Hypothesis(tuple(words), tuple(bounds), start)


def common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common prefix of two word sequences."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class LocalAgreementSTT:
    """LocalAgreement-2 streaming over a batch ``STT`` (see the module docstring)."""

    def __init__(self, stt: STT, *, speaker: str = "caller", step_s: float = 1.0, max_step_s: float = 3.0,
                 max_buffer_s: float = 15.0, preroll_s: float = 0.3, vad_threshold_db: float = -45.0,
                 end_silence_ms: int = 700, clock: Callable[[], float] = time.perf_counter,
                 first_step_s: float | None = None) -> None:
        if not 0 < step_s <= max_step_s < max_buffer_s or preroll_s < 0:
            raise ValueError("need 0 < step_s <= max_step_s < max_buffer_s and preroll_s >= 0")
        if first_step_s is not None and not 0 < first_step_s <= max_step_s:
            raise ValueError("need 0 < first_step_s <= max_step_s")
        # speech heard before the first transcription of a phrase (default: the step); shorter = earlier
        # first partial at the price of one more transcription per phrase
        self.first_step_s = first_step_s if first_step_s is not None else step_s
        self.stt = stt
        self.speaker = speaker
        self.base_step_s = step_s
        self.max_step_s = max_step_s
        self.max_buffer_s = max_buffer_s
        self.preroll_s = preroll_s
        self._clock = clock
        self._vad = EnergyVAD(STT_RATE, threshold_db=vad_threshold_db, end_silence_ms=end_silence_ms)
        self._max_buf = round(max_buffer_s * STT_RATE)
        self._preroll = round(preroll_s * STT_RATE)
        self.reset()

    # ---- public API ----------------------------------------------------------------------------
    def reset(self) -> None:
        self._clear()
        self.step_s = self.base_step_s
        self.transcriptions = 0  # batch calls made (for metrics and tests)
        self.processing_s = 0.0  # total time spent in them

    def _clear(self) -> None:
        """Start a new stream (time 0); the step and the counters carry over."""
        self._vad.reset()
        self._chunks: list[FloatArray] = []
        self._buf_len = 0  # samples in the buffer
        self._buf_start = 0  # stream sample index of the buffer's first sample
        self._total = 0  # samples fed
        self._active = False  # the VAD heard speech that is not finalised yet
        self._speech_start = 0.0  # where the VAD heard the current speech start
        self._since_step = 0  # speech-time samples since the last transcription
        self._committed: list[str] = []
        self._prev: tuple[str, ...] | None = None
        self._utt_start: float | None = None
        self._last_end = 0.0
        self._last_partial = ""

    def feed(self, audio: npt.NDArray[Any]) -> list[TranscriptEvent]:
        x = np.asarray(audio, dtype=np.float32).ravel()
        events: list[TranscriptEvent] = []
        frame = self._vad.frame_len
        for i in range(0, x.size, frame):
            piece = x[i:i + frame]
            self._chunks.append(piece)
            self._buf_len += piece.size
            self._total += piece.size
            if self._active:
                self._since_step += piece.size
            for ev in self._vad.feed(piece):
                if ev.kind == "start" and not self._active:
                    self._active = True
                    self._speech_start = ev.time_s
                    # nothing is pending after a pause: the first partial of a phrase comes at the base step
                    self.step_s = self.base_step_s
                    self._since_step = max(0, self._total - round(ev.time_s * STT_RATE))
                elif ev.kind == "end" and self._active:
                    events += self._finish(ev.time_s)
                    self._active = False
            if self._active and self._buf_len >= self._max_buf:
                events += self._finish(None)
            if not self._active and self._buf_len > 2 * self._preroll:
                self._trim_to(self._total - self._preroll)
        step = self.first_step_s if self._prev is None else self.step_s
        if self._active and self._since_step >= step * STT_RATE:
            events += self._step()
        return events

    def flush(self) -> list[TranscriptEvent]:
        events = self._finish(None) if self._active else []
        self._clear()
        return events

    # ---- internals -----------------------------------------------------------------------------
    @property
    def _now(self) -> float:
        return self._total / STT_RATE

    def _buffer(self) -> FloatArray:
        if len(self._chunks) != 1:
            self._chunks = [np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)]
        return self._chunks[0]

    def _trim_to(self, sample: int) -> None:
        sample = min(max(sample, self._buf_start), self._total)
        rest = self._buffer()[sample - self._buf_start:]
        self._chunks = [rest]
        self._buf_len = rest.size
        self._buf_start = sample

    def _transcribe(self, adapt: bool) -> _Hypothesis:
        audio_s = self._since_step / STT_RATE
        t0 = self._clock()
        t = self.stt.transcribe(self._buffer(), STT_RATE)
        spent = self._clock() - t0
        self.transcriptions += 1
        self.processing_s += spent
        self._since_step = 0
        if adapt and audio_s > 0:
            if spent > audio_s:  # slower than real time: look less often rather than fall behind
                self.step_s = min(self.max_step_s, max(self.step_s * 1.5, spent))
            elif spent < 0.5 * audio_s:
                self.step_s = max(self.base_step_s, self.step_s / 1.5)
        hyp = _hypothesis(t)
        if self._utt_start is None and hyp.start is not None:
            onset = max(self._last_end, self._speech_start, self._buf_start / STT_RATE + hyp.start)
            self._utt_start = min(onset, self._now)
        return hyp

    def _event(self, kind: Literal["partial", "final"], words: Sequence[str], end: float) -> TranscriptEvent:
        start = self._utt_start if self._utt_start is not None else self._last_end
        start = max(start, self._last_end)
        return TranscriptEvent(kind, " ".join(words), start, max(start, end), self.speaker)

    def _final(self, words: Sequence[str], end: float) -> list[TranscriptEvent]:
        """Emit a final for ``words`` ending at ``end`` and start a new utterance there."""
        events: list[TranscriptEvent] = []
        if words:
            ev = self._event("final", words, end)
            events.append(ev)
            self._last_end = ev.end
        self._utt_start = None
        self._last_partial = ""
        return events

    def _step(self) -> list[TranscriptEvent]:
        hyp = self._transcribe(adapt=True)
        n = len(self._committed)
        if self._prev is not None:
            tail = hyp.words[n:]
            self._committed.extend(tail[:common_prefix(self._prev[n:], tail)])
        line = [*self._committed, *hyp.words[len(self._committed):]]
        self._prev = hyp.words
        events: list[TranscriptEvent] = []
        # sentence end: a segment boundary with every word before it committed
        cut: tuple[int, float] | None = None
        for count, seg_end in hyp.bounds[:-1]:
            if count <= len(self._committed):
                cut = (count, seg_end)
        if cut is not None:
            count, seg_end = cut
            end = min(self._buf_start / STT_RATE + seg_end, self._now)
            events += self._final(self._committed[:count], end)
            self._committed = self._committed[count:]
            self._prev = hyp.words[count:]
            line = line[count:]
            self._trim_to(round(end * STT_RATE))
            self._utt_start = max(end, self._last_end)
        text = " ".join(line)
        if text and text != self._last_partial:
            events.append(self._event("partial", line, self._now))
            self._last_partial = text
        return events

    def _finish(self, end: float | None) -> list[TranscriptEvent]:
        """End of the utterance (end of turn, full buffer or flush): commit everything heard, final."""
        hyp = self._transcribe(adapt=False)
        self._committed.extend(hyp.words[len(self._committed):])
        end_s = self._now if end is None else min(end, self._now)
        events = self._final(self._committed, end_s)
        self._committed = []
        self._prev = None
        self._since_step = 0
        self._trim_to(self._total)
        return events
