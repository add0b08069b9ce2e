"""Hybrid retrieval: dense (FAISS) + Korean BM25, fused by reciprocal rank, then reranked.

``HybridRetriever.retrieve`` is the one entry point; ``Reranker`` is the pluggable last stage.
The default ``FeatureReranker`` scores each candidate on dense similarity, BM25, IDF-weighted
coverage of the question's topic words (section path included), and whether the chunk holds the
kind of answer asked for (an amount for "얼마", a date for "언제"; see ``qtype``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .embedders import Embedder
from .errors import BadQueryError
from .qtype import question_types, type_match
from .store import KnowledgeIndex
from .tokenize import KiwiTokenizer, lexicon, plan_year
from .types import Chunk, Passage

MAX_QUERY_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Query:
    """A question prepared once for every stage."""

    text: str
    tokens: tuple[str, ...]
    expansion: tuple[str, ...]
    types: frozenset[str]
    terms: tuple[tuple[str, ...], ...] = ()
    entities: tuple[str, ...] = ()  # organisation names the question mentions ("인사과", "바로처리팀")
    years: tuple[str, ...] = ()  # years other than the plan year that the question asks about
    year_marks: tuple[str, ...] = ()  # words that show a line is about one of those years
    vector: Any = None  # the question's embedding (numpy row), computed once in ``prepare``


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
    entity: float = 1.5


class FeatureReranker:
    """A transparent linear reranker over retrieval features (no model to download)."""

    def __init__(self, weights: RerankWeights | None = None) -> None:
        self.w = weights or RerankWeights()

    def rerank(self, query: Query, candidates: list[Passage], index: KnowledgeIndex) -> list[Passage]:
        if not candidates:
            return []
        max_sparse = max((p.sparse for p in candidates), default=0.0) or 1.0
        max_fused = max((p.score for p in candidates), default=0.0) or 1.0
        unknown = unknown_share(query, index)
        out = []
        for p in candidates:
            cov = coverage(query, index.token_set(p.chunk.id), index, p.chunk.search_text)
            tm = type_match(set(query.types), p.chunk.text)
            ent = entity_match(query, p.chunk)
            f = {
                "dense": p.dense, "bm25": p.sparse / max_sparse, "coverage": cov, "qtype": tm,
                "fused": p.score / max_fused, "entity": ent, "unknown": unknown,
            }
            score = (self.w.dense * f["dense"] + self.w.bm25 * f["bm25"] + self.w.coverage * cov
                     + self.w.qtype * tm + self.w.fused * f["fused"] + self.w.entity * (ent - 1.0))
            out.append(Passage(p.chunk, score, p.dense, p.sparse, f))
        out.sort(key=lambda x: x.score, reverse=True)
        return out


# Team-like names found in the text; "-과" names only count when they head a department section
# (a bare "-과" is too often the particle "and": "소통과 협력").
_ORG = re.compile(r"[가-힣A-Za-z]{2,14}(?:팀|실|담당관|센터)(?![가-힣])")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def org_names(chunks: list[Chunk]) -> frozenset[str]:
    """Organisation names known to the corpus: departments, offices, teams, centres."""
    names: set[str] = set()
    for c in chunks:
        if c.department:
            names.add(_squash(c.department))
        for part in c.section.split(" > ")[:1]:
            names.add(_squash(part))
        names.update(_squash(m) for m in _ORG.findall(c.text))
    return frozenset(n for n in names if 3 <= len(n) <= 15)


_RELATIVE_YEARS = {
    -1: ("작년", "지난해", "전년", "전년도", "지난 해"),
    1: ("내년", "차년도", "다음 해", "내년도"),
}


def years_asked(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Years other than the plan year that a question is about, and the words that mark them."""
    plan = plan_year()
    years: list[str] = []
    marks: list[str] = []
    for offset, words in _RELATIVE_YEARS.items():
        if any(w in text for w in words):
            years.append(str(plan + offset))
            marks.extend([str(plan + offset), *words])
    for y in re.findall(r"(?<!\d)(20\d\d)(?!\d)", text):
        if int(y) != plan and y not in years:
            years.append(y)
            marks.append(y)
    return tuple(years), tuple(dict.fromkeys(marks))


def entity_match(query: Query, chunk: Chunk) -> float:
    """Share of the organisations named in the question that the chunk (or its section) names."""
    if not query.entities:
        return 1.0
    hay = _squash(chunk.search_text)
    return sum(1.0 for e in query.entities if e in hay) / len(query.entities)


def unknown_share(query: Query, index: KnowledgeIndex) -> float:
    """IDF-weighted share of the question's topic terms that occur nowhere in the corpus
    ("맛집", "견학"): a sign the question is about something the documents do not cover."""
    total = unknown = 0.0
    for parts in query.terms or tuple((t,) for t in query.tokens):
        joined = "".join(parts)
        known = [p for p in (*parts, joined) if index.bm25.known(p)]
        w = max((index.bm25.idf(p) for p in known), default=0.7 * index.bm25.idf("\u0000"))
        total += w
        if not known:
            unknown += w
    return unknown / total if total else 0.0


