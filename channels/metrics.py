"""Prometheus metrics of the HTTP service (one registry per app, so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("nyj_http_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("nyj_http_request_seconds", "HTTP request latency", ["route"],
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5),
                                 registry=self.registry)
        self.intents = Counter("nyj_chat_intents_total", "Chat turns by intent", ["intent"],
                               registry=self.registry)
        self.abstained = Counter("nyj_chat_abstained_total", "Answers that said the documents do not say",
                                 registry=self.registry)
        self.feedback = Counter("nyj_chat_feedback_total", "Answer feedback", ["rating"],
                                registry=self.registry)
        self.rate_limited = Counter("nyj_http_rate_limited_total", "Requests refused with 429",
                                    registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
