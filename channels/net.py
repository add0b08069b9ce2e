"""Who is calling: the client address, honouring X-Forwarded-For only behind a trusted proxy."""

from __future__ import annotations

from fastapi import Request


def client_address(request: Request, trust_forwarded: bool) -> str:
    if trust_forwarded:
        fwd = request.headers.get("x-forwarded-for", "")
        if fwd:
            return fwd.split(",")[0].strip()
    return request.client.host if request.client else "unknown"
