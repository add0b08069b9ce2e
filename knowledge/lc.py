"""The hybrid retriever as a LangChain ``BaseRetriever``, for reuse in LangChain chains.

    from knowledge.lc import LangChainRetriever
    docs = LangChainRetriever(retriever=hybrid, k=5).invoke("스마트 교차로 예산")

Each ``Document`` carries the chunk text and, in ``metadata``, document, section, line range and
scores, so a chain can cite exactly as the built-in answerer does.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .retrieve import HybridRetriever


class LangChainRetriever(BaseRetriever):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any  # HybridRetriever (Any keeps pydantic from inspecting it)
    k: int = 5

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hybrid: HybridRetriever = self.retriever
        out = []
        for p in hybrid.retrieve(query, k=self.k):
            c = p.chunk
            out.append(Document(page_content=c.text, id=c.id, metadata={
                "document": c.document, "section": c.section, "department": c.department,
                "line_start": c.line_start, "line_end": c.line_end, "kind": c.kind,
                "score": p.score, "dense": p.dense, "bm25": p.sparse,
            }))
        return out
