"""Contract suites for the Answerer and Reranker protocols: every implementation inherits them."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from knowledge.answer import Answerer, numeric_fidelity
from knowledge.generative import GenerativeAnswerer
from knowledge.retrieve import FeatureReranker, Reranker
from knowledge.types import Answer


class AnswererContract:
    @pytest.fixture()
    def answerer(self, hashing_stack: Any) -> Answerer:
        raise NotImplementedError

    def test_answers_with_citations_and_grounded_numbers(self, answerer: Answerer) -> None:
        a = answerer.answer("가로등 교체 사업 예산이 얼마예요?")
        assert isinstance(a, Answer) and not a.abstained and a.citations
        assert numeric_fidelity(a.answer, [c.text for c in a.citations])

    def test_abstains_without_citations(self, answerer: Answerer) -> None:
        a = answerer.answer("주식 종목 추천해줘")
        assert a.abstained and not a.citations and "민원콜센터" in a.answer

    def test_context_is_accepted(self, answerer: Answerer) -> None:
        a = answerer.answer("예산은 얼마예요?", "가로등 교체 사업")
        assert not a.abstained and "80,000천원" in a.answer

    @pytest.mark.parametrize("bad", ["", " " * 10, "x" * 20_000])
    def test_bad_input(self, answerer: Answerer, bad: str) -> None:
        a = answerer.answer(bad)
        assert a.abstained and a.answer


class TestExtractiveAnswerer(AnswererContract):
    @pytest.fixture()
    def answerer(self, hashing_stack: Any) -> Answerer:
        return hashing_stack[0]  # type: ignore[no-any-return]


class TestGenerativeAnswerer(AnswererContract):
    @pytest.fixture()
    def answerer(self, hashing_stack: Any) -> Answerer:
        model = FakeListChatModel(responses=["가로등 교체 사업의 소요예산은 80,000천원입니다."] * 10)
        return GenerativeAnswerer(hashing_stack[0], model)


class RerankerContract:
    @pytest.fixture()
    def reranker(self) -> Reranker:
        raise NotImplementedError

    def test_orders_and_fills_features(self, reranker: Reranker, hashing_stack: Any) -> None:
        retriever = hashing_stack[0].retriever
        q = retriever.prepare("가로등 교체 사업 예산")
        cands = retriever.retrieve(q, k=8)
        out = reranker.rerank(q, list(reversed(cands)), retriever.index)
        assert len(out) == len(cands)
        assert [p.score for p in out] == sorted((p.score for p in out), reverse=True)
        assert all("coverage" in p.features for p in out)
        assert reranker.rerank(q, [], retriever.index) == []


class TestFeatureReranker(RerankerContract):
    @pytest.fixture()
    def reranker(self) -> Reranker:
        return FeatureReranker()