def anchor_found(query: Query, doc_tokens: frozenset[str] | set[str], index: KnowledgeIndex,
                 text: str = "") -> bool:
    """Whether one of the question's two most specific words the corpus knows (highest IDF:
    "가로등", "교체" in "가로등 교체 사업 작년 예산") is in the text. A line with neither answers
    another question. Two, not one, so that a spelling slip in the source ("방법용 CCTV") does not
    hide the right line."""
    ranked: list[tuple[float, tuple[str, ...]]] = []
    for parts in query.terms:
        joined = "".join(parts)
        if joined.isdigit():
            continue  # a year or a number is what is asked about, not the subject
        known = [p for p in (*parts, joined) if index.bm25.known(p)]
        if known:
            ranked.append((max(index.bm25.idf(p) for p in known), parts))
    if not ranked:
        return True
    ranked.sort(key=lambda x: x[0], reverse=True)
    return any(coverage(Query("", (), (), frozenset(), (parts,)), doc_tokens, index, text) > 0.0
               for _, parts in ranked[:2])


def coverage(query: Query, doc_tokens: frozenset[str] | set[str], index: KnowledgeIndex,
             text: str = "") -> float:
    """IDF-weighted share of the question's topic terms found in a chunk or line (0..1).

    A term is a run of nouns written together ("보이스봇" = 보이스+봇): it is found when the text
    has the joined form as a token or, spacing aside, as a string ("버스정보시스템" in "버스정보
    시스템"); partly found by its parts; a word also counts as found through one of its lexicon
    expansions ("작년" -> "전년도"). Words the corpus never uses weigh a little less than its rarest.
    """
    exp, _ = lexicon()
    squashed = _squash(text) if text else ""

    def has(t: str) -> bool:
        if t in doc_tokens or any(e in doc_tokens for e in exp.get(t, ())):
            return True
        return len(t) >= 2 and bool(squashed) and t.lower() in squashed

    unseen = 0.7 * index.bm25.idf("\u0000")
    total = found = 0.0
    terms = query.terms or tuple((t,) for t in query.tokens)
    for parts in terms:
        joined = "".join(parts)
        known = [p for p in (*parts, joined) if index.bm25.known(p)]
        w = max((index.bm25.idf(p) for p in known), default=unseen)
        total += w
        if has(joined):
            found += w
        elif len(parts) > 1:
            # all parts found apart is good evidence; only some parts is weak ("기획" of
            # 기획조정실 is not 정책기획과)
            share = sum(1.0 for p in parts if has(p)) / len(parts)
            found += w * (0.8 if share == 1.0 else 0.4 * share)
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
        self.orgs = org_names(index.chunks)

    def prepare(self, question: str, context: str | None = None) -> Query:
        """Analyse a question once. ``context`` (the topic of the previous answer, for follow-ups
        such as "그럼 몇 군데 설치해요?") adds search words but not answer types: what is asked
        comes from the question alone."""
        text = " ".join(question.split())
        if not text:
            raise BadQueryError("empty question")
        if len(text) > MAX_QUERY_CHARS:
            raise BadQueryError(f"question longer than {MAX_QUERY_CHARS} characters")
        search = f"{' '.join(context.split())} {text}" if context else text
        terms = [self._segment(t) for t in self.tokenizer.query_terms(search)]
        # "올해" / the plan year is implicit in every chunk of a year's plan: not a topic term
        year = str(plan_year())
        terms = [t for t in terms if not (t == (year,) or year in self.tokenizer.expand(list(t)))]
        tokens = list(dict.fromkeys([*self.tokenizer.query_tokens(search), *(p for t in terms for p in t)]))
        expansion = self.tokenizer.expand(tokens)
        squashed = _squash(" ".join([search, *expansion]))
        found = [o for o in self.orgs if o in squashed]
        # keep the longest names only ("정책기획과" rather than also "기획과")
        entities = tuple(sorted(o for o in found if not any(o != x and o in x for x in found)))
        years, marks = years_asked(text)
        vector = self.embedder.embed_queries([search])[0]
        return Query(search, tuple(tokens), tuple(expansion), frozenset(question_types(text)),
                     tuple(terms), entities, years, marks, vector)

    def _segment(self, term: tuple[str, ...]) -> tuple[str, ...]:
        """Split a compound the corpus never writes whole into parts it does know:
        "버스정보시스템" -> ("버스정보", "시스템") when the documents say "버스정보 시스템"."""
        if len(term) != 1 or self.index.bm25.known(term[0]) or len(term[0]) < 4:
            return term
        word = term[0]
        best: list[list[str] | None] = [None] * (len(word) + 1)
        best[0] = []
        for i in range(len(word)):
            if best[i] is None:
                continue
            for j in range(len(word), i + 1, -1):  # longest known piece first, pieces >= 2 chars
                piece = word[i:j]
                prev = best[i]
                if prev is not None and self.index.bm25.known(piece) and (
                        best[j] is None or len(prev) + 1 < len(best[j] or [])):
                    best[j] = [*prev, piece]
        parts = best[len(word)]
        return tuple(parts) if parts and len(parts) > 1 else term

    def retrieve(self, question: str | Query, k: int = 5) -> list[Passage]:
        query = question if isinstance(question, Query) else self.prepare(question)
        n = len(self.index.chunks)
        if n == 0:
            return []
        m = min(self.candidates, n)
        qv = (np.atleast_2d(query.vector) if query.vector is not None
              else self.embedder.embed_queries([query.text]))
        _dscores, dids = self.index.dense.search(qv, m)
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
