"""Builds the agent console's ``CallService`` from settings and the app's services (factory side)."""

from __future__ import annotations

from typing import Any

from ..complaints.routing import TableRouter
from ..settings import Settings
from .assist import AgentAssist
from .hub import make_call_hub
from .registry import make_call_registry
from .service import CallConfig, CallService
from .transcript import TranscriptStore


def call_service_from(settings: Settings, services: dict[str, Any]) -> CallService:
    """The console back end over the app's answerer, intent classifier, router, database and complaint
    store. The streaming STT model is loaded on the first call (or reused from ``services["stt"]``),
    never here, so an app without agents never loads Whisper for the console."""
    a = settings.agent
    engine = services.get("engine")
    answerer = services.get("answerer")
    assist = AgentAssist(answerer.answer if answerer is not None else None,
                         getattr(engine, "classifier", None), services.get("router") or TableRouter())

    def stt() -> Any:
        from ..factory import stt_from

        model = stt_from(settings)  # its own instance: decoding settings differ from the phone line's
        if hasattr(model, "beam_size"):
            model.beam_size = a.stt_beam_size
        if hasattr(model, "temperature"):
            model.temperature = 0.0  # no re-decoding fallback when re-transcribing every step
        return model

    stream_factory = None
    if a.stt_backend == "vosk":  # a true streaming recogniser: no batch model needed
        from voice.stt import ScriptedSTT
        from voice.vosk import vosk_stream_factory

        stream_factory = vosk_stream_factory(a.vosk_model_path)

        def stt() -> Any:
            return ScriptedSTT(["(vosk backend: batch STT unused)"])
    elif a.stt_backend == "twopass":  # Vosk partials, Whisper finals (one transcription per phrase)
        from voice.vosk import vosk_stream_factory

        stream_factory = vosk_stream_factory(a.vosk_model_path, finals=_finals_only)
    db = services.get("db")
    service = CallService(
        make_call_hub(settings.redis_url, a.history_max, a.history_ttl_s),
        make_call_registry(settings.redis_url, a.history_ttl_s), assist, stt,
        agents=sorted(a.users), transcripts=TranscriptStore(db) if db is not None else None,
        complaints=services.get("complaints"), data_dir=settings.data_dir, stream_factory=stream_factory,
        config=CallConfig(step_s=a.step_s, first_step_s=a.first_step_s, max_step_s=a.max_step_s,
                          max_buffer_s=a.max_buffer_s, end_silence_ms=a.end_silence_ms, vad_threshold_db=settings.voice.vad_threshold_db,
                          store_audio=a.store_audio, default_agent=a.default_agent))
    if a.users and a.stt_backend in ("whisper", "twopass"):
        service.stt()
    return service


def _finals_only(stt: Any, speaker: str, cfg: CallConfig) -> Any:
    """LocalAgreement that never re-transcribes mid-phrase: one transcription when the phrase ends."""
    from voice.streaming import LocalAgreementSTT

    once = cfg.max_buffer_s - 0.5
    return LocalAgreementSTT(stt, speaker=speaker, step_s=once, max_step_s=once, first_step_s=once,
                             max_buffer_s=cfg.max_buffer_s, vad_threshold_db=cfg.vad_threshold_db,
                             end_silence_ms=cfg.end_silence_ms)
