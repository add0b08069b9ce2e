"""Command line: ``python -m assistant index|ask|route|serve|hash-password|transcribe|say`` (contracts in ARCHITECTURE.md).

``ask --json -`` reads one question per line from stdin and prints one JSON object per line, in
order, loading the models once (batch mode for evaluation). Every line gets an answer object: a
failure on one line becomes an abstained answer with an ``error`` field, never a traceback.
``route --json -`` does the same for complaints; a bad line (e.g. empty) becomes a 바로처리팀 triage
object with confidence 0 and an ``error`` field.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from knowledge.errors import KnowledgeError
from knowledge.types import Answer

from .settings import Settings, get_settings

log = logging.getLogger("assistant")


def answer_json(a: Answer) -> dict[str, Any]:
    return {
        "answer": a.answer,
        "abstained": a.abstained,
        "citations": [{"document": c.document, "section": c.section, "text": c.text,
                       "lines": [c.line_start, c.line_end]} for c in a.citations],
        "latency_ms": round(a.latency_ms, 2),
        "confidence": round(a.confidence, 3),
        "answerer": a.answerer,
    }


def _print(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from knowledge.pipeline import build_index, tqdm_progress

    from .factory import embedder_from

    corpus = Path(args.corpus) if args.corpus else settings.knowledge.corpus_dir
    k = settings.knowledge
    if "embedder_threads" not in k.model_fields_set:  # a batch job: every core (serving keeps one)
        threads = min(os.cpu_count() or 1, 8)
        settings = settings.model_copy(update={"knowledge": k.model_copy(update={"embedder_threads": threads})})
    embedder = embedder_from(settings)
    _index, report, problems = build_index(corpus, settings.data_dir, embedder, tqdm_progress)
    for p in problems:
        print(f"건너뜀(skipped): {p}", file=sys.stderr)
    print(f"indexed {report.documents} documents, {report.chunks} chunks "
          f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f}s "
          f"-> {settings.data_dir / 'index'}", file=sys.stderr)
    return 0 if report.chunks else 1


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from .factory import answerer_from, embedder_from, load_index

    embedder = embedder_from(settings)
    index = load_index(settings, embedder, build_if_missing=True, progress=True)
    answerer = answerer_from(settings, index, embedder)

    def one(question: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            return answer_json(answerer.answer(question))
        except (KnowledgeError, ValueError, RuntimeError) as exc:
            log.exception("ask failed")
            return {"answer": "죄송합니다. 일시적인 오류로 답변하지 못했습니다. 잠시 후 다시 시도해 주세요.",
                    "abstained": True, "citations": [], "error": type(exc).__name__,
                    "latency_ms": round((time.perf_counter() - t0) * 1000, 2)}

    if args.question == "-":
        for raw in sys.stdin:
            line = raw.rstrip("\n")
            _print(one(line)) if args.json else print(one(line)["answer"])
        return 0
    result = one(args.question)
    if args.json:
        _print(result)
    else:
        print(result["answer"])
        for c in result["citations"]:
            print(f"  [{c['document']} : {c['section']}]")
    return 0


def cmd_route(args: argparse.Namespace, settings: Settings) -> int:
    """Route complaints to teams; needs no knowledge index (only the routing table + embedder)."""
    from .complaints.routing import Route
    from .factory import embedder_from, router_from

    try:
        embedder = embedder_from(settings)
    except KnowledgeError as exc:  # the rules alone still route
        log.warning("routing without embeddings: %s", exc)
        embedder = None
    router = router_from(settings, embedder)

    def one(text: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            out = router.route(text).as_json()
        except Exception as exc:  # one bad line must not end the batch
            if not isinstance(exc, ValueError):
                log.exception("route failed")
            why = f"분류하지 못함({exc}) → 바로처리팀 검토"
            hold = getattr(router, "hold", None)
            route = hold(why) if hold else Route("분류 보류(바로처리팀 검토)", "시민시장담당관", "바로처리팀",
                                                 False, 0.0, why)
            out = {**route.as_json(), "error": type(exc).__name__}
        out["latency_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        return out

    def show(r: dict[str, Any]) -> None:
        if args.json:
            _print(r)
        else:
            print(f"{r['team']} ({r['department']}) {'[긴급] ' if r['urgent'] else ''}{r['category']}"
                  f" - 신뢰도 {r['confidence']:.2f}: {r['reason']}")

    if args.complaint == "-":
        for raw in sys.stdin:
            show(one(raw.rstrip("\r\n")))
        return 0
    show(one(args.complaint))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    host = args.host or settings.server.host
    port = args.port or settings.server.port
    workers = max(1, args.workers)
    if workers > 1 and not settings.redis_url:
        print("error: --workers > 1 needs ASSISTANT_REDIS_URL (sessions and rate limits must be shared)",
              file=sys.stderr)
        return 2
    if workers > 1:
        # build the index once before the workers start, so they only load it
        from .factory import embedder_from, load_index

        load_index(settings, embedder_from(settings), build_if_missing=True, progress=True)
    # The HTTP layer is named by import string: assistant/ never imports channels/ (layering),
    # and uvicorn can start several workers from it.
    # timeout_worker_healthcheck: uvicorn's supervisor kills a worker whose ping thread does not answer
    # in time (default 5 s); loading the models holds the GIL for seconds on a busy 2-core machine, so
    # with the default a starting worker was killed and restarted over and over under load.
    uvicorn.run("channels.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=settings.log_level.lower(), access_log=False, timeout_worker_healthcheck=60)
    return 0


def cmd_hash_password(args: argparse.Namespace, settings: Settings) -> int:
    """Read a password (no echo on a terminal) and print its hash for ASSISTANT_ADMIN__USERS."""
    import getpass

    from .auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("비밀번호(password): ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("error: empty password", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run the call-back worker (several may run at once; each job goes to one of them)."""
    import os
    import socket

    from .complaints.callbacks import CallbackWorker
    from .complaints.store import ComplaintStore
    from .factory import office_hours_from, sms_sender_from
    from .storage import Database, default_url

    db = Database(settings.database_url or default_url(settings.data_dir))
    db.create_schema()
    worker = CallbackWorker(ComplaintStore(db, office_hours_from(settings)), sms_sender_from(settings),
                            name=f"{socket.gethostname()}-{os.getpid()}")
    while True:
        counts = worker.run_once()
        print(json.dumps(counts, ensure_ascii=False), file=sys.stderr)
        if args.once:
            return 0
        time.sleep(args.interval)


