"""Audio plumbing for the voice channel: G.711 mu-law <-> PCM16, resampling, 20 ms framing, WAV
reading/writing and an energy VAD with end-of-turn detection. Pure numpy (no ``audioop``, no scipy).

Conventions: "PCM16" is little-endian signed 16-bit mono bytes; float audio is ``float32`` in
[-1, 1]; the STT works on 16 kHz float audio; Twilio Media Streams carry 8 kHz mu-law in 20 ms
frames of 160 bytes.
"""

from __future__ import annotations

import math
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from .errors import AudioFormatError

FloatArray = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]

STT_RATE = 16000
TELEPHONY_RATE = 8000
FRAME_MS = 20
MULAW_FRAME_BYTES = TELEPHONY_RATE * FRAME_MS // 1000  # 160: one Twilio media frame

# ---- G.711 mu-law ------------------------------------------------------------------------------
_BIAS = 0x84
_CLIP = 32635


def _build_decode_table() -> Int16Array:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _build_encode_table() -> npt.NDArray[np.uint8]:
    """mu-law byte for every int16 value, indexed by ``sample + 32768``."""
    s = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(s < 0, 0x80, 0)
    mag = np.minimum(np.abs(s), _CLIP) + _BIAS
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7  # position of the top bit above bit 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    codes: npt.NDArray[np.uint8] = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return codes


_MULAW_DECODE = _build_decode_table()
_MULAW_ENCODE = _build_encode_table()


def mulaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 mu-law bytes to PCM16 little-endian bytes (two bytes per input byte)."""
    codes = np.frombuffer(data, dtype=np.uint8)
    return _MULAW_DECODE[codes].astype("<i2").tobytes()


def pcm16_to_mulaw(data: bytes) -> bytes:
    """Encode PCM16 little-endian bytes to G.711 mu-law (one byte per sample)."""
    if len(data) % 2:
        raise AudioFormatError("PCM16 data must have an even number of bytes")
    samples = np.frombuffer(data, dtype="<i2").astype(np.int32)
    return _MULAW_ENCODE[samples + 32768].tobytes()


def mulaw_to_float(data: bytes) -> FloatArray:
    """Decode mu-law bytes straight to float32 samples in [-1, 1]."""
    return (_MULAW_DECODE[np.frombuffer(data, dtype=np.uint8)] / 32768.0).astype(np.float32)


def float_to_mulaw(audio: npt.ArrayLike) -> bytes:
    return pcm16_to_mulaw(float_to_pcm16(audio))


def pcm16_to_float(data: bytes) -> FloatArray:
    if len(data) % 2:
        raise AudioFormatError("PCM16 data must have an even number of bytes")
    return (np.frombuffer(data, dtype="<i2") / 32768.0).astype(np.float32)


def float_to_pcm16(audio: npt.ArrayLike) -> bytes:
    x = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0)
    return np.round(x * 32767.0).astype("<i2").tobytes()


# ---- resampling --------------------------------------------------------------------------------
def _lowpass(up: int, down: int) -> npt.NDArray[np.float64]:
    """Kaiser-windowed sinc for rational resampling by up/down (like scipy's resample_poly)."""
    rate = max(up, down)
    half = 10 * rate
    n = np.arange(-half, half + 1, dtype=np.float64)
    cutoff = 1.0 / rate  # fraction of the upsampled Nyquist frequency
    h: npt.NDArray[np.float64] = cutoff * np.sinc(cutoff * n) * np.kaiser(2 * half + 1, 5.0)
    return h * (up / float(h.sum()))


def resample(audio: npt.ArrayLike, src_rate: int, dst_rate: int) -> FloatArray:
    """Polyphase resampling of mono float audio from ``src_rate`` to ``dst_rate`` (any integers).

    Output length is ``ceil(len * dst / src)``; the anti-alias filter keeps the band below
    0.5 * min(src, dst) (e.g. a 440 Hz tone keeps its frequency and energy).
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise AudioFormatError(f"resample expects mono audio, got shape {x.shape}")
    if src_rate <= 0 or dst_rate <= 0:
        raise AudioFormatError(f"bad sample rates {src_rate} -> {dst_rate}")
    if src_rate == dst_rate or x.size == 0:
        return x.copy()
    g = math.gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    h = _lowpass(up, down)
    half = (h.size - 1) // 2
    taps = -(-h.size // up)  # taps per polyphase branch
    poly = np.zeros(taps * up)
    poly[: h.size] = h
    branches = poly.reshape(taps, up).T.astype(np.float32)  # branches[phase, m] = h[phase + m*up]
    n_out = -(-x.size * up // down)
    padded = np.concatenate([np.zeros(taps, np.float32), x, np.zeros(taps + 1, np.float32)])
    out = np.empty(n_out, dtype=np.float32)
    m = np.arange(taps)
    step = max(1, 2_000_000 // taps)  # bound the gather matrix to ~8 MB
    for start in range(0, n_out, step):
        k = np.arange(start, min(n_out, start + step), dtype=np.int64)
        t = k * down + half
        j0, phase = t // up, t % up
        idx = np.clip(j0[:, None] - m[None, :] + taps, 0, padded.size - 1)
        out[start: start + k.size] = np.einsum("ij,ij->i", branches[phase], padded[idx])
    return out


# ---- framing -----------------------------------------------------------------------------------
def frame_size(sample_rate: int, frame_ms: int = FRAME_MS, sample_width: int = 1) -> int:
    """Bytes in one frame: 160 for 20 ms of 8 kHz mu-law, 640 for 20 ms of 16 kHz PCM16."""
    return sample_rate * frame_ms // 1000 * sample_width


def frames(data: bytes, size: int = MULAW_FRAME_BYTES, pad: bytes | None = None) -> Iterator[bytes]:
    """Split bytes into frames of ``size``; the last partial frame is padded with ``pad`` (e.g.
    ``b"\\xff"``, mu-law silence) or dropped when ``pad`` is None."""
    if size <= 0:
        raise ValueError("frame size must be positive")
    full = len(data) - len(data) % size
    for i in range(0, full, size):
        yield data[i: i + size]
    rest = data[full:]
    if rest and pad is not None:
        yield rest + pad[:1] * (size - len(rest))


# ---- WAV files ---------------------------------------------------------------------------------
def read_wav(path: str | Path, sample_rate: int | None = STT_RATE) -> FloatArray:
    """Read a PCM WAV file (8/16/24/32-bit, any channels, any rate) as mono float32 audio,
    resampled to ``sample_rate`` (None keeps the file's rate). Raises AudioFormatError otherwise."""
    audio, rate = read_wav_native(path)
    return audio if sample_rate is None else resample(audio, rate, sample_rate)


def read_wav_native(path: str | Path) -> tuple[FloatArray, int]:
    """(mono float32 audio, the file's sample rate)."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{path}: not a PCM WAV file ({exc})") from exc
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)).astype(np.float32)
    elif width == 4:
        x = (np.frombuffer(raw, "<i4") / float(1 << 31)).astype(np.float32)
    else:
        raise AudioFormatError(f"{path}: unsupported sample width {width}")
    usable = x.size - x.size % channels
    mono = x[:usable].reshape(-1, channels).mean(axis=1, dtype=np.float32) if channels > 1 else x
    return mono.astype(np.float32), rate


def write_wav(path: str | Path, audio: npt.ArrayLike, sample_rate: int) -> None:
    """Write mono float audio as a 16-bit PCM WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(float_to_pcm16(audio))


# ---- voice activity ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VadEvent:
    """``start`` when speech begins; ``end`` when the caller has been silent long enough (end of turn).
    ``time_s`` is measured from the first sample fed (for ``end``: where the speech stopped)."""

    kind: Literal["start", "end"]
    time_s: float


def rms_dbfs(frame: FloatArray) -> float:
    if frame.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(frame, dtype=np.float64))))
    return 20.0 * math.log10(max(rms, 1e-6))


