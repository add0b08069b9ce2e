"""Staff authentication primitives: password hashes and signed session tokens.

Password hashes use PBKDF2-HMAC-SHA256 from the standard library and are stored as
``pbkdf2_sha256$<iterations>$<salt>$<hex digest>`` (the format of ``settings.admin.users``; make one
with ``python -m assistant hash-password``). The salt is 16 random bytes (hex); comparisons are
constant-time.

Session tokens are stateless: ``<base64url(username)>.<expiry unix seconds>.<base64url(HMAC-SHA256)>``,
the HMAC taken with the server key over the first two parts. A token whose signature does not match
(tampered, or signed with another key) or whose expiry has passed reads as ``None``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

__all__ = ["ALGORITHM", "hash_password", "read_session", "sign_session", "verify_password"]

ALGORITHM = "pbkdf2_sha256"
_MAX_ITERATIONS = 10_000_000  # refuse absurd work factors in a (mis)configured hash


def _pbkdf2(password: str, salt: str, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode("ascii"), iterations)


def hash_password(password: str, iterations: int = 260000) -> str:
    """``pbkdf2_sha256$<iterations>$<salt>$<hex>`` for ``password`` with a fresh random 16-byte salt."""
    if iterations < 1:
        raise ValueError("iterations must be positive")
    salt = secrets.token_hex(16)
    return f"{ALGORITHM}${iterations}${salt}${_pbkdf2(password, salt, iterations).hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches ``encoded``; a malformed hash never matches (no exception)."""
    try:
        algorithm, iterations_text, salt, digest_hex = encoded.split("$")
        iterations = int(iterations_text)
        expected = bytes.fromhex(digest_hex)
        salt.encode("ascii")
    except (ValueError, UnicodeEncodeError):
        return False
    if algorithm != ALGORITHM or not 0 < iterations <= _MAX_ITERATIONS or not salt or not expected:
        return False
    return hmac.compare_digest(_pbkdf2(password, salt, iterations), expected)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def sign_session(username: str, key: bytes, hours: int, now: float | None = None) -> str:
    """A token naming ``username`` that ``read_session`` accepts for ``hours`` hours."""
    if not username:
        raise ValueError("empty username")
    expires = int((time.time() if now is None else now) + hours * 3600)
    payload = f"{_b64(username.encode('utf-8'))}.{expires}"
    return f"{payload}.{_signature(key, payload)}"


def read_session(token: str, key: bytes, now: float | None = None) -> str | None:
    """The username in ``token``, or None if it is malformed, tampered with or expired."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    user_part, expires_text, signature = parts
    try:
        payload = f"{user_part}.{expires_text}"
        if not hmac.compare_digest(_signature(key, payload).encode("ascii"), signature.encode("ascii")):
            return None
        expires = int(expires_text)
        username = _unb64(user_part).decode("utf-8")
    except (ValueError, UnicodeError, binascii.Error):
        return None
    if (time.time() if now is None else now) >= expires or not username:
        return None
    return username
