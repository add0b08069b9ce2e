"""The on-disk knowledge index: build (incrementally) and load.

Layout of ``<data_dir>/index/``::

    manifest.json   schema, embedder id, dim, counts, corpus folder, build time
    chunks.jsonl    one chunk per line with its BM25 tokens
    vectors.npy     float32 rows aligned with chunks.jsonl
    faiss.index     FAISS IndexFlatIP of vectors.npy
    embcache.npz    sha256(embedder id + search text) -> vector, so re-indexing only embeds
                    chunks whose text changed

Files are written to a temporary folder and swapped in, so a reader never sees half an index.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .embedders import Embedder
from .errors import IndexMismatchError, IndexNotBuiltError
from .index import Bm25Index, FaissIndex, Matrix
from .tokenize import KiwiTokenizer
from .types import Chunk

SCHEMA = 3
Progress = Callable[[Iterable[int], int, str], Iterable[int]]


@dataclass(frozen=True, slots=True)
class BuildReport:
    chunks: int
    embedded: int
    reused: int
    documents: int
    seconds: float


def _key(embedder_id: str, text: str) -> str:
    return hashlib.sha256(f"{embedder_id}\n{text}".encode()).hexdigest()[:32]


class KnowledgeIndex:
    """Chunks + dense vectors (FAISS) + BM25, in memory, loaded from / saved to ``directory``."""

    def __init__(self, chunks: list[Chunk], tokens: list[list[str]], vectors: Matrix,
                 embedder_id: str, meta: dict[str, object] | None = None,
                 dense: FaissIndex | None = None) -> None:
        self.chunks = chunks
        self.tokens = tokens
        self.vectors = vectors
        self.embedder_id = embedder_id
        self.meta = meta or {}
        if dense is None or len(dense) != len(chunks):
            dense = FaissIndex(vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else 1)
            dense.add(vectors)
        self.dense = dense
        self.bm25 = Bm25Index(tokens)
        self._token_sets = {c.id: frozenset(t) for c, t in zip(chunks, tokens, strict=True)}

    def token_set(self, chunk_id: str) -> frozenset[str]:
        return self._token_sets.get(chunk_id, frozenset())

    # --- build ------------------------------------------------------------------------------
    @classmethod
    def build(cls, chunks: list[Chunk], embedder: Embedder, directory: Path,
              tokenizer: KiwiTokenizer | None = None, progress: Progress | None = None,
              corpus: str = "") -> tuple[KnowledgeIndex, BuildReport]:
        t0 = time.perf_counter()
        tokenizer = tokenizer or KiwiTokenizer()
        texts = [c.search_text for c in chunks]
        tokens = tokenizer.tokens_batch(texts) if texts else []
        keys = [_key(embedder.model_id, t) for t in texts]
        cache = _load_cache(directory / "index" / "embcache.npz")
        missing = [i for i, k in enumerate(keys) if k not in cache]
        batch = 32
        steps: Iterable[int] = range(0, len(missing), batch)
        if progress is not None:
            steps = progress(steps, (len(missing) + batch - 1) // batch, "embedding")
        for start in steps:
            idx = missing[start : start + batch]
            vecs = embedder.embed_passages([texts[i] for i in idx])
            for i, v in zip(idx, vecs, strict=True):
                cache[keys[i]] = v
        vectors = (np.vstack([cache[k] for k in keys]).astype(np.float32) if keys
                   else np.zeros((0, embedder.dim), dtype=np.float32))
        meta: dict[str, object] = {
            "schema": SCHEMA, "embedder": embedder.model_id, "dim": embedder.dim,
            "chunks": len(chunks), "documents": len({c.document for c in chunks}),
            "corpus": corpus, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        index = cls(chunks, tokens, vectors, embedder.model_id, meta)
        keep = {k: cache[k] for k in keys}
        index.save(directory, keep)
        report = BuildReport(len(chunks), len(missing), len(chunks) - len(missing),
                             int(str(meta["documents"])), time.perf_counter() - t0)
        return index, report

    def save(self, directory: Path, cache: dict[str, np.ndarray]) -> None:
        final = directory / "index"
        tmp = directory / f".index.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        with (tmp / "chunks.jsonl").open("w", encoding="utf-8") as f:
            for c, toks in zip(self.chunks, self.tokens, strict=True):
                f.write(json.dumps({**asdict(c), "tokens": toks}, ensure_ascii=False) + "\n")
        np.save(tmp / "vectors.npy", self.vectors)
        self.dense.save(tmp / "faiss.index")
        if cache:
            np.savez(tmp / "embcache.npz", keys=np.array(list(cache)),
                     vecs=np.vstack(list(cache.values())).astype(np.float32))
        (tmp / "manifest.json").write_text(json.dumps(self.meta, ensure_ascii=False, indent=2), "utf-8")
        old = directory / f".index.old-{os.getpid()}"
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        if old.exists():
            shutil.rmtree(old)

    # --- load -------------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: Path, embedder_id: str | None = None) -> KnowledgeIndex:
        path = directory / "index"
        manifest = path / "manifest.json"
        if not manifest.exists():
            raise IndexNotBuiltError(f"no index in {path}: run `python -m assistant index`")
        meta = json.loads(manifest.read_text("utf-8"))
        if meta.get("schema") != SCHEMA:
            raise IndexMismatchError(f"index schema {meta.get('schema')} != {SCHEMA}: rebuild the index")
        if embedder_id is not None and meta.get("embedder") != embedder_id:
            raise IndexMismatchError(
                f"index built with {meta.get('embedder')!r}, configured embedder is {embedder_id!r}: "
                "rebuild the index")
        chunks: list[Chunk] = []
        tokens: list[list[str]] = []
        with (path / "chunks.jsonl").open(encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                tokens.append(row.pop("tokens"))
                chunks.append(Chunk(**row))
        vectors = np.load(path / "vectors.npy").astype(np.float32)
        dense = FaissIndex.load(path / "faiss.index") if (path / "faiss.index").exists() else None
        return cls(chunks, tokens, vectors, str(meta.get("embedder")), meta, dense)


def _load_cache(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    try:
        data = np.load(path)
        return {str(k): v for k, v in zip(data["keys"], data["vecs"], strict=True)}
    except (OSError, ValueError, KeyError):
        return {}  # a damaged cache only costs re-embedding
