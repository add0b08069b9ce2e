"""Complaint routing evaluation on ``{"id","text","team_any":[...],"urgent":bool}`` lines, with the
router the service uses (``assistant.factory.router_from``).

A hit is a routed team listed in ``team_any``. Reports accuracy per expected team, urgent recall
and precision, a confusion table (expected first team -> routed team) and the misses; the last
line reads ``routing: 15/15 correct = 100.0%, urgent recall 100.0%``.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any


def _pct(n: int, d: int) -> float | None:
    return round(100 * n / d, 1) if d else None


def score(items: list[dict[str, Any]], routes: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary for routed items (``routes[i]`` has ``team`` and ``urgent``)."""
    per: dict[str, Counter[str]] = defaultdict(Counter)
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    failures = []
    tp = fp = fn = 0
    for it, r in zip(items, routes, strict=True):
        expected = it["team_any"][0]
        hit = r["team"] in it["team_any"]
        per[expected]["n"] += 1
        per[expected]["hit"] += int(hit)
        confusion[expected][r["team"] if not hit else expected] += 1
        want, got = bool(it.get("urgent")), bool(r.get("urgent"))
        tp += want and got
        fp += got and not want
        fn += want and not got
        if not hit or want != got:
            failures.append({"id": it["id"], "text": it["text"], "expected": it["team_any"], "urgent": want,
                             "got": r["team"], "got_urgent": got, "confidence": r.get("confidence"),
                             "reason": r.get("reason", "")})
    correct = sum(c["hit"] for c in per.values())
    return {
        "items": len(items), "correct": correct, "accuracy": _pct(correct, len(items)) or 0.0,
        "urgent": {"n": tp + fn, "recall": _pct(tp, tp + fn), "precision": _pct(tp, tp + fp),
                   "false_alarms": fp},
        "per_team": {t: {"n": c["n"], "correct": c["hit"], "accuracy": _pct(c["hit"], c["n"])}
                     for t, c in sorted(per.items())},
        "confusion": {t: dict(c) for t, c in sorted(confusion.items())},
        "failures": failures,
    }


def run(dataset: str, as_json: bool = False) -> int:
    from assistant.factory import embedder_from, router_from
    from assistant.settings import get_settings

    items = [json.loads(line) for line in Path(dataset).read_text("utf-8").splitlines() if line.strip()]
    settings = get_settings()
    t0 = time.perf_counter()
    router = router_from(settings, embedder_from(settings))
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    routes = [router.route(it["text"]).as_json() for it in items]
    ms = (time.perf_counter() - t0) * 1000 / max(1, len(items))
    summary = score(items, routes)
    summary.update({"ms_per_complaint": round(ms, 1), "load_s": round(load_s, 2)})
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    for f in summary["failures"]:
        print(f"MISS {f['id']}: {f['text']!r} expected {'/'.join(f['expected'])}"
              f"{' (긴급)' if f['urgent'] else ''}, got {f['got']}{' (긴급)' if f['got_urgent'] else ''}"
              f" [{f['confidence']}] {f['reason']}")
    print(f"{'team':16} {'n':>4} {'correct':>7} {'accuracy':>8}")
    for team, v in summary["per_team"].items():
        print(f"{team:16} {v['n']:>4} {v['correct']:>7} {v['accuracy']!s:>8}")
    print("confusion (expected -> routed):")
    for team, row in summary["confusion"].items():
        print(f"  {team:16} " + ", ".join(f"{k} {n}" for k, n in sorted(row.items(), key=lambda kv: -kv[1])))
    u = summary["urgent"]
    print(f"urgent: {u['n']} items, recall {u['recall']}%, precision {u['precision']}%, "
          f"false alarms {u['false_alarms']} ({ms:.1f} ms/complaint, loaded in {load_s:.1f}s)")
    print(f"routing: {summary['correct']}/{summary['items']} correct = {summary['accuracy']}%, "
          f"urgent recall {u['recall'] if u['recall'] is not None else 'n/a'}%")
    return 0
