"""FastAPI application factory: the composition root of the HTTP service.

Models, index, stores and the dialogue engine are built once in the lifespan; requests never load
anything. Routes: the chat API (JSON and Server-Sent Events), answer feedback and its CSV export,
the demo homepage with the embeddable widget, health/readiness and Prometheus metrics. Every error
reaches a person as a Korean message with the right status — never a bare 500.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.calls.build import call_service_from
from assistant.dialogue.engine import DialogueEngine, Reply
from assistant.errors import AssistantError
from assistant.factory import build_services
from assistant.logs import configure_logging, describe_failure, request_id_var, session_id_var
from assistant.media import MAX_BYTES as MAX_UPLOAD_BYTES
from assistant.media import MediaError
from assistant.settings import Settings, get_settings
from knowledge.answer import neutralise

from .admin import admin_router
from .agent_console import agent_console_router
from .api_schema import errors
from .media_stream import media_stream_router
from .metrics import Metrics
from .net import client_address
from .open311 import error_response as open311_error
from .open311 import open311_router
from .phone import phone_router

log = logging.getLogger("channels.app")
STATIC = Path(__file__).resolve().parent / "static"
MAX_MESSAGE_CHARS = 2000
SESSION_ID = r"^[A-Za-z0-9_-]{1,128}$"


class ChatRequest(BaseModel):
    session_id: str | None = Field(default=None, max_length=128)
    message: str = Field(max_length=MAX_MESSAGE_CHARS)
    media_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")  # from POST /api/uploads


class CitationOut(BaseModel):
    document: str
    section: str
    text: str


class ChatResponse(BaseModel):
    session_id: str
    message_id: str
    reply: str
    intent: str
    abstained: bool
    citations: list[CitationOut]
    quick_replies: list[str]
    complaint: dict[str, Any] | None = None
    handoff: dict[str, Any] | None = None


class FeedbackRequest(BaseModel):
    session_id: str = Field(pattern=SESSION_ID)
    message_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=1000)


def to_response(r: Reply) -> ChatResponse:
    # last line of the prompt-injection defence: no markdown image, HTML or foreign link ever leaves
    return ChatResponse(
        session_id=r.session_id, message_id=r.message_id, reply=neutralise(r.text), intent=r.intent,
        abstained=r.abstained,
        citations=[CitationOut(document=c.document, section=c.section, text=neutralise(c.text))
                   for c in r.citations],
        quick_replies=list(r.quick_replies), complaint=r.complaint, handoff=r.handoff)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, headers=headers, content={"error": code, "message": message})


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.server.json_logs)
    state: dict[str, Any] = {"ready": False}
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        t0 = time.perf_counter()
        services = await run_in_threadpool(build_services, settings)
        state.update(services)
        state["calls"] = await run_in_threadpool(call_service_from, settings, state)  # agent console back end
        await run_in_threadpool(services["engine"].answer, "준비", None)  # warm tokenizer + embedder
        state["ready"] = True
        log.info("ready in %.1fs", time.perf_counter() - t0)
        yield
        state["ready"] = False
        await state["calls"].close()

    app = FastAPI(title="남양주시 AI 민원 안내", version="0.2.0", lifespan=lifespan,
                  description="시 업무계획 안내(출처 포함), 생활불편 민원, 상담원 연결을 돕는 대화형 서비스")
    def client_key(request: Request) -> str:
        return client_address(request, settings.server.trust_forwarded)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        token = request_id_var.set(rid[:64])
        t0 = time.perf_counter()
        path = request.url.path
        try:
            length = request.headers.get("content-length")
            limit = (MAX_UPLOAD_BYTES + 64 * 1024 if path == "/api/uploads"
                     else settings.server.max_body_bytes)
            if length and (not length.isdigit() or int(length) > limit):
                too_large = ("사진은 5MB 이하만 올릴 수 있습니다." if path == "/api/uploads"
                             else "보내신 내용이 너무 큽니다. 짧게 나누어 보내 주세요.")
                if path.startswith("/open311/v2/"):  # the spec's error shape for Open311 clients
                    response: Response = open311_error("xml" if path.endswith(".xml") else "json", 413, too_large)
                else:
                    response = _error(413, "too_large", too_large)
            elif ((path.startswith("/api/") or path.startswith("/open311/")) and request.method == "POST"
                  and "limiter" in state):
                allowed, retry = await run_in_threadpool(state["limiter"].hit, client_key(request))
                if not allowed:
                    metrics.rate_limited.inc()
                    wait = {"Retry-After": str(max(1, int(retry + 0.999)))}
                    busy = "요청이 많아 잠시 후 다시 시도해 주세요."
                    response = (open311_error("xml" if path.endswith(".xml") else "json", 429, busy, wait)
                                if path.startswith("/open311/v2/") else _error(429, "rate_limited", busy, wait))
                else:
                    response = await call_next(request)
            else:
                response = await call_next(request)
        except Exception:
            log.exception("unhandled error on %s", path)
            response = _error(500, "internal", "죄송합니다. 일시적인 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.")
        finally:
            request_id_var.reset(token)
        route = request.scope.get("route")
        label = getattr(route, "path", "other") if route is not None else "other"
        metrics.observe(request.method, label, response.status_code, time.perf_counter() - t0)
        response.headers["x-request-id"] = rid[:64]
        return response

    # added after the guard so that it wraps it: early 413/429 answers carry CORS headers too, and a
    # widget embedded on another site can show the right Korean message
    app.add_middleware(CORSMiddleware, allow_origins=settings.server.cors_origins,
                       allow_methods=["GET", "POST"], allow_headers=["content-type"], max_age=600)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={
            "error": "invalid_request", "message": "요청 형식이 올바르지 않습니다. 메시지를 다시 보내 주세요.",
            "detail": [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", ""))}
                       for e in exc.errors()]})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        messages = {400: "요청 내용을 읽을 수 없습니다. UTF-8 JSON으로 보내 주세요.",
                    401: "인증이 필요합니다.", 403: "권한이 없습니다.",
                    404: "없는 주소입니다.", 405: "허용되지 않는 방식의 요청입니다."}
        return JSONResponse(status_code=exc.status_code, headers=getattr(exc, "headers", None),
                            content={"error": "http_error",
                                     "message": messages.get(exc.status_code, "요청을 처리할 수 없습니다."),
                                     "detail": str(exc.detail)})

    @app.exception_handler(AssistantError)
    async def backend_error(_: Request, exc: AssistantError) -> JSONResponse:
        log.warning("backend unavailable: %s", describe_failure(exc))
        return _error(503, "unavailable", "잠시 후 다시 시도해 주세요. 급한 용무는 남양주시 민원콜센터로 연락해 주세요.",
                      {"Retry-After": "5"})

    # --- health -------------------------------------------------------------------------------
    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "모델·세션 저장소·DB 중 준비 안 됨"}})
    async def readyz() -> JSONResponse:
        checks = {"models": bool(state.get("ready"))}
        if state.get("ready"):
            checks["sessions"] = await run_in_threadpool(state["sessions"].ping)
            checks["database"] = await run_in_threadpool(state["db"].ping)
        ok = all(checks.values())
        return JSONResponse(status_code=200 if ok else 503, content={"ready": ok, "checks": checks})

    @app.get("/metrics", tags=["ops"], response_class=Response,
             responses={200: {"description": "Prometheus", "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    # --- chat ---------------------------------------------------------------------------------
    async def run_turn(req: ChatRequest) -> Reply:
        if not state.get("ready"):
            raise AssistantError("not ready")
        engine: DialogueEngine = state["engine"]
        if req.session_id:
            session_id_var.set(req.session_id[:128])
        reply: Reply = await run_in_threadpool(engine.handle, req.session_id, req.message, req.media_id)
        session_id_var.set(reply.session_id)
        metrics.intents.labels(reply.intent).inc()
        if reply.abstained:
            metrics.abstained.inc()
        log.info("chat turn", extra={"fields": {"intent": reply.intent, "abstained": reply.abstained,
                                                "citations": len(reply.citations)}})
        return reply

    @app.post("/api/chat", response_model=ChatResponse, tags=["chat"], responses=errors(400, 413, 422, 429, 503))
    async def chat(req: ChatRequest) -> ChatResponse:
        return to_response(await run_turn(req))

    @app.post("/api/chat/stream", tags=["chat"],
              responses={200: {"content": {"text/event-stream": {}}}, **errors(400, 413, 422, 429, 503)})
    async def chat_stream(req: ChatRequest) -> StreamingResponse:
        reply = await run_turn(req)
        body = to_response(reply).model_dump()

        async def events() -> AsyncIterator[bytes]:
            yield _sse("meta", {"session_id": reply.session_id, "message_id": reply.message_id,
                                "intent": reply.intent})
            for piece in _pieces(body["reply"]):
                yield _sse("delta", {"text": piece})
            yield _sse("done", body)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/uploads", status_code=201, tags=["chat"], responses=errors(400, 413, 415, 429, 503),
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "required": ["file"],
                  "properties": {"file": {"type": "string", "format": "binary"}}}}}}})
    async def upload(request: Request) -> JSONResponse:
        """A photo for a complaint (multipart field ``file``): ≤ 5 MB, JPG/PNG/GIF/WEBP by content."""
        if not state.get("ready"):
            raise AssistantError("not ready")
        try:
            form = await request.form(max_files=1, max_fields=5)
        except Exception:  # a malformed multipart body is the client's error
            return _error(400, "bad_upload", "사진을 읽을 수 없습니다. 다시 올려 주세요.")
        file = form.get("file")
        if file is None or isinstance(file, str):
            return _error(400, "bad_upload", "사진 파일을 'file' 항목으로 보내 주세요.")
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        try:
            media_id = await run_in_threadpool(state["media"].save, data)
        except MediaError as exc:
            return _error(exc.status, "bad_upload", str(exc))
        return JSONResponse(status_code=201, content={"media_id": media_id})

    @app.post("/api/feedback", status_code=201, tags=["chat"], responses=errors(400, 413, 422, 429, 503))
    async def feedback(req: FeedbackRequest) -> dict[str, bool]:
        if not state.get("ready"):
            raise AssistantError("not ready")
        q, a = await run_in_threadpool(state["engine"].question_for, req.session_id, req.message_id)
        stored = await run_in_threadpool(state["db"].add_feedback, req.session_id, req.message_id,
                                         req.rating, q, a, req.comment)
        metrics.feedback.labels(req.rating).inc()
        return {"stored": stored}

    @app.get("/admin/feedback.csv", tags=["admin"], response_class=Response, responses={
        200: {"description": "CSV (UTF-8 BOM, 개인정보 가림)", "content": {"text/csv": {"schema": {"type": "string"}}}},
        **errors(401, 403)})
    async def feedback_csv(request: Request) -> Response:
        token = settings.admin.token.get_secret_value()
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not token:
            raise StarletteHTTPException(403, "admin export disabled (set ASSISTANT_ADMIN__TOKEN)")
        if not given or not _same(given, token):
            raise StarletteHTTPException(401, "bad token", headers={"WWW-Authenticate": "Bearer"})
        csv_text = await run_in_threadpool(state["db"].feedback_csv)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
        return PlainTextResponse("\ufeff" + csv_text, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="feedback-{stamp}.csv"'})

    app.include_router(open311_router(state, settings))
    app.include_router(admin_router(state, settings))
    app.include_router(phone_router(state, settings))
    app.include_router(media_stream_router(state, settings))
    app.include_router(agent_console_router(state, settings))

    # --- pages --------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def homepage() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/widget.js", include_in_schema=False)
    async def widget() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type="application/javascript; charset=utf-8",
                            headers={"Cache-Control": "public, max-age=300"})

    return app


def _pieces(text: str) -> list[str]:
    """Split a reply into line-sized pieces for streaming (keeps the newlines)."""
    lines = text.split("\n")
    return [ln + ("\n" if i < len(lines) - 1 else "") for i, ln in enumerate(lines)]


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())
