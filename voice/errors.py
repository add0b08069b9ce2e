"""Errors raised by the voice package.

    VoiceError                          base; ``transient`` says whether a retry may help
    ├── AudioFormatError                input audio cannot be decoded (not WAV, bad sample width,
    │                                   wrong dtype/shape); not transient
    ├── STTError                        speech-to-text failed (model missing or broken, decoder
    │   │                               error); not transient unless stated
    │   └── STTModelError               the STT model could not be found, assembled or loaded
    └── TTSError                        text-to-speech failed: empty text, synthesiser missing
                                        (not transient) or timed out / killed (transient)

Third-party exceptions (faster-whisper, CTranslate2, ``wave``) are translated where they occur;
channels/ decides how an error reaches a person (spoken apology, hand-off to an agent).
"""

from __future__ import annotations


class VoiceError(Exception):
    """Base of every error raised on purpose by the voice package."""

    transient: bool = False


class AudioFormatError(VoiceError, ValueError):
    """The audio is not in a format we can read (only PCM WAV; float or int16 arrays)."""


class STTError(VoiceError):
    """Speech-to-text failed for this audio."""


class STTModelError(STTError):
    """The STT model could not be found, assembled from its packages, or loaded."""


class TTSError(VoiceError):
    """Text-to-speech failed; ``transient`` is set per error (a timeout may pass, a missing binary won't)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
