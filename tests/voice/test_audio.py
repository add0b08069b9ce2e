"""voice.audio: G.711 mu-law, resampling, framing, WAV reading and the energy VAD."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from voice.audio import (
    MULAW_FRAME_BYTES,
    EnergyVAD,
    float_to_mulaw,
    float_to_pcm16,
    frame_size,
    frames,
    mulaw_to_float,
    mulaw_to_pcm16,
    pcm16_to_float,
    pcm16_to_mulaw,
    read_wav,
    read_wav_native,
    resample,
    speech_segments,
    write_wav,
)
from voice.errors import AudioFormatError, VoiceError

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "ko_sample_leopard.wav"


def tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# ---- mu-law --------------------------------------------------------------------------------------
def test_known_g711_values() -> None:
    pcm = np.array([0, -1, 32767, -32768, 120, -120], "<i2").tobytes()
    assert list(pcm16_to_mulaw(pcm)) == [0xFF, 0x7F, 0x80, 0x00, 0xF0, 0x70]
    decoded = np.frombuffer(mulaw_to_pcm16(bytes([0xFF, 0x7F, 0x80, 0x00, 0xF0, 0x70])), "<i2")
    assert decoded.tolist() == [0, 0, 32124, -32124, 120, -120]


def test_mulaw_decode_encode_is_identity_on_codes() -> None:
    codes = bytes(range(256))
    again = pcm16_to_mulaw(mulaw_to_pcm16(codes))
    # 0x7F (-0) re-encodes as 0xFF (+0); every other code is stable
    assert [c for c, d in zip(codes, again, strict=True) if c != d] == [0x7F]


def test_mulaw_round_trip_error_is_within_the_g711_step() -> None:
    s = np.arange(-32768, 32768, dtype=np.int32)
    back = np.frombuffer(mulaw_to_pcm16(pcm16_to_mulaw(s.astype("<i2").tobytes())), "<i2").astype(np.int32)
    err = np.abs(back - s)
    assert err.max() <= 1024  # the largest segment's half step (clipped tail)
    loud = np.abs(s) > 256
    assert (err[loud] / np.abs(s[loud])).max() < 0.05  # ~logarithmic: under 5% relative error
    assert err[np.abs(s) < 32].max() <= 4


def test_mulaw_float_round_trip_keeps_a_tone() -> None:
    x = tone(440, 0.5, 8000)
    y = mulaw_to_float(float_to_mulaw(x))
    assert y.dtype == np.float32 and y.size == x.size
    snr = 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
    assert snr > 30


def test_pcm16_helpers() -> None:
    x = np.array([0.0, 0.5, -0.5, 1.5, -1.5], np.float32)
    y = pcm16_to_float(float_to_pcm16(x))
    assert np.allclose(y, [0, 0.5, -0.5, 1, -1], atol=1e-4)
    with pytest.raises(AudioFormatError):
        pcm16_to_float(b"\x00\x01\x02")
    with pytest.raises(VoiceError):
        pcm16_to_mulaw(b"\x00")


# ---- resampling ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000), (44100, 16000), (48000, 16000),
                                          (22050, 16000), (16000, 16000)])
def test_resampling_keeps_tone_frequency_and_energy(src: int, dst: int) -> None:
    x = tone(440, 1.0, src)
    y = resample(x, src, dst)
    assert y.dtype == np.float32
    assert y.size == -(-x.size * dst // src)
    assert abs(dominant_hz(y, dst) - 440) <= 2
    assert rms(y[dst // 10: -dst // 10]) == pytest.approx(rms(x), rel=0.02)


def test_downsampling_removes_content_above_the_new_nyquist() -> None:
    x = tone(6000, 1.0, 16000)  # above 4 kHz: must not alias into the 8 kHz signal
    y = resample(x, 16000, 8000)
    assert rms(y[800:-800]) < 0.01 * rms(x)


def test_resample_matches_scipy_when_available() -> None:
    signal = pytest.importorskip("scipy.signal")
    x = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    ours = resample(x, 8000, 16000)
    theirs = signal.resample_poly(x, 2, 1)
    assert np.abs(ours - theirs).max() < 1e-4


def test_resample_rejects_bad_input() -> None:
    with pytest.raises(AudioFormatError):
        resample(np.zeros((10, 2)), 8000, 16000)
    with pytest.raises(AudioFormatError):
        resample(np.zeros(10), 0, 16000)
    assert resample(np.zeros(0), 8000, 16000).size == 0


# ---- framing -------------------------------------------------------------------------------------
def test_frame_sizes() -> None:
    assert MULAW_FRAME_BYTES == 160 == frame_size(8000)
    assert frame_size(16000, sample_width=2) == 640
    assert frame_size(8000, frame_ms=30) == 240


def test_framing_splits_and_pads() -> None:
    data = bytes(range(256)) * 2  # 512 bytes = 3 full frames + 32
    whole = list(frames(data))
    assert [len(f) for f in whole] == [160, 160, 160]
    assert b"".join(whole) == data[:480]
    padded = list(frames(data, pad=b"\xff"))
    assert len(padded) == 4 and len(padded[-1]) == 160 and padded[-1].endswith(b"\xff" * 128)
    assert list(frames(b"")) == []
    with pytest.raises(ValueError):
        list(frames(data, 0))


# ---- WAV -----------------------------------------------------------------------------------------
def test_read_the_fixture() -> None:
    audio = read_wav(FIXTURE)
    native, rate = read_wav_native(FIXTURE)
    assert rate == 16000 and audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size == native.size == 62208  # 3.888 s
    assert 0.01 < rms(audio) < 0.5 and np.abs(audio).max() <= 1.0
    assert read_wav(FIXTURE, 8000).size == 31104


def test_read_wav_mixes_channels_and_resamples(tmp_path: Path) -> None:
    left, right = tone(440, 1.0, 44100, 0.4), tone(440, 1.0, 44100, 0.2)
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(np.round(np.stack([left, right], 1) * 32767).astype("<i2").tobytes())
    audio = read_wav(path)
    assert audio.size == 16000
    assert abs(dominant_hz(audio, 16000) - 440) <= 2
    assert rms(audio[1000:-1000]) == pytest.approx(0.3 / np.sqrt(2), rel=0.02)


def test_write_then_read_wav(tmp_path: Path) -> None:
    x = tone(300, 0.5, 8000)
    write_wav(tmp_path / "t.wav", x, 8000)
    back, rate = read_wav_native(tmp_path / "t.wav")
    assert rate == 8000 and np.allclose(back, x, atol=1e-4)


def test_non_wav_is_a_format_error(tmp_path: Path) -> None:
    bad = tmp_path / "audio.mp3"
    bad.write_bytes(b"ID3\x03\x00" + b"\x00" * 100)
    with pytest.raises(AudioFormatError):
        read_wav(bad)


# ---- VAD -----------------------------------------------------------------------------------------
def test_vad_detects_start_and_end_of_turn() -> None:
    rate = 16000
    audio = np.concatenate([np.zeros(rate // 2, np.float32), tone(300, 1.0, rate, 0.3),
                            np.zeros(rate, np.float32)])
    vad = EnergyVAD(rate, end_silence_ms=700)
    events = []
    for chunk in np.array_split(audio, 37):  # arbitrary chunk sizes
        events += vad.feed(chunk)
    assert [e.kind for e in events] == ["start", "end"]
    assert events[0].time_s == pytest.approx(0.5, abs=0.03)
    assert events[1].time_s == pytest.approx(1.5, abs=0.03)
    assert not vad.in_speech


def test_vad_end_needs_the_configured_silence() -> None:
    rate = 8000
    audio = np.concatenate([tone(300, 0.6, rate, 0.3), np.zeros(int(0.9 * rate), np.float32)])
    assert [e.kind for e in EnergyVAD(rate, end_silence_ms=700).feed(audio)] == ["start", "end"]
    patient = EnergyVAD(rate, end_silence_ms=1200)  # elderly callers: longer pauses
    assert [e.kind for e in patient.feed(audio)] == ["start"] and patient.in_speech


def test_vad_ignores_silence_low_noise_and_clicks() -> None:
    rate = 16000
    noise = (0.001 * np.random.default_rng(1).standard_normal(2 * rate)).astype(np.float32)
    assert EnergyVAD(rate).feed(np.zeros(2 * rate, np.float32)) == []
    assert EnergyVAD(rate).feed(noise) == []
    click = noise.copy()
    click[8000:8160] = 0.5  # 10 ms: shorter than min_speech_ms
    assert EnergyVAD(rate).feed(click) == []


def test_vad_on_mulaw_frames() -> None:
    audio = np.concatenate([np.zeros(4000, np.float32), tone(300, 0.5, 8000, 0.3), np.zeros(8000, np.float32)])
    vad = EnergyVAD(8000)
    events = [e for f in frames(float_to_mulaw(audio)) for e in vad.feed_mulaw(f)]
    assert [e.kind for e in events] == ["start", "end"]


def test_vad_finds_speech_in_the_real_fixture() -> None:
    audio = read_wav(FIXTURE)
    spans = speech_segments(audio)
    assert spans, "no speech found"
    start, end = spans[0][0], spans[-1][1]
    assert start < 1.0 and end > 3.0
    assert sum(e - s for s, e in spans) > 2.0
    reset = EnergyVAD()
    reset.feed(audio)
    reset.reset()
    assert not reset.in_speech
