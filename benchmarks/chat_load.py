"""Load benchmark of the chat service on loopback: cold start to ready, then a bounded mixed load.

Starts `python -m assistant serve` on 127.0.0.1 (a free port, its own data dir copy of the index),
measures the time until /readyz is green, then runs N concurrent simulated citizens for a fixed
duration: knowledge questions, a hand-off + call-back dialogue, greetings and bad input. Reports
turns/s, error rate, latency p50/p95/p99 per kind and the server's RSS before/after (leak check).
Only 127.0.0.1 is contacted; the run stops by itself.

    .venv/bin/python benchmarks/chat_load.py --concurrency 8 --seconds 60 [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [json.loads(line)["q"]
             for f in (ROOT.parent / "shared/dev-eval/qa.jsonl", ROOT / "eval/data/qa_heldout.jsonl") if f.exists()
             for line in f.read_text("utf-8").splitlines() if line.strip()] or ["보이스봇 운영 시간은?"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    """RSS of a process and its children (uvicorn workers)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


async def citizen(client: httpx.AsyncClient, stop: float, lat: dict[str, list[float]], errors: list[str],
                  rng: random.Random) -> None:
    while time.perf_counter() < stop:
        kind = rng.choices(["question", "dialogue", "greeting", "bad"], weights=[70, 15, 10, 5])[0]
        if kind == "dialogue":
            script = ["상담원 연결해 주세요", "콜백 요청", "네", "010-1234-5678", "건너뛰기", "건너뛰기", "취소"]
        elif kind == "question":
            script = [rng.choice(QUESTIONS), "그럼 기간은 언제예요?"]
        elif kind == "greeting":
            script = ["안녕하세요", "감사합니다"]
        else:
            script = ["", "가" * 1500]
        sid = None
        for text in script:
            t0 = time.perf_counter()
            try:
                r = await client.post("/api/chat", json={"session_id": sid, "message": text})
                ok = r.status_code == 200
                if ok:
                    sid = r.json()["session_id"]
                else:
                    errors.append(f"{r.status_code} {kind}")
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__} {kind}")
            lat.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, max(0, round(p * len(s)) - 1))], 1) if s else 0.0


async def load(base: str, concurrency: int, seconds: float) -> dict[str, object]:
    lat: dict[str, list[float]] = {}
    errors: list[str] = []
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(citizen(client, stop, lat, errors, random.Random(i)) for i in range(concurrency)))
        elapsed = time.perf_counter() - t0
    turns = sum(len(v) for v in lat.values())
    return {"turns": turns, "seconds": round(elapsed, 1), "turns_per_s": round(turns / elapsed, 1),
            "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
            "latency_ms": {k: {"n": len(v), "p50": round(statistics.median(v), 1), "p95": pct(v, 0.95),
                               "p99": pct(v, 0.99)} for k, v in sorted(lat.items())}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn workers (uses Redis for shared state)")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    ap.add_argument("--no-cache", action="store_true", help="disable the question-embedding cache")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="nyj-load-"))
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data), "ASSISTANT_LOG_LEVEL": "WARNING",
           "ASSISTANT_CHAT__RATE_PER_S": "1000", "ASSISTANT_CHAT__BURST": "1000"}
    if args.workers > 1:
        env["ASSISTANT_REDIS_URL"] = args.redis
    if args.no_cache:
        env["ASSISTANT_KNOWLEDGE__QUERY_CACHE_SIZE"] = "0"
    subprocess.run([sys.executable, "-m", "assistant", "index"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port),
                             "--workers", str(args.workers)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready_s = None
        while time.perf_counter() - t0 < 120:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    ready_s = time.perf_counter() - t0
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        if ready_s is None:
            print("server did not become ready", file=sys.stderr)
            return 1
        rss_start = rss_kb(proc.pid)
        warm = asyncio.run(load(base, args.concurrency, min(10.0, args.seconds / 4)))
        rss_warm = rss_kb(proc.pid)
        result = asyncio.run(load(base, args.concurrency, args.seconds))
        rss_end = rss_kb(proc.pid)
        out = {"concurrency": args.concurrency, "workers": args.workers, "query_cache": not args.no_cache, "cold_start_to_ready_s": round(ready_s, 2),
               "rss_mb": {"ready": round(rss_start / 1024), "after_warmup": round(rss_warm / 1024),
                          "after_run": round(rss_end / 1024)},
               "warmup_turns": warm["turns"], **result}
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(data, ignore_errors=True)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