class EnergyVAD:
    """Frame-energy voice activity detector with end-of-turn detection.

    A frame is speech when its RMS level is above ``threshold_db`` (dBFS) and ``margin_db`` above a
    slowly tracked noise floor. Speech starts after ``min_speech_ms`` of speech frames; the turn
    ends after ``end_silence_ms`` of non-speech (700 ms default; use ~1200 ms for elderly callers).
    Feed float audio of any length with :meth:`feed`; it keeps the partial frame between calls.
    """

    def __init__(self, sample_rate: int = STT_RATE, *, threshold_db: float = -45.0, margin_db: float = 10.0,
                 min_speech_ms: int = 100, end_silence_ms: int = 700, frame_ms: int = FRAME_MS) -> None:
        if sample_rate <= 0 or frame_ms <= 0 or end_silence_ms < frame_ms:
            raise ValueError("bad VAD parameters")
        self.sample_rate = sample_rate
        self.threshold_db = threshold_db
        self.margin_db = margin_db
        self.frame_len = sample_rate * frame_ms // 1000
        self.frame_s = self.frame_len / sample_rate
        self.start_frames = max(1, min_speech_ms // frame_ms)
        self.end_frames = max(1, end_silence_ms // frame_ms)
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(0, dtype=np.float32)
        self._frames = 0
        self._noise_db = -70.0
        self._run_speech = 0
        self._run_silence = 0
        self.in_speech = False

    def is_speech(self, frame: FloatArray) -> bool:
        level = rms_dbfs(frame)
        speech = level > self.threshold_db and level > self._noise_db + self.margin_db
        if not speech:  # follow the noise floor down fast, up slowly
            rate = 0.5 if level < self._noise_db else 0.02
            self._noise_db += rate * (level - self._noise_db)
        return speech

    def feed(self, audio: npt.ArrayLike) -> list[VadEvent]:
        x = np.concatenate([self._buf, np.asarray(audio, dtype=np.float32).ravel()])
        n = x.size // self.frame_len
        self._buf = x[n * self.frame_len:]
        events: list[VadEvent] = []
        for i in range(n):
            speech = self.is_speech(x[i * self.frame_len: (i + 1) * self.frame_len])
            self._frames += 1
            if speech:
                self._run_speech += 1
                self._run_silence = 0
            else:
                self._run_silence += 1
                self._run_speech = 0
            if not self.in_speech and self._run_speech >= self.start_frames:
                self.in_speech = True
                events.append(VadEvent("start", (self._frames - self._run_speech) * self.frame_s))
            elif self.in_speech and self._run_silence >= self.end_frames:
                self.in_speech = False
                events.append(VadEvent("end", (self._frames - self._run_silence) * self.frame_s))
        return events

    def feed_mulaw(self, data: bytes) -> list[VadEvent]:
        """Feed 8 kHz mu-law bytes (the VAD must have been built with ``sample_rate=8000``)."""
        return self.feed(mulaw_to_float(data))


def speech_segments(audio: npt.ArrayLike, sample_rate: int = STT_RATE, *, threshold_db: float = -45.0,
                    end_silence_ms: int = 700) -> list[tuple[float, float]]:
    """(start_s, end_s) of each speech turn in a whole recording (a turn open at the end is closed there)."""
    x = np.asarray(audio, dtype=np.float32)
    vad = EnergyVAD(sample_rate, threshold_db=threshold_db, end_silence_ms=end_silence_ms)
    out: list[tuple[float, float]] = []
    start: float | None = None
    for ev in vad.feed(x):
        if ev.kind == "start":
            start = ev.time_s
        elif start is not None:
            out.append((start, ev.time_s))
            start = None
    if start is not None:
        out.append((start, x.size / sample_rate))
    return out
