"""Intent classification: the ``IntentClassifier`` protocol and the offline default.

``RuleEmbeddingClassifier`` tries Korean keyword rules first (exact, explainable, editable in
``messages/intents.yaml``), then the nearest example utterance by embedding similarity, and falls
back to ``question`` (the knowledge answerer abstains by itself when the documents say nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

import yaml

from knowledge.embedders import Embedder

INTENTS = ("question", "complaint", "complaint_status", "live_data", "human", "greeting", "thanks",
           "bye", "smalltalk", "out_of_scope", "cancel")


@dataclass(frozen=True, slots=True)
class IntentResult:
    intent: str
    confidence: float
    source: str  # "rule" | "embedding" | "default"


class IntentClassifier(Protocol):
    def classify(self, text: str) -> IntentResult: ...


@lru_cache(maxsize=1)
def intent_data() -> dict[str, Any]:
    text = resources.files("assistant").joinpath("messages/intents.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text) or {}
    return data


class RuleEmbeddingClassifier:
    def __init__(self, embedder: Embedder | None, min_similarity: float = 0.88, margin: float = 0.03,
                 data: dict[str, Any] | None = None) -> None:
        data = data or intent_data()
        self.rules = [(name, re.compile(p, re.I)) for name, p in (data.get("rules") or {}).items()]
        self.embedder = embedder
        self.min_similarity = min_similarity
        self.margin = margin
        self.labels: list[str] = []
        self.matrix: Any = None
        examples: dict[str, list[str]] = data.get("examples") or {}
        if embedder is not None and examples:
            texts = []
            for intent, utterances in examples.items():
                for u in utterances:
                    self.labels.append(intent)
                    texts.append(u)
            self.matrix = embedder.embed_queries(texts)

    def classify(self, text: str) -> IntentResult:
        s = " ".join(text.split())
        for name, pat in self.rules:
            if pat.search(s):
                return IntentResult(name, 1.0, "rule")
        if self.embedder is not None and self.matrix is not None and s:
            v = self.embedder.embed_queries([s])[0]
            sims = self.matrix @ v
            best: dict[str, float] = {}
            for label, sim in zip(self.labels, sims.tolist(), strict=True):
                best[label] = max(best.get(label, -1.0), float(sim))
            top = max(best, key=lambda k: best[k])
            # anything but a plain question must beat the closest question example by a margin
            if (best[top] >= self.min_similarity
                    and (top == "question" or best[top] - best.get("question", -1.0) >= self.margin)):
                return IntentResult(top, best[top], "embedding")
        return IntentResult("question", 0.5, "default")
