"""Who is calling: the client address, honouring X-Forwarded-For only behind a trusted proxy."""

from __future__ import annotations

from fastapi import Request


def client_address(request: Request, trust_forwarded: bool) -> str:
    if trust_forwarded:
        fwd = request.headers.get("x-forwarded-for", "")
        if fwd:
            return fwd.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def stream_token(auth_token: str, call_sid: str) -> str:
    """The token a <Stream> carries back to WS /twilio/media, so that only streams started by our
    own signed webhook are accepted (Twilio does not sign WebSocket connections)."""
    import hashlib
    import hmac

    return hmac.new(auth_token.encode(), f"media-stream:{call_sid}".encode(), hashlib.sha256).hexdigest()
