"""Errors raised by the city-system adapters (traffic, CCTV, budget).

    AdapterError (assistant.errors.AssistantError)   base; ``transient`` says whether a retry may help
    ├── BackendUnavailable      connection refused/reset, DNS, 5xx; transient
    │   ├── BackendTimeout      the backend did not answer within its time-out; transient
    │   └── CircuitOpen         too many recent failures: calls are refused for a cool-down; transient
    ├── RateLimited             HTTP 429, 지방재정365 ``ERROR-337`` (daily limit), data.go.kr code 22; transient
    ├── BadResponse             a body we cannot read (not JSON/CSV, unexpected shape); not transient
    └── BackendRejected         the backend refused the request (bad key, 4xx, error result code); not transient

"No data" is never an error: GBIS ``resultCode 4``, TAGO empty ``items`` and 지방재정365 ``INFO-200`` give
empty results. httpx exceptions are translated into this tree in ``adapters.client`` (the edge); the
dialogue tools turn any of them into a polite Korean answer with a pointer to the public source.
"""

from __future__ import annotations

from ..errors import AssistantError


class AdapterError(AssistantError):
    """Base of every adapter error. ``backend`` names the system (traffic, cctv, budget)."""

    def __init__(self, message: str, backend: str = "") -> None:
        super().__init__(message)
        self.backend = backend


class BackendUnavailable(AdapterError):
    transient = True


class BackendTimeout(BackendUnavailable):
    transient = True


class CircuitOpen(BackendUnavailable):
    transient = True


class RateLimited(AdapterError):
    transient = True


class BadResponse(AdapterError):
    transient = False


class BackendRejected(AdapterError):
    transient = False
