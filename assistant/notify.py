"""Outgoing text messages to citizens: the ``SmsSender`` protocol and its Twilio implementation.

Twilio's REST API (``POST /2010-04-01/Accounts/{sid}/Messages.json``, form fields To/From/Body,
HTTP basic auth) through httpx; the base URL is a setting so tests and checks can point it at a
local server. Korean numbers are converted to E.164 (+82…). Failures become ``NotifyError``
(transient for 5xx/time-outs), and message bodies never reach the logs unmasked.
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

import httpx

from .errors import AssistantError
from .pii import mask_pii

log = logging.getLogger(__name__)


class NotifyError(AssistantError):
    pass


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> str:
        """Send one SMS; returns the provider's message id."""
        ...


def to_e164(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("82"):
        return "+" + digits
    if digits.startswith("0") and 9 <= len(digits) <= 11:
        return "+82" + digits[1:]
    raise NotifyError(f"not a Korean phone number: {mask_pii(phone)}")


class TwilioSmsSender:
    def __init__(self, account_sid: str, auth_token: str, sms_from: str,
                 base_url: str = "https://api.twilio.com", timeout_s: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not (account_sid and auth_token and sms_from):
            raise NotifyError("Twilio SMS needs ASSISTANT_TWILIO__ACCOUNT_SID, __AUTH_TOKEN and __SMS_FROM")
        self._sid = account_sid
        self._from = sms_from
        self._client = httpx.Client(base_url=base_url.rstrip("/"), auth=(account_sid, auth_token),
                                    timeout=timeout_s, transport=transport)

    def send(self, to: str, body: str) -> str:
        try:
            r = self._client.post(f"/2010-04-01/Accounts/{self._sid}/Messages.json",
                                  data={"To": to_e164(to), "From": self._from, "Body": body[:1600]})
        except httpx.HTTPError as exc:
            err = NotifyError(f"SMS not sent: {type(exc).__name__}")
            err.transient = True
            raise err from exc
        if r.status_code >= 400:
            err = NotifyError(f"SMS refused by provider: HTTP {r.status_code}")
            err.transient = r.status_code >= 500 or r.status_code == 429
            raise err
        sid = str(r.json().get("sid", ""))
        log.info("sms sent", extra={"fields": {"to": mask_pii(to), "sid": sid}})
        return sid


class LoggingSmsSender:
    """For deployments without SMS: records that a message would have been sent (masked)."""

    def send(self, to: str, body: str) -> str:
        log.warning("SMS not configured; not sent", extra={"fields": {"to": mask_pii(to)}})
        raise NotifyError("SMS is not configured")
