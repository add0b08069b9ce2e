"""Wiring of the knowledge stack from plain arguments (the composition root passes settings in).

``build_index`` reads a corpus folder and writes the index; ``open_answerer`` loads it and returns
a ready ``ExtractiveAnswerer`` (or the generative one wrapped around it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .answer import AbstainPolicy, ExtractiveAnswerer
from .embedders import Embedder
from .errors import IndexMismatchError, IndexNotBuiltError
from .ingest import load_corpus
from .retrieve import HybridRetriever
from .store import BuildReport, KnowledgeIndex, Progress
from .tokenize import KiwiTokenizer


def build_index(corpus_dir: Path, data_dir: Path, embedder: Embedder,
                progress: Progress | None = None) -> tuple[KnowledgeIndex, BuildReport, list[str]]:
    chunks, problems = load_corpus(corpus_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    index, report = KnowledgeIndex.build(chunks, embedder, data_dir, KiwiTokenizer(), progress,
                                         corpus=str(corpus_dir))
    return index, report, problems


def open_index(data_dir: Path, embedder: Embedder, corpus_dir: Path | None = None,
               progress: Progress | None = None) -> KnowledgeIndex:
    """Load the index; build it first from ``corpus_dir`` when it is missing or stale."""
    try:
        return KnowledgeIndex.load(data_dir, embedder.model_id)
    except (IndexNotBuiltError, IndexMismatchError):
        if corpus_dir is None:
            raise
        index, _, _ = build_index(corpus_dir, data_dir, embedder, progress)
        return index


def open_answerer(index: KnowledgeIndex, embedder: Embedder, policy: AbstainPolicy | None = None,
                  contact: str = "남양주시 민원콜센터", top_k: int = 5) -> ExtractiveAnswerer:
    retriever = HybridRetriever(index, embedder, KiwiTokenizer())
    policy = policy or AbstainPolicy.for_embedder(embedder.model_id)
    return ExtractiveAnswerer(retriever, policy, contact=contact, top_k=top_k)


def tqdm_progress(steps: Iterable[int], total: int, desc: str) -> Iterable[int]:
    """A progress bar on stderr (tqdm), for the CLI."""
    from tqdm import tqdm

    bar: Iterable[int] = tqdm(steps, total=total, desc=desc, unit="batch", leave=False)
    return bar
