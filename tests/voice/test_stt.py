"""voice.stt: the STT contract suite, run for the ScriptedSTT fake and (slow) the real WhisperSTT on the
packaged offline Whisper base weights; plus the model assembly and the hallucination filter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval.stt import cer
from voice.audio import read_wav, resample
from voice.errors import AudioFormatError, STTModelError, VoiceError
from voice.stt import (
    STT,
    ScriptedSTT,
    Segment,
    Transcript,
    WhisperSTT,
    is_hallucination,
    packaged_base_model_dir,
    prepare_audio,
)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "ko_sample_leopard.wav"
REFERENCE = "그는 이리저리 피하면서 길 한 옆으로 걸어갔다"
MAX_CER = 0.30


class STTContract:
    """Every STT implementation must pass these. Subclasses provide the ``stt`` fixture."""

    @pytest.fixture
    def stt(self) -> STT:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    def speech(self) -> np.ndarray:
        return read_wav(FIXTURE)

    def test_transcribes_the_fixture(self, stt: STT, speech: np.ndarray) -> None:
        t = stt.transcribe(speech)
        assert isinstance(t, Transcript)
        error = cer(REFERENCE, t.text)
        print(f"\n{type(stt).__name__}: {t.text!r} CER {error:.3f}, "
              f"RTF {t.processing_s / t.duration_s:.2f}")
        assert error <= MAX_CER
        assert t.duration_s == pytest.approx(3.888, abs=0.01)
        assert t.processing_s >= 0
        assert t.segments and all(isinstance(s, Segment) for s in t.segments)
        assert all(0 <= s.start <= s.end <= t.duration_s for s in t.segments)
        assert t.text == " ".join(s.text for s in t.segments)
        js = t.as_json()
        assert set(js) == {"text", "segments", "duration_s", "processing_s"}
        assert set(js["segments"][0]) == {"start", "end", "text"}

    def test_silence_gives_empty_text(self, stt: STT) -> None:
        for audio in (np.zeros(32000, np.float32),
                      (0.002 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32)):
            t = stt.transcribe(audio)
            assert t.text == "" and t.segments == ()
            assert t.duration_s == pytest.approx(2.0)

    def test_too_short_audio(self, stt: STT) -> None:
        for n in (0, 1, 160, 800):
            t = stt.transcribe(np.zeros(n, np.float32))
            assert t.text == "" and t.duration_s == pytest.approx(n / 16000)

    def test_int16_and_other_rates(self, stt: STT, speech: np.ndarray) -> None:
        as_int16 = np.round(speech * 32767).astype(np.int16)
        t = stt.transcribe(as_int16)
        assert cer(REFERENCE, t.text) <= MAX_CER
        at_8k = resample(speech, 16000, 8000)  # telephone band
        t8 = stt.transcribe(at_8k, sample_rate=8000)
        assert t8.duration_s == pytest.approx(3.888, abs=0.01)
        assert cer(REFERENCE, t8.text) <= 0.5

    def test_bad_input_is_a_format_error(self, stt: STT) -> None:
        with pytest.raises(AudioFormatError):
            stt.transcribe(np.array(["a", "b"]))
        with pytest.raises(AudioFormatError):
            stt.transcribe(np.zeros((2, 2, 2), np.float32))
        with pytest.raises(VoiceError):
            stt.transcribe(np.zeros(100, np.float32), sample_rate=0)


class TestScriptedSTT(STTContract):
    @pytest.fixture
    def stt(self) -> STT:
        return ScriptedSTT([REFERENCE])

    def test_cycles_through_its_script(self, speech: np.ndarray) -> None:
        fake = ScriptedSTT(["하나", "둘"])
        assert [fake.transcribe(speech).text for _ in range(3)] == ["하나", "둘", "하나"]
        with pytest.raises(ValueError):
            ScriptedSTT([])


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return packaged_base_model_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def whisper(whisper_dir: Path) -> WhisperSTT:
    return WhisperSTT(str(whisper_dir), cpu_threads=2, beam_size=5)


@pytest.mark.slow
class TestWhisperSTT(STTContract):
    @pytest.fixture
    def stt(self, whisper: WhisperSTT) -> STT:
        return whisper


@pytest.mark.slow
def test_packaged_model_is_assembled_once(whisper_dir: Path) -> None:
    model = whisper_dir / "model.bin"
    assert {p.name for p in whisper_dir.iterdir()} == {"model.bin", "config.json", "tokenizer.json",
                                                      "vocabulary.txt"}
    assert model.stat().st_size == 145217532
    mtime = model.stat().st_mtime_ns
    assert packaged_base_model_dir(whisper_dir.parent) == whisper_dir
    assert model.stat().st_mtime_ns == mtime  # reused, not rewritten


def test_a_truncated_model_is_rebuilt(tmp_path: Path) -> None:
    target = tmp_path / "whisper-base"
    target.mkdir()
    (target / "model.bin").write_bytes(b"partial")
    out = packaged_base_model_dir(tmp_path)
    assert (out / "model.bin").stat().st_size == 145217532
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_missing_model_is_an_stt_error(tmp_path: Path) -> None:
    with pytest.raises(STTModelError):
        WhisperSTT(str(tmp_path / "nowhere-model"), cache_dir=tmp_path)


@pytest.mark.parametrize("text", ["시청해주셔서 감사합니다.", " 시청해 주셔서 감사합니다!", "구독과 좋아요 부탁드립니다",
                                  "MBC 뉴스 이덕영입니다.", "다음 영상에서 만나요", "한글자막 by 한효정"])
def test_known_hallucinations_are_recognised(text: str) -> None:
    assert is_hallucination(text)


@pytest.mark.parametrize("text", ["감사합니다", "좋아요 좋아요", "가로등이 고장났어요", "뉴스 보고 전화했어요"])
def test_real_speech_is_not_a_hallucination(text: str) -> None:
    assert not is_hallucination(text)


def test_prepare_audio_normalises() -> None:
    stereo = np.stack([np.full(1600, 0.5), np.full(1600, -0.1)], axis=1).astype(np.float64)
    assert np.allclose(prepare_audio(stereo, 16000), 0.2)
    assert prepare_audio(np.array([np.nan, 5.0, -5.0]), 16000).tolist() == [0.0, 1.0, -1.0]
    assert prepare_audio(np.array([-32768, 16384], np.int16), 16000).tolist() == [-1.0, 0.5]
    assert prepare_audio(np.zeros(8000, np.float32), 8000).size == 16000


def test_cer() -> None:
    assert cer(REFERENCE, REFERENCE.replace(" ", "") + ".") == 0
    assert cer("가나다라", "가나라") == pytest.approx(0.25)
    assert cer("", "") == 0 and cer("", "가") == 1


def test_read_audio_decodes_other_formats_and_rejects_non_audio(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    from voice.audio import read_wav
    from voice.errors import AudioFormatError
    from voice.stt import read_audio

    src = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "ko_sample_leopard.wav"
    ogg = tmp_path / "call.ogg"
    with av.open(str(src)) as inp, av.open(str(ogg), "w") as out:
        stream = out.add_stream("libvorbis" if "libvorbis" in av.codecs_available else "flac", rate=16000)
        for frame in inp.decode(audio=0):
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    decoded, reference = read_audio(ogg), read_wav(src)
    assert abs(len(decoded) - len(reference)) < 16000 * 0.1  # same duration within 0.1 s
    junk = tmp_path / "notes.txt"
    junk.write_text("이건 소리가 아닙니다", encoding="utf-8")
    with pytest.raises(AudioFormatError):
        read_audio(junk)
