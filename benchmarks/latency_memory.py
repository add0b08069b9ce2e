"""Latency and memory of the service stack: ``.venv/bin/python benchmarks/latency_memory.py [--json]``.

Owns the deployment-side measurements, taken the way ``python -m assistant ask`` runs (settings
from ``ASSISTANT_*``, ``assistant.factory.embedder_from`` / ``load_index`` / ``answerer_from``;
``ASSISTANT_DATA_DIR`` is honoured, and a missing index there is built first, as ``ask`` does):

- resident memory (``VmRSS`` from ``/proc/self/status``) before loading, after loading, after the
  first answer (the Kiwi model loads lazily then), after all answers, and the serving peak (``VmHWM``);
- warm ``answer()`` latency p50 / p95 / max over the dev questions repeated ``--repeat`` times.
  The service keeps recent question embeddings (``ASSISTANT_KNOWLEDGE__QUERY_CACHE_SIZE``), so
  repeats after the first pass are cache hits; ``--no-cache`` turns that cache off to time the
  full path (question embedding included) on every call;
- index build time of the bundled corpus from scratch in a fresh temporary data folder, and the
  incremental rebuild (second run there: every embedding reused from ``embcache.npz``). This runs
  last, in the same process, so it does not inflate the serving peak.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "dev-eval" / "qa.jsonl"


def proc_status_mb(field: str) -> float:
    """A ``kB`` field of ``/proc/self/status`` (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def serve_measurements(questions: list[str], repeat: int) -> dict[str, Any]:
    rss_start = proc_status_mb("VmRSS")
    from assistant.factory import answerer_from, embedder_from, load_index
    from assistant.settings import get_settings

    settings = get_settings()
    rss_imported = proc_status_mb("VmRSS")
    had_index = (settings.data_dir / "index" / "manifest.json").exists()
    t = time.perf_counter()
    embedder = embedder_from(settings)
    index = load_index(settings, embedder, build_if_missing=True)
    answerer = answerer_from(settings, index, embedder)
    load_s = time.perf_counter() - t
    rss_loaded = proc_status_mb("VmRSS")
    t = time.perf_counter()
    answerer.answer("워밍업 질문입니다")  # the Kiwi model loads lazily, on the first question
    first_ms = 1000.0 * (time.perf_counter() - t)
    rss_first = proc_status_mb("VmRSS")
    lat: list[float] = []
    for _ in range(repeat):
        for q in questions:
            t = time.perf_counter()
            answerer.answer(q)
            lat.append(1000.0 * (time.perf_counter() - t))
    return {
        "data_dir": str(settings.data_dir.resolve()), "index_existed": had_index,
        "embedder": index.embedder_id, "chunks": len(index.chunks), "load_s": round(load_s, 2),
        "first_answer_ms": round(first_ms, 1), "answers": len(lat), "latency_ms": {
            "p50": round(statistics.median(lat), 1), "p95": round(percentile(lat, 0.95), 1),
            "max": round(max(lat), 1), "mean": round(statistics.fmean(lat), 1)},
        "rss_mb": {"start": rss_start, "after_imports": rss_imported, "after_load": rss_loaded,
                   "after_first_answer": rss_first, "after_answers": proc_status_mb("VmRSS"),
                   "peak_serving": proc_status_mb("VmHWM")},
    }


def build_measurements() -> dict[str, Any]:
    from assistant.factory import embedder_from
    from assistant.settings import get_settings
    from knowledge.pipeline import build_index

    settings = get_settings()
    embedder = embedder_from(settings)
    out: dict[str, Any] = {"corpus": str(settings.knowledge.corpus_dir)}
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        for run in ("scratch", "incremental"):
            t = time.perf_counter()
            _, report, _ = build_index(settings.knowledge.corpus_dir, Path(tmp), embedder)
            out[run] = {"seconds": round(time.perf_counter() - t, 2), "chunks": report.chunks,
                        "embedded": report.embedded, "reused": report.reused}
    out["peak_rss_mb_after_build"] = proc_status_mb("VmHWM")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="service latency, memory and index build time")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--repeat", type=int, default=10, help="passes over the dev questions")
    ap.add_argument("--no-cache", action="store_true", help="turn the question-embedding cache off")
    args = ap.parse_args(argv)
    if args.no_cache:
        os.environ["ASSISTANT_KNOWLEDGE__QUERY_CACHE_SIZE"] = "0"  # read by get_settings()
    questions = [json.loads(x)["q"] for x in DEV.read_text("utf-8").splitlines() if x.strip()]
    load_before = os.getloadavg()[0]  # other jobs on the machine skew every latency figure
    result: dict[str, Any] = {"serve": serve_measurements(questions, args.repeat),
                              "build": build_measurements()}
    result["loadavg_1min"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    result["query_cache"] = not args.no_cache
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    s, b = result["serve"], result["build"]
    lat, rss = s["latency_ms"], s["rss_mb"]
    print(f"stack: {s['embedder']}, {s['chunks']} chunks, data dir {s['data_dir']} "
          f"(index {'loaded' if s['index_existed'] else 'built then loaded'} in {s['load_s']} s; "
          f"first answer {s['first_answer_ms']} ms)")
    print(f"answer() warm latency over {s['answers']} calls "
          f"(question cache {'on' if result['query_cache'] else 'off'}): p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
          f"max {lat['max']} ms, mean {lat['mean']} ms")
    print(f"RSS MB: start {rss['start']}, after imports {rss['after_imports']}, after load "
          f"{rss['after_load']}, after 1st answer {rss['after_first_answer']}, "
          f"after answers {rss['after_answers']}, peak {rss['peak_serving']}")
    for run in ("scratch", "incremental"):
        r = b[run]
        print(f"index build ({run}): {r['seconds']} s, {r['chunks']} chunks, "
              f"{r['embedded']} embedded, {r['reused']} reused")
    print(f"peak RSS after builds: {b['peak_rss_mb_after_build']} MB; 1-min load average "
          f"{result['loadavg_1min']['before']} before, {result['loadavg_1min']['after']} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
