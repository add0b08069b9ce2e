"""Search indexes: the ``VectorIndex`` protocol with ``FaissIndex``, and ``Bm25Index`` over Korean
morphemes (bm25s). Both are rebuilt from vectors/tokens and saved beside the chunks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]


class VectorIndex(Protocol):
    """Exact or approximate inner-product search over normalised vectors."""

    def add(self, vectors: Matrix) -> None: ...

    def search(self, query: Matrix, k: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Scores and row ids, best first; ids are -1 where fewer than k rows exist."""
        ...

    def __len__(self) -> int: ...

    def save(self, path: Path) -> None: ...


class FaissIndex:
    """FAISS ``IndexFlatIP``: exact cosine search; fine to ~10^5 chunks on one core."""

    def __init__(self, dim: int) -> None:
        import faiss

        self._faiss = faiss
        self._index: Any = faiss.IndexFlatIP(dim)
        self.dim = dim

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        import faiss

        obj = cls.__new__(cls)
        obj._faiss = faiss
        obj._index = faiss.read_index(str(path))
        obj.dim = obj._index.d
        return obj

    def add(self, vectors: Matrix) -> None:
        if len(vectors):
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, query: Matrix, k: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        k = max(1, min(k, len(self))) if len(self) else 1
        q = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
        if not len(self):
            return np.full((len(q), 1), -np.inf, np.float32), np.full((len(q), 1), -1, np.int64)
        scores, ids = self._index.search(q, k)
        return scores, ids

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def save(self, path: Path) -> None:
        self._faiss.write_index(self._index, str(path))


class Bm25Index:
    """Okapi BM25 (bm25s, k1=1.2, b=0.75) over pre-tokenised documents."""

    def __init__(self, docs: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG
        self._n = len(docs)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        # an empty document would break bm25s' vocabulary; give it a placeholder token
        self._bm25.index([d or ["\u2205"] for d in docs], show_progress=False)
        vocab = self._bm25.vocab_dict
        self._vocab: set[str] = set(vocab) if vocab else set()
        df: dict[str, int] = {}
        for d in docs:
            for t in set(d):
                df[t] = df.get(t, 0) + 1
        self._df = df

    def __len__(self) -> int:
        return self._n

    def idf(self, token: str) -> float:
        """Robertson-Sparck Jones IDF (>= 0); an unseen token gets the highest value."""
        n = self._df.get(token, 0)
        return float(np.log(1 + (self._n - n + 0.5) / (n + 0.5)))

    def known(self, token: str) -> bool:
        return token in self._df

    def scores(self, tokens: list[str]) -> npt.NDArray[np.float32]:
        known = [t for t in tokens if t in self._vocab]
        if not known or not self._n:
            return np.zeros(self._n, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)
