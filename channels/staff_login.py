"""Cookie login shared by the staff pages: ``/admin`` (complaints dashboard) and ``/agent`` (agent
console).

Accounts are ``{"user": "pbkdf2_sha256$..."}`` (``python -m assistant hash-password``). A login sets an
HMAC-signed session cookie (HttpOnly, SameSite=Strict, scoped to the page's path, Secure behind
HTTPS); every state-changing request carries a CSRF header derived from that cookie. Logins from a
foreign ``Origin`` are refused; failed logins are slowed (``fail_delay``) and limited per client
address (``max_failures`` within ``lockout_s``); an unknown user name costs one password hash like a
real one, so the response time does not tell which names exist. Logout revokes the token in this
process (the cookie is deleted too).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from assistant.auth import read_session, sign_session, verify_password

from .net import client_address

CSRF_HEADER = "x-csrf-token"
MSG_LOGIN_REQUIRED = "로그인이 필요합니다."
MSG_BAD_LOGIN = "아이디 또는 비밀번호가 올바르지 않습니다."
MSG_LOCKED = "로그인 시도가 너무 많습니다. 10분 후 다시 시도해 주세요."
MSG_CSRF = "보안 확인에 실패했습니다. 페이지를 새로고침한 뒤 다시 시도해 주세요."
MSG_FOREIGN = "다른 사이트에서 보낸 로그인 요청은 받을 수 없습니다."
MAX_TRACKED = 10_000  # client addresses with recent failures kept (bounded under a flood)


@dataclass
class StaffLogin:
    """Sessions, CSRF and the login/logout routes of one staff page family (``prefix``)."""

    prefix: str  # "/admin" or "/agent": the page, the cookie path, "{prefix}/login", "{prefix}/logout"
    cookie: str
    accounts: Mapping[str, str]
    key: bytes
    session_hours: int
    login_html: str  # template with {error} and {username}
    csrf_label: bytes
    trust_forwarded: bool
    secure: Callable[[Response], Response]  # adds the page's security headers
    fail_delay: Callable[[], float]  # read per failure (tests shorten it through the page's module)
    log: logging.Logger
    max_failures: int = 5
    lockout_s: float = 600.0
    failures: dict[str, list[float]] = field(default_factory=dict)
    revoked: dict[str, float] = field(default_factory=dict)  # logged-out tokens -> their expiry

    def __post_init__(self) -> None:
        costs = [e.split("$")[1] for e in self.accounts.values() if e.count("$") == 3]
        self._dummy_hash = f"pbkdf2_sha256${costs[0] if costs else 260000}$00$00"

    # --- sessions and CSRF ----------------------------------------------------------------------
    def user_of_token(self, token: str) -> str | None:
        if not token or token in self.revoked:
            return None
        user = read_session(token, self.key)
        return user if user is not None and user in self.accounts else None

    def user_of(self, request: Request) -> str | None:
        return self.user_of_token(request.cookies.get(self.cookie, ""))

    def csrf_for(self, token: str) -> str:
        return hmac.new(self.key, self.csrf_label + token.encode("utf-8"), hashlib.sha256).hexdigest()

    def csrf_ok(self, request: Request) -> bool:
        given = request.headers.get(CSRF_HEADER, "")
        token = request.cookies.get(self.cookie, "")
        return bool(given and token) and hmac.compare_digest(given.encode(), self.csrf_for(token).encode())

    def is_https(self, request: Request) -> bool:
        if self.trust_forwarded and request.headers.get("x-forwarded-proto", "").lower() == "https":
            return True
        return request.url.scheme == "https"

    def same_origin(self, headers: Any, allow_null: bool = False) -> bool:
        """The request's ``Origin`` is this site (a missing Origin passes; "null" only if allowed)."""
        origin = headers.get("origin")
        if not origin or origin == "null":
            return origin is None or allow_null
        hosts = {headers.get("host", "")}
        if self.trust_forwarded:
            hosts.add(headers.get("x-forwarded-host", "").split(",")[0].strip())
        return urlsplit(origin).netloc in hosts

    def login_page(self, error: str = "", username: str = "", status: int = 200) -> Response:
        err = f'<p class="login-error" role="alert">{html.escape(error)}</p>\n' if error else ""
        page = self.login_html.format(error=err, username=html.escape(username, quote=True))
        return self.secure(HTMLResponse(page, status_code=status))

    def _recent_failures(self, ip: str, now: float) -> list[float]:
        kept = [t for t in self.failures.get(ip, []) if now - t < self.lockout_s]
        if kept:
            self.failures[ip] = kept
        else:
            self.failures.pop(ip, None)
        return kept

    # --- routes ---------------------------------------------------------------------------------
    def add_routes(self, router: APIRouter) -> None:
        """``GET/POST {prefix}/login`` and ``POST {prefix}/logout``."""
        name = self.prefix.strip("/")

        @router.get(f"{self.prefix}/login")
        async def login_form(request: Request) -> Response:
            if self.user_of(request):
                return RedirectResponse(self.prefix, status_code=303)
            return self.login_page()

        @router.post(f"{self.prefix}/login")
        async def login(request: Request) -> Response:
            if not self.same_origin(request.headers, allow_null=True):
                return self.login_page(MSG_FOREIGN, status=403)
            ip, now = client_address(request, self.trust_forwarded), time.monotonic()
            if len(self.failures) > MAX_TRACKED:
                self.failures.clear()
            if len(self._recent_failures(ip, now)) >= self.max_failures:
                return self.login_page(MSG_LOCKED, status=429)
            form = parse_qs((await request.body())[:4096].decode("utf-8", "replace"), max_num_fields=10)
            username = (form.get("username") or [""])[0].strip()[:64]
            password = (form.get("password") or [""])[0][:256]
            encoded = self.accounts.get(username)
            ok = await run_in_threadpool(verify_password, password, encoded or self._dummy_hash)
            if not ok or encoded is None:
                self.failures.setdefault(ip, []).append(now)
                self.log.warning(f"{name} login failed", extra={"fields": {"client": ip}})
                await asyncio.sleep(self.fail_delay())
                return self.login_page(MSG_BAD_LOGIN, username=username, status=401)
            self.failures.pop(ip, None)
            response = RedirectResponse(self.prefix, status_code=303)
            response.set_cookie(self.cookie, sign_session(username, self.key, self.session_hours),
                                max_age=self.session_hours * 3600, path=self.prefix, httponly=True,
                                samesite="strict", secure=self.is_https(request))
            self.log.info(f"{name} login", extra={"fields": {"user": username}})
            return response

        @router.post(f"{self.prefix}/logout")
        async def logout(request: Request) -> Response:
            token = request.cookies.get(self.cookie, "")
            if self.user_of(request):
                if not self.csrf_ok(request):
                    return JSONResponse(status_code=403, content={"error": "csrf", "message": MSG_CSRF},
                                        headers={"Cache-Control": "no-store"})
                wall = time.time()
                for t, exp in list(self.revoked.items()):
                    if exp < wall:
                        del self.revoked[t]
                self.revoked[token] = wall + self.session_hours * 3600
            response = JSONResponse({"ok": True, "redirect": f"{self.prefix}/login"},
                                    headers={"Cache-Control": "no-store"})
            response.delete_cookie(self.cookie, path=self.prefix, httponly=True, samesite="strict",
                                   secure=self.is_https(request))
            return response

    def add_page_routes(self, router: APIRouter, static: Path, name: str) -> None:
        """``GET {prefix}``: ``{name}.html`` with the CSRF token and user name filled in (else to the
        login page); ``GET {prefix}/{name}.js`` (logged-in users only) and ``{prefix}/{name}.css``."""

        @router.get(self.prefix)
        async def page(request: Request) -> Response:
            user = self.user_of(request)
            if user is None:
                return RedirectResponse(f"{self.prefix}/login", status_code=303)
            text = (static / f"{name}.html").read_text(encoding="utf-8")
            text = text.replace("__CSRF_TOKEN__", self.csrf_for(request.cookies[self.cookie]))
            text = text.replace("__USERNAME__", html.escape(user, quote=True))
            return self.secure(HTMLResponse(text))

        @router.get(f"{self.prefix}/{name}.js")
        async def script(request: Request) -> Response:
            if self.user_of(request) is None:
                return JSONResponse(status_code=401, content={"error": "unauthorized", "message": MSG_LOGIN_REQUIRED},
                                    headers={"Cache-Control": "no-store"})
            body = (static / f"{name}.js").read_bytes()
            return self.secure(Response(body, media_type="text/javascript; charset=utf-8"))

        @router.get(f"{self.prefix}/{name}.css")
        async def stylesheet() -> Response:
            body = (static / f"{name}.css").read_bytes()
            return Response(body, media_type="text/css; charset=utf-8", headers={"Cache-Control": "no-cache"})
