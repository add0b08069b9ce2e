"""Internal data of the knowledge package (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrievable unit: a bullet with its sub-bullets, a paragraph, or one table row.

    ``document`` is the source path relative to the corpus folder; ``section`` the heading path
    ("기획조정실 > 스마트도시과 > 3 스마트 교차로 구축 사업 > 사업개요"); ``text`` the clean text shown
    to people (one line per sentence / record); ``kind`` is "text" or "row".
    """

    id: str
    document: str
    department: str
    section: str
    text: str
    line_start: int
    line_end: int
    kind: str = "text"

    @property
    def search_text(self) -> str:
        """What the retrievers see: the section path gives a short item its context."""
        return f"{self.section}\n{self.text}" if self.section else self.text


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with its scores (higher is better)."""

    chunk: Chunk
    score: float
    dense: float = 0.0
    sparse: float = 0.0
    features: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Citation:
    document: str
    section: str
    text: str
    line_start: int = 0
    line_end: int = 0


@dataclass(frozen=True, slots=True)
class Answer:
    answer: str
    abstained: bool
    citations: tuple[Citation, ...]
    confidence: float = 0.0
    latency_ms: float = 0.0
    answerer: str = "extractive"
