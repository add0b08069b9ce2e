"""Intent classification evaluation on ``{"id","text","intent"}`` lines: accuracy, per-intent
precision/recall and a confusion table, with the classifier the service uses."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path


def run(dataset: str, as_json: bool = False) -> int:
    from assistant.factory import embedder_from, intent_classifier_from
    from assistant.settings import get_settings

    items = [json.loads(line) for line in Path(dataset).read_text("utf-8").splitlines() if line.strip()]
    settings = get_settings()
    clf = intent_classifier_from(settings, embedder_from(settings))
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    failures = []
    t0 = time.perf_counter()
    for it in items:
        got = clf.classify(it["text"])
        confusion[it["intent"]][got.intent] += 1
        if got.intent != it["intent"]:
            failures.append({"id": it["id"], "text": it["text"], "expected": it["intent"],
                             "got": got.intent, "source": got.source})
    ms = (time.perf_counter() - t0) * 1000 / max(1, len(items))
    labels = sorted(set(confusion) | {g for c in confusion.values() for g in c})
    per = {}
    for lab in labels:
        tp = confusion[lab][lab]
        predicted = sum(confusion[g][lab] for g in confusion)
        actual = sum(confusion[lab].values())
        per[lab] = {"precision": round(100 * tp / predicted, 1) if predicted else None,
                    "recall": round(100 * tp / actual, 1) if actual else None, "n": actual}
    correct = sum(confusion[lab][lab] for lab in labels)
    summary = {"items": len(items), "correct": correct,
               "accuracy": round(100 * correct / max(1, len(items)), 1), "per_intent": per,
               "ms_per_message": round(ms, 1)}
    if as_json:
        print(json.dumps({**summary, "failures": failures}, ensure_ascii=False))
        return 0
    for f in failures:
        print(f"MISS {f['id']}: {f['text']!r} expected {f['expected']}, got {f['got']} ({f['source']})")
    print(f"{'intent':18} {'n':>4} {'precision':>9} {'recall':>7}")
    for lab, v in per.items():
        print(f"{lab:18} {v['n']:>4} {v['precision']!s:>9} {v['recall']!s:>7}")
    print(f"intents: {correct}/{len(items)} correct = {summary['accuracy']}% ({ms:.1f} ms/message)")
    return 0
