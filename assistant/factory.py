"""The one factory: settings -> providers. Heavy imports happen only in the branch that needs them."""

from __future__ import annotations

from pathlib import Path

from knowledge.answer import AbstainPolicy, Answerer
from knowledge.embedders import Embedder, make_embedder
from knowledge.pipeline import open_answerer, open_index, tqdm_progress
from knowledge.store import KnowledgeIndex
from knowledge.tokenize import set_plan_year

from .settings import Settings


def embedder_from(settings: Settings) -> Embedder:
    k = settings.knowledge
    if k.plan_year:
        set_plan_year(k.plan_year)
    return make_embedder(k.embedder, k.embedder_model, k.embedder_threads)


def policy_from(settings: Settings, embedder: Embedder) -> AbstainPolicy:
    k = settings.knowledge
    return AbstainPolicy.for_embedder(embedder.model_id, k.min_coverage, k.min_dense)


def load_index(settings: Settings, embedder: Embedder, build_if_missing: bool = True,
               progress: bool = False) -> KnowledgeIndex:
    corpus: Path | None = settings.knowledge.corpus_dir if build_if_missing else None
    return open_index(settings.data_dir, embedder, corpus, tqdm_progress if progress else None)


def answerer_from(settings: Settings, index: KnowledgeIndex, embedder: Embedder) -> Answerer:
    extractive = open_answerer(index, embedder, policy_from(settings, embedder), settings.knowledge.contact,
                               settings.knowledge.top_k)
    if settings.llm.provider.lower() in ("", "none"):
        return extractive
    from knowledge.generative import GenerativeAnswerer, openai_chat_model

    llm = settings.llm
    chat = openai_chat_model(llm.base_url, llm.api_key.get_secret_value(), llm.model,
                             llm.timeout_s, llm.temperature)
    return GenerativeAnswerer(extractive, chat)
