"""FastAPI application factory (the composition root of the HTTP service).

Models and the index load once in the lifespan; requests never load anything. This first version
serves grounded Q&A through ``POST /api/chat``; dialogue, widget and the other channels plug in here.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.factory import answerer_from, embedder_from, load_index
from assistant.settings import Settings, get_settings

log = logging.getLogger("channels.app")

MAX_MESSAGE_CHARS = 2000


class ChatRequest(BaseModel):
    session_id: str | None = Field(default=None, max_length=128)
    message: str = Field(max_length=MAX_MESSAGE_CHARS)


class CitationOut(BaseModel):
    document: str
    section: str
    text: str


class ChatResponse(BaseModel):
    session_id: str
    reply: str
    intent: str
    abstained: bool
    citations: list[CitationOut]
    quick_replies: list[str]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    state: dict[str, Any] = {"ready": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        t0 = time.perf_counter()
        embedder = embedder_from(settings)
        index = load_index(settings, embedder, build_if_missing=True)
        state["answerer"] = answerer_from(settings, index, embedder)
        state["answerer"].answer("준비")  # warm the tokenizer and the embedder
        state["ready"] = True
        log.info("ready in %.1fs (%d chunks)", time.perf_counter() - t0, len(index.chunks))
        yield
        state["ready"] = False

    app = FastAPI(title="남양주시 민원 안내 도우미", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={
            "error": "invalid_request", "message": "요청 형식이 올바르지 않습니다. 메시지를 다시 보내 주세요.",
            "detail": [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        messages = {400: "요청 내용을 읽을 수 없습니다. UTF-8 JSON으로 보내 주세요.",
                    404: "없는 주소입니다.", 405: "허용되지 않는 방식의 요청입니다."}
        return JSONResponse(status_code=exc.status_code, headers=getattr(exc, "headers", None),
                            content={"error": "http_error",
                                     "message": messages.get(exc.status_code, "요청을 처리할 수 없습니다."),
                                     "detail": str(exc.detail)})

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.server.max_body_bytes:
            return JSONResponse(status_code=413, content={
                "error": "too_large", "message": "보내신 내용이 너무 큽니다. 짧게 나누어 보내 주세요."})
        return await call_next(request)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ok = bool(state.get("ready"))
        return JSONResponse(status_code=200 if ok else 503, content={"ready": ok})

    @app.post("/api/chat", response_model=ChatResponse)
    async def chat(req: ChatRequest) -> ChatResponse:
        if not state.get("ready"):
            return JSONResponse(status_code=503, content={  # type: ignore[return-value]
                "error": "not_ready", "message": "잠시 후 다시 시도해 주세요."})
        answer = await run_in_threadpool(state["answerer"].answer, req.message)
        return ChatResponse(
            session_id=req.session_id or uuid.uuid4().hex, reply=answer.answer, intent="question",
            abstained=answer.abstained,
            citations=[CitationOut(document=c.document, section=c.section, text=c.text) for c in answer.citations],
            quick_replies=[] if not answer.abstained else ["상담원 연결"],
        )

    return app
