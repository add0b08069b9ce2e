from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.embedders import HashingEmbedder
from knowledge.errors import IndexMismatchError, IndexNotBuiltError
from knowledge.index import Bm25Index, FaissIndex, VectorIndex
from knowledge.ingest import load_corpus
from knowledge.store import KnowledgeIndex


class VectorIndexContract:
    def make(self, dim: int) -> VectorIndex:
        raise NotImplementedError

    def test_exact_inner_product_search(self) -> None:
        idx = self.make(4)
        vecs = np.eye(4, dtype=np.float32)
        idx.add(vecs)
        assert len(idx) == 4
        scores, ids = idx.search(np.array([[0, 0, 1, 0]], dtype=np.float32), 2)
        assert ids[0][0] == 2 and scores[0][0] == pytest.approx(1.0)

    def test_empty_index_returns_no_ids(self) -> None:
        _, ids = self.make(3).search(np.ones((1, 3), dtype=np.float32), 5)
        assert (ids < 0).all()

    def test_save_and_load(self, tmp_path: Path) -> None:
        idx = self.make(2)
        idx.add(np.array([[1, 0], [0, 1]], dtype=np.float32))
        idx.save(tmp_path / "v.index")
        loaded = FaissIndex.load(tmp_path / "v.index")
        assert len(loaded) == 2


class TestFaissIndex(VectorIndexContract):
    def make(self, dim: int) -> VectorIndex:
        return FaissIndex(dim)


def test_bm25_scores_and_unknown_tokens() -> None:
    bm = Bm25Index([["스마트", "교차로"], ["보이스봇", "민원"], []])
    s = bm.scores(["교차로", "없는말"])
    assert s.argmax() == 0 and s[1] == 0
    assert bm.scores(["없는말"]).sum() == 0
    assert bm.known("민원") and not bm.known("없는말")
    assert bm.idf("없는말") > bm.idf("민원")


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.embedded = 0

    def embed_passages(self, texts: list[str]):  # type: ignore[no-untyped-def]
        self.embedded += len(texts)
        return super().embed_passages(texts)


def test_build_load_roundtrip_and_incremental_reembedding(mini_corpus: Path, tmp_path: Path) -> None:
    emb = CountingEmbedder()
    chunks, _ = load_corpus(mini_corpus)
    index, report = KnowledgeIndex.build(chunks, emb, tmp_path)
    assert report.embedded == len(chunks) == emb.embedded and report.reused == 0
    loaded = KnowledgeIndex.load(tmp_path, emb.model_id)
    assert [c.id for c in loaded.chunks] == [c.id for c in index.chunks]
    assert np.allclose(loaded.vectors, index.vectors)
    assert len(loaded.dense) == len(chunks)

    # change one document line: only the chunk holding it is embedded again
    doc = mini_corpus / "mini-plan.md"
    doc.write_text(doc.read_text("utf-8").replace("80,000천원", "85,000천원"), "utf-8")
    emb.embedded = 0
    chunks2, _ = load_corpus(mini_corpus)
    _, report2 = KnowledgeIndex.build(chunks2, emb, tmp_path)
    assert report2.embedded == emb.embedded == 1
    assert report2.reused == len(chunks2) - 1
    assert not list(tmp_path.glob(".index.*")), "temporary folders must be swapped away"


def test_load_errors(tmp_path: Path, mini_corpus: Path) -> None:
    with pytest.raises(IndexNotBuiltError):
        KnowledgeIndex.load(tmp_path)
    chunks, _ = load_corpus(mini_corpus)
    KnowledgeIndex.build(chunks, HashingEmbedder(32), tmp_path)
    with pytest.raises(IndexMismatchError):
        KnowledgeIndex.load(tmp_path, "some-other-embedder")
