"""voice.tts: the TTS contract suite, run for the ToneTTS fake and the real EspeakTTS (skipped, with the
reason, when the espeak-ng binary is missing); Audio/WAV handling; EspeakTTS and CoquiTTS error paths."""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from voice.errors import TTSError, VoiceError
from voice.tts import TTS, Audio, CoquiTTS, EspeakTTS, ToneTTS

HAS_ESPEAK = shutil.which("espeak-ng") is not None
SENTENCE = "보이스봇은 18시~익일9시에 운영합니다"


def rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(audio.samples.astype(np.float64) ** 2)))


class TTSContract:
    """Every TTS implementation must pass these. Subclasses provide the ``tts`` fixture."""

    @pytest.fixture
    def tts(self) -> TTS:
        raise NotImplementedError

    def test_sentence_gives_audible_mono_16_bit_audio(self, tts: TTS) -> None:
        audio = tts.synthesize(SENTENCE)
        assert audio.samples.dtype == np.int16 and audio.samples.ndim == 1
        assert 8000 <= audio.sample_rate <= 48000
        assert 0.5 <= audio.duration_s <= 20
        assert rms(audio) > 300  # not silence

    def test_longer_text_gives_longer_audio(self, tts: TTS) -> None:
        short = tts.synthesize("안녕하세요.")
        long = tts.synthesize("안녕하세요. 남양주시 민원콜센터입니다. 무엇을 도와드릴까요?")
        assert long.duration_s > short.duration_s

    def test_wav_bytes_round_trip(self, tts: TTS) -> None:
        audio = tts.synthesize("안녕하세요.")
        data = audio.to_wav_bytes()
        with wave.open(io.BytesIO(data)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, audio.sample_rate)
            assert w.getnframes() == len(audio.samples)
        back = Audio.from_wav_bytes(data)
        assert back.sample_rate == audio.sample_rate
        assert np.array_equal(back.samples, audio.samples)

    @pytest.mark.parametrize("text", ["", "   ", "\n\t"])
    def test_empty_text_is_a_non_transient_error(self, tts: TTS, text: str) -> None:
        with pytest.raises(TTSError) as info:
            tts.synthesize(text)
        assert not info.value.transient
        assert isinstance(info.value, VoiceError)

    @pytest.mark.parametrize("text", [
        '따옴표 "큰" \'작은\' 그리고 `백틱`',
        "줄바꿈\n두 번째 줄\r\n세 번째 줄",
        "특수문자 $HOME & | ; < > * ? \\ ! % ^ { } [ ]",
        "-v en --help 로 시작하는 문장",
        "English words and 한국어 mixed, 123.",
    ])
    def test_special_characters(self, tts: TTS, text: str) -> None:
        audio = tts.synthesize(text)
        assert 0.3 <= audio.duration_s <= 30 and rms(audio) > 100

    def test_shell_injection_is_spoken_not_run(self, tts: TTS, tmp_path: Path) -> None:
        marker = tmp_path / "pwned"
        audio = tts.synthesize(f'"; touch {marker} #\'; $(touch {marker}) `touch {marker}`')
        assert audio.duration_s > 0.3
        assert not marker.exists()

    def test_long_input_is_bounded(self, tts: TTS) -> None:
        text = "민원 접수는 남양주시 민원콜센터로 문의하세요. " * 200  # ~5,000 characters
        assert len(text) >= 5000
        audio = tts.synthesize(text)
        assert 1 <= audio.duration_s <= 180


class TestToneTTS(TTSContract):
    @pytest.fixture
    def tts(self) -> TTS:
        return ToneTTS()

    def test_deterministic(self) -> None:
        a, b = ToneTTS().synthesize("안녕"), ToneTTS().synthesize("안녕")
        assert np.array_equal(a.samples, b.samples)


