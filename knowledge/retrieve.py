"""Hybrid retrieval: dense (FAISS) + Korean BM25, fused by reciprocal rank, then reranked.

``HybridRetriever.retrieve`` is the one entry point; ``Reranker`` is the pluggable last stage.
The default ``FeatureReranker`` scores each candidate on dense similarity, BM25, IDF-weighted
coverage of the question's topic words (section path included), and whether the chunk holds the
kind of answer asked for (an amount for "얼마", a date for "언제"; see ``qtype``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .embedders import Embedder
from .errors import BadQueryError
from .qtype import question_types, type_match
from .store import KnowledgeIndex
from .tokenize import KiwiTokenizer, lexicon
from .types import Passage

MAX_QUERY_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Query:
    """A question prepared once for every stage."""

    text: str
    tokens: tuple[str, ...]
    expansion: tuple[str, ...]
    types: frozenset[str]
    terms: tuple[tuple[str, ...], ...] = ()


class Reranker(Protocol):
    """Reorders fused candidates; returns passages best first with ``features`` filled in."""

    def rerank(self, query: Query, candidates: list[Passage], index: KnowledgeIndex) -> list[Passage]: ...


@dataclass(frozen=True, slots=True)
class RerankWeights:
    dense: float = 4.0
    bm25: float = 0.6
    coverage: float = 1.2
    qtype: float = 0.5
    fused: float = 0.4


class FeatureReranker:
    """A transparent linear reranker over retrieval features (no model to download)."""

    def __init__(self, weights: RerankWeights | None = None) -> None:
        self.w = weights or RerankWeights()

    def rerank(self, query: Query, candidates: list[Passage], index: KnowledgeIndex) -> list[Passage]:
        if not candidates:
            return []
        max_sparse = max((p.sparse for p in candidates), default=0.0) or 1.0
        max_fused = max((p.score for p in candidates), default=0.0) or 1.0
        out = []
        for p in candidates:
            cov = coverage(query, index.token_set(p.chunk.id), index)
            tm = type_match(set(query.types), p.chunk.text)
            f = {
                "dense": p.dense, "bm25": p.sparse / max_sparse, "coverage": cov, "qtype": tm,
                "fused": p.score / max_fused,
            }
            score = (self.w.dense * f["dense"] + self.w.bm25 * f["bm25"] + self.w.coverage * cov
                     + self.w.qtype * tm + self.w.fused * f["fused"])
            out.append(Passage(p.chunk, score, p.dense, p.sparse, f))
        out.sort(key=lambda x: x.score, reverse=True)
        return out


def coverage(query: Query, doc_tokens: frozenset[str] | set[str], index: KnowledgeIndex) -> float:
    """IDF-weighted share of the question's topic terms found in a chunk (0..1).

    A term is a run of nouns written together ("보이스봇" = 보이스+봇): it is found when the chunk
    has the joined form, or partly found by its parts; a word also counts as found through one of
    its lexicon expansions ("작년" -> "전년도").
    """
    exp, _ = lexicon()

    def has(t: str) -> bool:
        return t in doc_tokens or any(e in doc_tokens for e in exp.get(t, ()))

    total = found = 0.0
    terms = query.terms or tuple((t,) for t in query.tokens)
    for parts in terms:
        joined = "".join(parts)
        known = [p for p in (*parts, joined) if index.bm25.known(p)]
        w = max((index.bm25.idf(p) for p in known), default=index.bm25.idf("\u0000") + 1.0)
        total += w
        if has(joined):
            found += w
        elif len(parts) > 1:
            # parts found apart are weak evidence ("기획" of 기획조정실 is not 정책기획과)
            found += 0.5 * w * sum(1.0 for p in parts if has(p)) / len(parts)
    return found / total if total else 0.0


class HybridRetriever:
    """Dense + BM25 candidates, RRF fusion, then a reranker."""

    def __init__(self, index: KnowledgeIndex, embedder: Embedder, tokenizer: KiwiTokenizer | None = None,
                 reranker: Reranker | None = None, candidates: int = 40, rrf_k: int = 60,
                 dense_weight: float = 1.0, sparse_weight: float = 1.0) -> None:
        self.index = index
        self.embedder = embedder
        self.tokenizer = tokenizer or KiwiTokenizer()
        self.reranker = reranker if reranker is not None else FeatureReranker()
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.sparse_weight = sparse_weight

    def prepare(self, question: str) -> Query:
        text = " ".join(question.split())
        if not text:
            raise BadQueryError("empty question")
        if len(text) > MAX_QUERY_CHARS:
            raise BadQueryError(f"question longer than {MAX_QUERY_CHARS} characters")
        terms = self.tokenizer.query_terms(text)
        tokens = self.tokenizer.query_tokens(text)
        return Query(text, tuple(tokens), tuple(self.tokenizer.expand(tokens)),
                     frozenset(question_types(text)), tuple(terms))

    def retrieve(self, question: str | Query, k: int = 5) -> list[Passage]:
        query = question if isinstance(question, Query) else self.prepare(question)
        n = len(self.index.chunks)
        if n == 0:
            return []
        m = min(self.candidates, n)
        qv = self.embedder.embed_queries([query.text])
        dscores, dids = self.index.dense.search(qv, m)
        dense_all = (self.index.vectors @ qv[0]) if len(self.index.vectors) else np.zeros(n)
        sparse = self.index.bm25.scores(list(query.tokens))
        if query.expansion:
            sparse = sparse + 0.5 * self.index.bm25.scores(list(query.expansion))
        sids = np.argsort(-sparse)[:m]
        fused: dict[int, float] = {}
        for rank, i in enumerate(int(x) for x in dids[0] if x >= 0):
            fused[i] = fused.get(i, 0.0) + self.dense_weight / (self.rrf_k + rank + 1)
        for rank, i in enumerate(int(x) for x in sids):
            if sparse[i] <= 0:
                break
            fused[i] = fused.get(i, 0.0) + self.sparse_weight / (self.rrf_k + rank + 1)
        order = sorted(fused, key=lambda i: fused[i], reverse=True)[:m]
        cands = [Passage(self.index.chunks[i], fused[i], float(dense_all[i]), float(sparse[i]))
                 for i in order]
        ranked = self.reranker.rerank(query, cands, self.index)
        return ranked[:k]
