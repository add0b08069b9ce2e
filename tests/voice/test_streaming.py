"""voice.streaming: LocalAgreement-2 streaming over a batch STT, with a scripted fake batch STT (fast,
deterministic) and (slow) the real Whisper base model on the Korean fixture."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eval.stt import cer
from voice.audio import read_wav
from voice.streaming import LocalAgreementSTT, StreamingSTT, TranscriptEvent, common_prefix
from voice.stt import Segment, Transcript, WhisperSTT

SR = 16000
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "ko_sample_leopard.wav"
REFERENCE = "그는 이리저리 피하면서 길 한 옆으로 걸어갔다"

Entry = str | Sequence[tuple[str, float, float]]  # one segment over the buffer, or (text, start, end)s


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeSTT:
    """Batch STT returning the next scripted hypothesis per call (the last one repeats); advances a
    fake clock by ``cost_s`` per call to simulate processing time. Records the buffer lengths it saw."""

    def __init__(self, script: Sequence[Entry], clock: FakeClock | None = None, cost_s: float = 0.0) -> None:
        self.script = list(script)
        self.clock = clock
        self.cost_s = cost_s
        self.lengths: list[float] = []

    @property
    def calls(self) -> int:
        return len(self.lengths)

    def transcribe(self, audio: np.ndarray[Any, Any], sample_rate: int = SR) -> Transcript:
        duration = len(audio) / sample_rate
        entry = self.script[min(self.calls, len(self.script) - 1)]
        self.lengths.append(duration)
        if self.clock is not None:
            self.clock.now += self.cost_s
        if isinstance(entry, str):
            segments = (Segment(0.0, duration, entry),) if entry else ()
        else:
            segments = tuple(Segment(s, min(e, duration), t) for t, s, e in entry)
        return Transcript(" ".join(s.text for s in segments), segments, duration, self.cost_s)


def speech(seconds: float, seed: int = 0) -> np.ndarray[Any, Any]:
    t = np.arange(round(seconds * SR)) / SR
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.1 * np.sin(2 * np.pi * 220 * t) + 0.02 * noise).astype(np.float32)


def silence(seconds: float) -> np.ndarray[Any, Any]:
    return np.zeros(round(seconds * SR), np.float32)


def run(stream: StreamingSTT, audio: np.ndarray[Any, Any], chunk: int = 320,
        flush: bool = True) -> list[TranscriptEvent]:
    events: list[TranscriptEvent] = []
    for i in range(0, audio.size, chunk):
        events += stream.feed(audio[i:i + chunk])
    if flush:
        events += stream.flush()
    return events


def finals(events: Sequence[TranscriptEvent]) -> list[TranscriptEvent]:
    return [e for e in events if e.kind == "final"]


def check_well_formed(events: Sequence[TranscriptEvent]) -> None:
    """Events have sane spans and normalised text; finals are ordered and non-overlapping; nothing
    starts before the end of the previous final."""
    fs = finals(events)
    for e in events:
        assert 0 <= e.start <= e.end
        assert e.text and e.text == " ".join(e.text.split())
    for a, b in itertools.pairwise(fs):
        assert a.end <= b.start
    last_end = 0.0
    for e in events:
        assert e.start >= last_end - 1e-9
        if e.kind == "final":
            last_end = e.end


GROWING: list[Entry] = [
    "가로등이 고장",
    "가로등이 고장났어요 우리",
    "가로등이 고장났어요 우리집 앞",
    "가로등이 고장났어요 우리집 앞에",
    "가로등이 고장났어요 우리집 앞에서요",
]


def test_commits_the_agreed_prefix_and_finals_at_end_of_turn() -> None:
    fake = FakeSTT(GROWING)
    stream = LocalAgreementSTT(fake, clock=FakeClock())
    events = run(stream, np.concatenate([silence(1.0), speech(4.5), silence(1.0)]), flush=False)
    partials = [e.text for e in events if e.kind == "partial"]
    assert partials == [
        "가로등이 고장",  # first hypothesis: nothing committed yet, all tail
        "가로등이 고장났어요 우리",  # "가로등이" committed
        "가로등이 고장났어요 우리집 앞",  # "고장났어요" committed
        "가로등이 고장났어요 우리집 앞에",  # "우리집" committed
        "가로등이 고장났어요 우리집 앞에서요",
    ]
    assert stream._committed == [] and stream.flush() == []  # end of turn already finalised
    [final] = finals(events)
    assert final.text == "가로등이 고장났어요 우리집 앞에서요"
    assert events[-1] is final
    assert final.start == pytest.approx(1.0, abs=0.05)  # the speech onset
    assert final.end == pytest.approx(5.5, abs=0.05)  # where the VAD heard the speech stop
    assert all(e.speaker == "caller" for e in events)
    check_well_formed(events)


def test_unstable_words_are_not_committed() -> None:
    fake = FakeSTT(["하나 둘", "하나 셋", "하나 넷", "하나 다섯"])
    stream = LocalAgreementSTT(fake, clock=FakeClock())
    run(stream, speech(4.5), flush=False)
    assert stream._committed == ["하나"]  # the last word never agreed twice


def test_no_duplicated_words_across_utterances_and_sentence_segments() -> None:
    script: list[Entry] = [
        [("안녕하세요", 0.0, 0.8), ("가로등이", 0.9, 1.0)],
        [("안녕하세요", 0.0, 0.8), ("가로등이 고장", 0.9, 2.0)],
        # buffer trimmed at 0.8 s: the hypotheses now start with the second sentence
        "가로등이 고장났어요",
        "가로등이 고장났어요",
        "",  # the pause between the turns
        "네 알겠습니다",
        "네 알겠습니다",
    ]
    fake = FakeSTT(script)
    stream = LocalAgreementSTT(fake, speaker="agent", clock=FakeClock())
    audio = np.concatenate([speech(4.2), silence(1.5), speech(2.2, seed=1), silence(1.0)])
    events = run(stream, audio)
    fs = finals(events)
    assert [f.text for f in fs] == ["안녕하세요", "가로등이 고장났어요", "네 알겠습니다"]
    assert fs[0].end == pytest.approx(0.8, abs=0.05)  # the segment (sentence) end
    assert fs[1].start == pytest.approx(0.8, abs=0.05)
    words = " ".join(f.text for f in fs).split()
    assert words == ["안녕하세요", "가로등이", "고장났어요", "네", "알겠습니다"]
    # partials after a final never repeat its words
    seen_final: set[str] = set()
    for e in events:
        if e.kind == "partial":
            assert not seen_final & set(e.text.split())
        else:
            seen_final |= set(e.text.split())
    assert {e.speaker for e in events} == {"agent"}
    check_well_formed(events)


def test_committed_words_only_grow_and_partials_show_committed_plus_tail() -> None:
    fake = FakeSTT(["하나 둘", "하나 둘 셋", "하나 둘 넷 다섯", "하나 둘 넷 다섯 여섯"])
    stream = LocalAgreementSTT(fake, clock=FakeClock())
    audio = speech(4.5)
    committed: list[list[str]] = [[]]
    events: list[TranscriptEvent] = []
    for i in range(0, audio.size, 320):
        new = stream.feed(audio[i:i + 320])
        now = list(stream._committed)
        assert now[:len(committed[-1])] == committed[-1]  # never taken back
        for e in new:
            assert e.kind == "partial" and e.text.split()[:len(now)] == now
        committed.append(now)
        events += new
    assert committed[-1] == ["하나", "둘", "넷", "다섯"]  # "셋" never agreed; "넷 다섯" did
    [final] = stream.flush()
    assert final.text == "하나 둘 넷 다섯 여섯"  # committed words + the tail forced at end of stream
    assert len(final.text.split()) == len(set(final.text.split()))


def test_silence_and_noise_give_no_events_and_no_transcription() -> None:
    fake = FakeSTT(["시청해주셔서 감사합니다"])
    stream = LocalAgreementSTT(fake, clock=FakeClock())
    quiet = (0.001 * np.random.default_rng(0).standard_normal(5 * SR)).astype(np.float32)
    assert run(stream, np.concatenate([silence(5.0), quiet])) == []
    assert fake.calls == 0


def test_hallucinations_are_filtered() -> None:
    fake = FakeSTT(["시청해주셔서 감사합니다."])
    stream = LocalAgreementSTT(fake, clock=FakeClock())
    assert run(stream, np.concatenate([speech(3.0), silence(1.0)])) == []
    assert fake.calls > 0


def test_flush_finalises_pending_speech_and_restarts() -> None:
    fake = FakeSTT(["민원 접수", "민원 접수 부탁"])
    stream = LocalAgreementSTT(fake, clock=FakeClock())
    events = run(stream, speech(2.5), flush=False)
    assert events and all(e.kind == "partial" for e in events)
    [final] = stream.flush()
    assert final.text == "민원 접수 부탁"
    assert final.end == pytest.approx(2.5)
    assert stream.flush() == []
    # the stream restarted: time is measured from 0 again
    later = run(stream, speech(1.5))
    assert finals(later)[0].start < 1.0


def test_chunk_size_does_not_matter() -> None:
    audio = np.concatenate([silence(0.7), speech(3.3), silence(1.0), speech(1.7, seed=2), silence(0.9)])
    results = []
    for chunk in (1, 160, 321, 7000, audio.size):
        stream = LocalAgreementSTT(FakeSTT(["같은 말"]), clock=FakeClock())
        fs = finals(run(stream, audio, chunk=chunk))
        results.append([(f.text, round(f.start, 2), round(f.end, 2)) for f in fs])
    assert results[0] == [("같은 말", 0.7, 4.0), ("같은 말", 5.0, 6.7)]
    assert all(r == results[0] for r in results)


def test_step_grows_when_transcription_is_slower_than_real_time() -> None:
    clock = FakeClock()
    slow = FakeSTT(["느린 모델"], clock=clock, cost_s=4.0)
    stream = LocalAgreementSTT(slow, clock=clock)
    run(stream, speech(12.0), flush=False)
    assert stream.step_s == 3.0  # capped at max_step_s
    assert slow.calls <= 5  # a 1 s step would have made 11 calls
    assert stream.processing_s == pytest.approx(4.0 * slow.calls)

    clock2 = FakeClock()
    fast = FakeSTT(["빠른 모델"], clock=clock2, cost_s=0.1)
    stream2 = LocalAgreementSTT(fast, clock=clock2)
    run(stream2, speech(12.0), flush=False)
    assert stream2.step_s == 1.0 and fast.calls >= 10


def test_step_shrinks_back_when_fast_again() -> None:
    clock = FakeClock()
    fake = FakeSTT(["말"], clock=clock, cost_s=2.5)
    stream = LocalAgreementSTT(fake, clock=clock)
    run(stream, speech(3.0), flush=False)
    assert stream.step_s > 1.0
    fake.cost_s = 0.05
    run(stream, speech(8.0), flush=False)
    assert stream.step_s == 1.0


def test_buffer_is_bounded_by_max_buffer_s() -> None:
    fake = FakeSTT(["계속 말하는 중"])
    stream = LocalAgreementSTT(fake, max_buffer_s=5.0, clock=FakeClock())
    events = run(stream, speech(17.0))
    assert max(fake.lengths) <= 5.0 + 1e-9
    fs = finals(events)
    assert len(fs) == 4  # 5 + 5 + 5 + 2 s
    assert [f.end for f in fs[:3]] == pytest.approx([5.0, 10.0, 15.0], abs=0.03)
    check_well_formed(events)

    big = LocalAgreementSTT(FakeSTT(["한 번에"]), max_buffer_s=5.0, clock=FakeClock())
    assert len(finals(big.feed(speech(17.0)))) == 3  # one big chunk: no backlog, still bounded


def test_reset_discards_pending_words() -> None:
    stream = LocalAgreementSTT(FakeSTT(["버릴 말"]), clock=FakeClock())
    assert run(stream, speech(2.5), flush=False)
    stream.reset()
    assert stream.flush() == []


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError):
        LocalAgreementSTT(FakeSTT(["x"]), step_s=0)
    with pytest.raises(ValueError):
        LocalAgreementSTT(FakeSTT(["x"]), step_s=4.0, max_step_s=3.0)
    with pytest.raises(ValueError):
        LocalAgreementSTT(FakeSTT(["x"]), max_buffer_s=2.0)


def test_common_prefix() -> None:
    assert common_prefix(["a", "b", "c"], ["a", "b", "d"]) == 2
    assert common_prefix([], ["a"]) == 0
    assert common_prefix(["a"], ["a"]) == 1


def test_is_a_streaming_stt() -> None:
    stream: StreamingSTT = LocalAgreementSTT(FakeSTT(["x"]))
    assert stream.flush() == []


@pytest.mark.slow
def test_real_whisper_streams_the_fixture() -> None:
    whisper = WhisperSTT("base", cpu_threads=2)
    stream = LocalAgreementSTT(whisper, speaker="caller")
    audio = read_wav(FIXTURE)
    duration = audio.size / SR
    chunk = SR // 50  # 20 ms
    events: list[TranscriptEvent] = []
    first_partial: float | None = None
    t0 = time.perf_counter()
    for i in range(0, audio.size, chunk):
        new = stream.feed(audio[i:i + chunk])
        if first_partial is None and any(e.kind == "partial" for e in new):
            first_partial = (i + chunk) / SR
        events += new
    events += stream.flush()
    wall = time.perf_counter() - t0
    fs = finals(events)
    text = " ".join(f.text for f in fs)
    error = cer(REFERENCE, text)
    print(f"\nstreaming whisper-base: first partial at {first_partial} s of {duration:.2f} s audio; "
          f"{len(events) - len(fs)} partials, {len(fs)} finals {text!r} CER {error:.3f}; "
          f"processing {wall:.2f} s wall ({stream.transcriptions} transcriptions, "
          f"{stream.processing_s:.2f} s in the STT), final step {stream.step_s:.2f} s")
    assert first_partial is not None and first_partial < duration
    assert fs and error <= 0.35
    assert all(e.speaker == "caller" for e in events)
    check_well_formed(events)