@pytest.mark.skipif(not HAS_ESPEAK, reason="espeak-ng binary not installed (apt-get install espeak-ng)")
class TestEspeakTTS(TTSContract):
    @pytest.fixture(scope="class")
    def espeak(self) -> EspeakTTS:
        return EspeakTTS()

    @pytest.fixture
    def tts(self, espeak: EspeakTTS) -> TTS:
        return espeak

    def test_text_goes_through_stdin_not_argv(self, espeak: EspeakTTS) -> None:
        argv = espeak.command()
        assert "--stdout" in argv and not any("보이스" in a for a in argv)

    def test_normalisation_is_applied_by_default(self) -> None:
        # digits read by the Korean voice would differ from the normalised words; equal audio shows
        # that EspeakTTS speaks to_speech(text)
        from voice.speech_text import to_speech

        normalising, raw = EspeakTTS(), EspeakTTS(normalize=False)
        assert np.array_equal(normalising.synthesize("18:00").samples,
                              raw.synthesize(to_speech("18:00")).samples)

    def test_rate_changes_duration(self) -> None:
        slow, fast = EspeakTTS(rate=100), EspeakTTS(rate=300)
        assert slow.synthesize(SENTENCE).duration_s > fast.synthesize(SENTENCE).duration_s * 1.5

    def test_unknown_voice_is_a_clear_error(self) -> None:
        with pytest.raises(TTSError, match="voice 'xx-nonexistent'") as info:
            EspeakTTS(voice="xx-nonexistent").synthesize("안녕하세요")
        assert not info.value.transient

    def test_timeout_is_transient(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def slow(*args: object, **kwargs: object) -> None:
            raise subprocess.TimeoutExpired("espeak-ng", 0.01)

        monkeypatch.setattr(subprocess, "run", slow)
        with pytest.raises(TTSError, match="longer than") as info:
            EspeakTTS(timeout_s=0.01).synthesize("안녕하세요")
        assert info.value.transient


def test_missing_espeak_binary_is_a_non_transient_error() -> None:
    with pytest.raises(TTSError, match="not found") as info:
        EspeakTTS(binary="espeak-ng-does-not-exist")
    assert not info.value.transient


def test_bad_rate_rejected() -> None:
    if not HAS_ESPEAK:
        pytest.skip("espeak-ng binary not installed")
    with pytest.raises(TTSError, match="rate"):
        EspeakTTS(rate=5)


# ---- Audio ------------------------------------------------------------------------------------
def test_audio_rejects_wrong_dtype_and_shape() -> None:
    with pytest.raises(TTSError):
        Audio(np.zeros(10, dtype=np.float32), 16000)  # type: ignore[arg-type]
    with pytest.raises(TTSError):
        Audio(np.zeros((10, 2), dtype=np.int16), 16000)
    with pytest.raises(TTSError):
        Audio(np.zeros(10, dtype=np.int16), 0)


def test_from_wav_bytes_tolerates_streamed_header_sizes() -> None:
    """espeak-ng --stdout writes 0x7ffff000 as the RIFF and data sizes; the data runs to the end."""
    samples = (np.sin(np.arange(2205) / 5) * 10000).astype(np.int16)
    data = bytearray(Audio(samples, 22050).to_wav_bytes())
    data[4:8] = data[40:44] = (0x7FFFF000).to_bytes(4, "little")
    back = Audio.from_wav_bytes(bytes(data))
    assert np.array_equal(back.samples, samples)
    assert back.duration_s == pytest.approx(0.1)


def test_from_wav_bytes_downmixes_stereo() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.array([100, 300, -100, -300], dtype="<i2").tobytes())
    back = Audio.from_wav_bytes(buf.getvalue())
    assert back.samples.tolist() == [200, -200]


@pytest.mark.parametrize("data", [b"", b"not a wav file at all", b"RIFF\x00\x00\x00\x00WAVE"])
def test_from_wav_bytes_rejects_garbage(data: bytes) -> None:
    with pytest.raises(TTSError):
        Audio.from_wav_bytes(data)


def test_from_wav_bytes_rejects_8_bit() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * 10)
    with pytest.raises(TTSError, match="8-bit"):
        Audio.from_wav_bytes(buf.getvalue())


# ---- Coqui (error paths only: coqui-tts is not a test dependency) ----------------------------------
def test_coqui_needs_a_model_path() -> None:
    with pytest.raises(TTSError, match="COQUI_MODEL_PATH") as info:
        CoquiTTS("")
    assert not info.value.transient


def test_coqui_missing_model_files(tmp_path: Path) -> None:
    with pytest.raises(TTSError, match="not found"):
        CoquiTTS(tmp_path / "model.pth")
    with pytest.raises(TTSError, match=r"no \*\.pth"):
        CoquiTTS(tmp_path)


def test_coqui_missing_package_is_a_clear_error(tmp_path: Path) -> None:
    try:
        import TTS  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("coqui-tts is installed here")
    (tmp_path / "model.pth").write_bytes(b"x")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(TTSError, match="pip install coqui-tts") as info:
        CoquiTTS(tmp_path)
    assert not info.value.transient


# ---- `python -m assistant say` (the CLI contract in ARCHITECTURE.md) ---------------------------------
@pytest.mark.skipif(not HAS_ESPEAK, reason="espeak-ng binary not installed (apt-get install espeak-ng)")
def test_cli_say_writes_a_wav(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import main

    out = tmp_path / "out.wav"
    assert main(["say", SENTENCE, "-o", str(out)]) == 0
    audio = Audio.from_wav_bytes(out.read_bytes())
    assert 1 <= audio.duration_s <= 20 and rms(audio) > 300
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(("argv", "message"), [
    (["say", "", "-o", "{tmp}/x.wav"], "nothing to say"),
    (["say", "안녕", "-o", "{tmp}/missing-dir/x.wav"], "cannot write"),
    (["say", "안녕", "-o", "{tmp}/x.wav", "--rate", "5"], "rate"),
])
def test_cli_say_failures_exit_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   argv: list[str], message: str) -> None:
    if not HAS_ESPEAK:
        pytest.skip("espeak-ng binary not installed")
    from assistant.cli import main

    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_cli_say_without_espeak_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it
    assert main(["say", "안녕하세요", "-o", str(tmp_path / "x.wav")]) == 2
    assert "apt-get install espeak-ng" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()