def cmd_transcribe(args: argparse.Namespace, settings: Settings) -> int:
    """Transcribe an audio file (WAV of any rate/channels; mp3/ogg/flac/m4a through PyAV). Bad input
    -> an error (JSON with --json) on stderr, exit code 2; never a traceback."""
    from voice.errors import AudioFormatError, VoiceError
    from voice.stt import read_audio

    from .factory import stt_from

    logging.getLogger("faster_whisper").setLevel(logging.WARNING)

    def fail(exc: Exception, code: int) -> int:
        if args.json:
            sys.stderr.write(json.dumps({"error": type(exc).__name__, "message": str(exc)},
                                        ensure_ascii=False) + "\n")
        else:
            print(f"error: {exc}", file=sys.stderr)
        return code

    try:
        audio = read_audio(args.file)
    except (AudioFormatError, OSError) as exc:  # not a PCM WAV, missing, unreadable
        return fail(exc, 2)
    try:
        transcript = stt_from(settings).transcribe(audio)
    except VoiceError as exc:
        return fail(exc, 1)
    if args.json:
        _print(transcript.as_json())
    else:
        print(transcript.text)
    return 0


def cmd_say(args: argparse.Namespace, settings: Settings) -> int:
    """Speak Korean text into a 16-bit mono WAV file (``-o -``: WAV bytes on stdout; text ``-``: read
    stdin). Silent on stdout; a one-line note on stderr. Failure -> ``error: ...``, exit 2, no traceback."""
    from voice.errors import VoiceError

    from .factory import tts_from

    text = sys.stdin.read() if args.text == "-" else args.text
    update = {k: v for k, v in (("tts_voice", args.voice), ("tts_rate", args.rate)) if v is not None}
    if update:
        settings = settings.model_copy(update={"voice": settings.voice.model_copy(update=update)})
    try:
        audio = tts_from(settings).synthesize(text)
        data = audio.to_wav_bytes()
        if args.output == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            Path(args.output).write_bytes(data)
    except VoiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.output != "-":
        print(f"{args.output}: {audio.duration_s:.1f} s, {audio.sample_rate} Hz", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m assistant", description="남양주시 민원 안내 도우미")
    sub = p.add_subparsers(dest="command", required=True)
    pi = sub.add_parser("index", help="(re)build the knowledge index")
    pi.add_argument("--corpus", help="corpus folder (default: the bundled corpus)")
    pa = sub.add_parser("ask", help="answer a question from the documents ('-' reads stdin)")
    pa.add_argument("question")
    pa.add_argument("--json", action="store_true")
    pr = sub.add_parser("route", help="route a complaint to the responsible team ('-' reads stdin)")
    pr.add_argument("complaint")
    pr.add_argument("--json", action="store_true")
    ps = sub.add_parser("serve", help="start the HTTP service")
    ps.add_argument("--host")
    ps.add_argument("--port", type=int)
    ps.add_argument("--workers", type=int, default=1, help="worker processes (needs ASSISTANT_REDIS_URL)")
    pw = sub.add_parser("worker", help="run the call-back worker (satisfaction SMS, delayed follow-ups)")
    pw.add_argument("--once", action="store_true", help="process due jobs once and exit")
    pw.add_argument("--interval", type=float, default=30.0, help="seconds between polls")
    sub.add_parser("hash-password", help="hash a staff password read from stdin (for ASSISTANT_ADMIN__USERS)")
    pt = sub.add_parser("transcribe", help="transcribe a WAV file (Korean speech-to-text)")
    pt.add_argument("file")
    pt.add_argument("--json", action="store_true")
    py = sub.add_parser("say", help="speak Korean text into a WAV file (text-to-speech)")
    py.add_argument("text", help="text to speak ('-' reads stdin)")
    py.add_argument("-o", "--output", required=True, help="WAV file to write ('-' writes to stdout)")
    py.add_argument("--voice", help="espeak-ng voice (default: ASSISTANT_VOICE__TTS_VOICE, 'ko')")
    py.add_argument("--rate", type=int, help="speed in words per minute (default: ASSISTANT_VOICE__TTS_RATE)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError: a bad ASSISTANT_* variable
        print(f"error: invalid configuration (ASSISTANT_* environment):\n{exc}", file=sys.stderr)
        return 2
    if args.command != "serve":  # the service configures its own structured (JSON) logging
        logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("faiss", "bm25s", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handlers = {"index": cmd_index, "ask": cmd_ask, "route": cmd_route, "serve": cmd_serve, "hash-password": cmd_hash_password,
                "worker": cmd_worker, "transcribe": cmd_transcribe, "say": cmd_say}
    try:
        return handlers[args.command](args, settings)
    except KnowledgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
