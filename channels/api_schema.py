"""OpenAPI declarations of the answers routes give besides their success body.

Owns the error body of the JSON API (``{"error", "message", "detail"?}``, always with a Korean
``message``) and ``errors(...)``, the ``responses=`` mapping a route passes so that its schema lists
every status it can really answer with (413 oversize, 422 malformed, 429 rate limited, 503 backend
down, ...). The fuzzing suite (``tests/security/test_fuzz_openapi.py``) checks every response
against these declarations, so they must stay true.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["ERROR_SCHEMA", "ErrorOut", "errors"]


class ErrorOut(BaseModel):
    """Every JSON error: a machine-readable ``error`` code and a Korean ``message`` for people;
    ``detail`` is the list of invalid fields (422, ``[{"loc": [...], "msg": ...}]``) or a short text."""

    error: str
    message: str
    detail: list[dict[str, Any]] | str | None = None


ERROR_SCHEMA: dict[str, Any] = ErrorOut.model_json_schema()


_DESCRIPTIONS = {
    400: "읽을 수 없는 요청 (UTF-8 JSON이 아님, 잘못된 파일)",
    401: "인증 필요",
    403: "권한 없음 또는 기능 꺼짐",
    404: "없는 자원",
    413: "요청 본문이 너무 큼",
    415: "지원하지 않는 파일 형식",
    422: "요청 형식 오류",
    429: "요청이 너무 많음 (Retry-After 초 후 다시)",
    503: "백엔드 일시 장애 또는 준비 중 (Retry-After 초 후 다시)",
}
_RETRY_AFTER = {"Retry-After": {"description": "다시 시도할 때까지 기다릴 초", "schema": {"type": "string"}}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries declaring JSON ``ErrorOut`` bodies for ``codes`` (whatever the route's
    own response class is)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"description": _DESCRIPTIONS.get(code, "오류"),
                                 "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        if code in (429, 503):
            entry["headers"] = _RETRY_AFTER
        out[code] = entry
    return out
