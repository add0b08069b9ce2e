"""Errors raised by the assistant package.

    AssistantError                      base; ``transient`` says whether a retry may help
    ├── SessionStoreError               the session backend (Redis) failed or is unreachable; transient
    └── RateLimiterError                the rate-limit backend failed; transient (limiters fail open)

More branches (complaints, adapters, dialogue) hang off ``AssistantError`` as they are built.
Third-party exceptions (redis, httpx, database drivers) are translated where they occur; channels/
decides how an error reaches a person (HTTP status, spoken apology, hand-off).
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error raised on purpose by the assistant package."""

    transient: bool = False


class SessionStoreError(AssistantError):
    """A session could not be loaded, saved or deleted because the backend failed."""

    transient = True


class RateLimiterError(AssistantError):
    """The rate-limit backend failed (the shipped limiters fail open and only log this)."""

    transient = True
