"""The one factory: settings -> providers. Heavy imports happen only in the branch that needs them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from knowledge.answer import AbstainPolicy, Answerer
from knowledge.embedders import Embedder, make_embedder
from knowledge.pipeline import open_answerer, open_index, tqdm_progress
from knowledge.store import KnowledgeIndex
from knowledge.tokenize import set_plan_year
from voice.stt import STT
from voice.tts import TTS

from .complaints.routing import Router, TableRouter
from .complaints.store import ComplaintStore
from .dialogue.engine import DialogueEngine
from .dialogue.intents import IntentClassifier, RuleEmbeddingClassifier
from .hours import OfficeHours
from .media import MediaStore
from .notify import SmsSender, TwilioSmsSender
from .ratelimit import make_rate_limiter
from .sessions import make_session_store
from .settings import Settings
from .storage import Database, default_url


def embedder_from(settings: Settings) -> Embedder:
    k = settings.knowledge
    if k.plan_year:
        set_plan_year(k.plan_year)
    return make_embedder(k.embedder, k.embedder_model, k.embedder_threads, k.query_cache_size)


def policy_from(settings: Settings, embedder: Embedder) -> AbstainPolicy:
    k = settings.knowledge
    return AbstainPolicy.for_embedder(embedder.model_id, k.min_coverage, k.min_dense)


def load_index(settings: Settings, embedder: Embedder, build_if_missing: bool = True,
               progress: bool = False) -> KnowledgeIndex:
    corpus: Path | None = settings.knowledge.corpus_dir if build_if_missing else None
    return open_index(settings.data_dir, embedder, corpus, tqdm_progress if progress else None)


def answerer_from(settings: Settings, index: KnowledgeIndex, embedder: Embedder) -> Answerer:
    extractive = open_answerer(index, embedder, policy_from(settings, embedder), settings.knowledge.contact,
                               settings.knowledge.top_k)
    if settings.llm.provider.lower() in ("", "none"):
        return extractive
    from knowledge.generative import GenerativeAnswerer, openai_chat_model

    llm = settings.llm
    chat = openai_chat_model(llm.base_url, llm.api_key.get_secret_value(), llm.model,
                             llm.timeout_s, llm.temperature)
    return GenerativeAnswerer(extractive, chat)


def intent_classifier_from(settings: Settings, embedder: Embedder) -> IntentClassifier:
    rules = RuleEmbeddingClassifier(embedder)
    if settings.chat.intent_classifier != "llm" or settings.llm.provider.lower() in ("", "none"):
        return rules
    from knowledge.generative import openai_chat_model

    from .dialogue.intents import LLMIntentClassifier

    llm = settings.llm
    chat = openai_chat_model(llm.base_url, llm.api_key.get_secret_value(), llm.model, llm.timeout_s, 0.0)
    return LLMIntentClassifier(chat, rules)


def office_hours_from(settings: Settings) -> OfficeHours:
    h = settings.hours
    return OfficeHours(dt.time.fromisoformat(h.open_at), dt.time.fromisoformat(h.close_at))


def build_services(settings: Settings) -> dict[str, Any]:
    """Everything the chat service needs, built once at start-up."""
    embedder = embedder_from(settings)
    index = load_index(settings, embedder, build_if_missing=True)
    answerer = answerer_from(settings, index, embedder)
    sessions = make_session_store(settings.redis_url)
    db = Database(settings.database_url or default_url(settings.data_dir))
    db.create_schema()
    complaints = ComplaintStore(db, office_hours_from(settings))
    router = router_from(settings, embedder)
    engine = DialogueEngine(answerer.answer, intent_classifier_from(settings, embedder), sessions, db,
                            office_hours_from(settings), settings.knowledge.contact,
                            settings.chat.session_ttl_s, router=router, complaints=complaints,
                            sms=sms_sender_from(settings))
    limiter = make_rate_limiter(settings.redis_url, settings.chat.rate_per_s, settings.chat.burst)
    services: dict[str, Any] = {
        "embedder": embedder, "index": index, "answerer": answerer, "sessions": sessions, "db": db,
        "engine": engine, "limiter": limiter, "complaints": complaints, "router": router,
        "media": MediaStore(settings.data_dir / "uploads")}
    if settings.twilio.voice_mode == "stream":  # our own speech models only when the phone uses them
        services["stt"] = stt_from(settings)
        services["tts"] = tts_from(settings)
    return services


def sms_sender_from(settings: Settings) -> SmsSender | None:
    t = settings.twilio
    if not (t.account_sid and t.auth_token.get_secret_value() and t.sms_from):
        return None  # call-backs then go to the agents' list
    return TwilioSmsSender(t.account_sid, t.auth_token.get_secret_value(), t.sms_from, t.base_url, t.timeout_s)


def router_from(settings: Settings, embedder: Embedder | None) -> Router:
    """The complaint router: the bundled routing table (``complaints/routing.yaml``), keyword rules plus,
    with an embedder, similarity to the table's example complaints (cached under the data dir).
    Needs no knowledge index, so ``route`` starts fast."""
    return TableRouter(embedder, cache_dir=settings.data_dir / "cache" if embedder is not None else None)


def stt_from(settings: Settings) -> STT:
    """Speech-to-text for the phone line, the agent console and ``transcribe``: faster-whisper, by
    default with the packaged offline Whisper base weights (assembled once under ``data_dir/models``).
    Loads the model: call once at start-up."""
    from voice.stt import WhisperSTT

    v = settings.voice
    return WhisperSTT(v.stt_model, device=v.stt_device, compute_type=v.stt_compute_type,
                      cpu_threads=v.stt_threads, beam_size=v.stt_beam_size, initial_prompt=v.initial_prompt,
                      cache_dir=settings.data_dir / "models")


def tts_from(settings: Settings) -> TTS:
    """Text-to-speech for the phone line and ``say``: espeak-ng (default, offline Korean) or Coqui with a
    local model. Raises ``voice.errors.TTSError`` when the provider is missing: call once at start-up,
    and only where speech is needed (the chat service does not need espeak-ng)."""
    from voice.tts import CoquiTTS, EspeakTTS

    v = settings.voice
    if v.tts_provider == "coqui":
        return CoquiTTS(v.coqui_model_path)
    return EspeakTTS(voice=v.tts_voice, rate=v.tts_rate)
