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

from .adapters.base import DataSource
from .complaints.routing import Router, TableRouter
from .complaints.store import ComplaintStore
from .dialogue.engine import DialogueEngine
from .dialogue.intents import IntentClassifier, RuleEmbeddingClassifier
from .dialogue.tools import LiveTools
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
                            sms=sms_sender_from(settings), tools=live_tools_from(settings))
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


def live_tools_from(settings: Settings) -> LiveTools:
    """The city-system tools of the ``live_data`` intent: bus arrivals (sample | gbis | tago), CCTV sites
    (sample | file | http CSV) and budget execution (sample | lofin365), each through the shared
    ``ApiClient`` (time-out, retries, circuit breaker, cache) and answered within ``deadline_s``."""
    from .adapters.budget import BudgetBackend, SampleBudgetBackend
    from .adapters.cctv import CCTVBackend, CsvCCTVBackend
    from .adapters.client import ApiClient
    from .adapters.traffic import SampleTrafficBackend, TrafficBackend

    t, c, b = settings.traffic, settings.cctv, settings.budget
    traffic: TrafficBackend | None = None
    if t.provider == "sample":
        traffic = SampleTrafficBackend()
    elif t.provider in ("gbis", "tago"):
        from .adapters import gbis, tago

        default = gbis.DEFAULT_BASE_URL if t.provider == "gbis" else tago.DEFAULT_BASE_URL
        client = ApiClient("traffic", t.base_url or default, timeout_s=t.timeout_s, retries=t.retries,
                           cache_ttl_s=t.cache_ttl_s)
        key = t.api_key.get_secret_value()
        traffic = (gbis.GbisTrafficBackend(client, key, t.region) if t.provider == "gbis"
                   else tago.TagoTrafficBackend(client, key, t.city_code))
    cctv: CCTVBackend | None = None
    if c.provider == "sample":
        cctv = CsvCCTVBackend.sample()
    elif c.provider == "file" and c.csv_path:
        cctv = CsvCCTVBackend(DataSource("남양주시 CCTV 설치 현황(전국CCTV표준데이터)", "https://www.data.go.kr"),
                              Path(c.csv_path))
    elif c.provider == "http" and c.base_url:
        client = ApiClient("cctv", c.base_url, timeout_s=c.timeout_s, retries=c.retries,
                           cache_ttl_s=c.cache_ttl_s, cache_entries=2)
        cctv = CsvCCTVBackend(DataSource("공공데이터포털 전국CCTV표준데이터", "https://www.data.go.kr"),
                              client=client, params={"serviceKey": c.api_key.get_secret_value()}
                              if c.api_key.get_secret_value() else {})
    budget: BudgetBackend | None = None
    if b.provider == "sample":
        budget = SampleBudgetBackend()
    elif b.provider == "lofin365":
        from .adapters.lofin import DEFAULT_BASE_URL, Lofin365BudgetBackend

        client = ApiClient("budget", b.base_url or DEFAULT_BASE_URL, timeout_s=b.timeout_s, retries=b.retries,
                           cache_ttl_s=b.cache_ttl_s)
        budget = Lofin365BudgetBackend(client, b.api_key.get_secret_value(), b.laf_cd, b.service)
    return LiveTools(traffic, cctv, budget,
                     deadlines={"bus": t.deadline_s, "cctv": c.deadline_s, "budget": b.deadline_s})
