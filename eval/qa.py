"""QA evaluation on a JSONL set of ``{"id","q","any":[...]}`` / ``{"id","q","abstain":true}``.

An answer is correct when the reply contains one of ``any`` (spaces and commas removed) and the
assistant did not abstain; an out-of-scope item is correct when it abstained. Also reports the
retriever's recall@k (an ``any`` string inside one of the top-k chunks), abstention precision /
recall, the share of answers with a citation, and warm latency p50/p95. Uses the same settings
(``ASSISTANT_*``) as the service, so it measures what is deployed.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def _norm(s: str) -> str:
    return "".join(s.split()).replace(",", "")


def _pct(n: int, d: int) -> float:
    return round(100.0 * n / d, 1) if d else 0.0


def run(dataset: str, as_json: bool = False, details: bool = False) -> int:
    from assistant.factory import answerer_from, embedder_from, load_index
    from assistant.settings import get_settings
    from knowledge.answer import ExtractiveAnswerer

    items = [json.loads(line) for line in Path(dataset).read_text("utf-8").splitlines() if line.strip()]
    settings = get_settings()
    t0 = time.perf_counter()
    embedder = embedder_from(settings)
    index = load_index(settings, embedder, build_if_missing=True)
    answerer = answerer_from(settings, index, embedder)
    load_s = time.perf_counter() - t0
    retriever = answerer.retriever if isinstance(answerer, ExtractiveAnswerer) else None
    answerer.answer("워밍업 질문입니다")  # first call pays one-off costs; latency is measured warm

    correct = answered_ok = answerable = oos = abst_true = abst_total = cited = answered = 0
    recall = {1: 0, 3: 0, 5: 0}
    lat: list[float] = []
    rows: list[dict[str, Any]] = []
    for it in items:
        q = it["q"]
        t = time.perf_counter()
        a = answerer.answer(q)
        lat.append((time.perf_counter() - t) * 1000)
        if a.abstained:
            abst_total += 1
        else:
            answered += 1
            cited += bool(a.citations)
        if it.get("abstain"):
            oos += 1
            ok = a.abstained
            abst_true += ok
        else:
            answerable += 1
            ok = (not a.abstained) and any(_norm(x) in _norm(a.answer) for x in it["any"])
            answered_ok += ok
            if retriever is not None:
                texts = [_norm(p.chunk.text) for p in retriever.retrieve(q, k=5)]
                for k in recall:
                    recall[k] += any(_norm(x) in t for x in it["any"] for t in texts[:k])
        correct += ok
        rows.append({"id": it.get("id"), "q": q, "ok": ok, "abstained": a.abstained,
                     "answer": a.answer, "latency_ms": round(lat[-1], 1)})
    n = len(items)
    p95 = sorted(lat)[max(0, round(0.95 * len(lat)) - 1)] if lat else 0.0
    summary = {
        "dataset": dataset, "items": n, "correct": correct, "accuracy": _pct(correct, n),
        "answerable": answerable, "answerable_correct": answered_ok,
        "out_of_scope": oos, "abstained_out_of_scope": abst_true,
        "abstention_precision": _pct(abst_true, abst_total) if abst_total else None,
        "abstention_recall": _pct(abst_true, oos) if oos else None,
        "answers_cited": _pct(cited, answered),
        "recall_at_k": {str(k): _pct(v, answerable) for k, v in recall.items()},
        "latency_ms_p50": round(statistics.median(lat), 1) if lat else 0.0,
        "latency_ms_p95": round(p95, 1),
        "load_s": round(load_s, 2), "embedder": index.embedder_id,
    }
    if details:
        for r in rows:
            mark = "ok  " if r["ok"] else "FAIL"
            print(f"{mark} {r['id']} {r['q']} -> {r['answer'][:160]!r}", file=sys.stderr)
    if as_json:
        print(json.dumps({**summary, "failures": [r for r in rows if not r["ok"]]}, ensure_ascii=False))
    else:
        for r in rows:
            if not r["ok"]:
                print(f"FAIL {r['id']}: {r['q']}  ->  {r['answer'][:120]!r}")
        print(f"recall@1/3/5 {summary['recall_at_k']['1']}% / {summary['recall_at_k']['3']}% / "
              f"{summary['recall_at_k']['5']}%   cited answers {summary['answers_cited']}%   "
              f"abstention P/R {summary['abstention_precision']} / {summary['abstention_recall']}")
        print(f"latency p50 {summary['latency_ms_p50']} ms, p95 {summary['latency_ms_p95']} ms "
              f"(load {summary['load_s']} s, {summary['embedder']})")
        print(f"qa: {correct}/{n} correct = {summary['accuracy']}% "
              f"(answerable {answered_ok}/{answerable}, out-of-scope abstained {abst_true}/{oos})")
    return 0
