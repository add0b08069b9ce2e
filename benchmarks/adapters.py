"""Latency of the live_data tools (bus arrivals through GBIS) with the backend healthy, slow and down,
and the cache hit rate of a realistic question mix.

A scripted GBIS v2 server runs on 127.0.0.1 (a free port) and answers the real response shapes; the
tools run exactly as in the service (``assistant.factory.live_tools_from`` with
``ASSISTANT_TRAFFIC__PROVIDER=gbis`` pointed at it). Scenarios:
- healthy: the backend answers in ~``--rtt-ms``; questions over a few stops, repeated like real traffic;
- slow: every answer takes 5 s (past the 3 s deadline): the citizen must still get an answer in < 3 s;
- down: connection refused (nothing listens on the port): fallback in a few milliseconds, and after the
  circuit opens no request is even sent.
Only 127.0.0.1 is contacted; the run stops by itself (~30 s).

    .venv/bin/python benchmarks/adapters.py [--questions 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from assistant.dialogue.tools import LiveTools
from assistant.factory import live_tools_from
from assistant.settings import Settings, TrafficSettings

STOPS = {"별내역": "228000701", "평내호평역": "228000711", "다산역": "228000721", "진접역": "228000731",
         "남양주시청": "228000741"}
ROUTES = ["1", "165", "1100", "1200", "202", "30"]


def station_list(keyword: str) -> dict[str, Any]:
    sid = STOPS.get(keyword)
    body = {"busStationList": [{"centerYn": "N", "mobileNo": " 14100", "regionName": "남양주",
                                "stationId": int(sid), "stationName": keyword, "x": 127.1, "y": 37.6}]} if sid else {}
    code = 0 if sid else 4
    return {"response": {"comMsgHeader": "", "msgHeader": {"queryTime": time.strftime("%Y-%m-%d %H:%M:%S.000"),
                                                          "resultCode": code, "resultMessage": ""}, "msgBody": body}}


def arrivals(station: str) -> dict[str, Any]:
    rnd = random.Random(station)
    items = [{"flag": "PASS", "locationNo1": rnd.randint(1, 9), "locationNo2": "", "lowPlate1": 0,
              "predictTime1": rnd.randint(1, 25), "predictTime2": "", "predictTimeSec1": 300,
              "predictTimeSec2": "", "remainSeatCnt1": -1, "routeDestName": "도농역",
              "routeId": 228000100 + i, "routeName": r, "staOrder": 5, "stationId": int(station)}
             for i, r in enumerate(ROUTES)]
    return {"response": {"comMsgHeader": "", "msgHeader": {"queryTime": time.strftime("%Y-%m-%d %H:%M:%S.000"),
                                                          "resultCode": 0, "resultMessage": ""},
                         "msgBody": {"busArrivalList": items}}}


class Backend:
    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                parts = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                time.sleep(outer.delay_s)
                data = (station_list(q.get("keyword", "")) if "Station" in parts.path
                        else arrivals(q.get("stationId", "0")))
                raw = json.dumps(data, ensure_ascii=False).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def questions(n: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    names = list(STOPS)
    return [f"{rnd.choice(ROUTES)}번 버스 {rnd.choice(names)} 정류장에 언제 와요?" for _ in range(n)]


def tools_for(url: str, cache_ttl_s: float = 20.0) -> LiveTools:
    settings = Settings(traffic=TrafficSettings(provider="gbis", base_url=url, api_key="bench",
                                                cache_ttl_s=cache_ttl_s))
    return live_tools_from(settings)


def run(tools: LiveTools, qs: list[str], pace_s: float = 0.0) -> dict[str, Any]:
    times, ok = [], 0
    for q in qs:
        state: dict[str, Any] = {}
        t0 = time.perf_counter()
        reply = tools.run(tools.kind(q, state), q, state)
        times.append((time.perf_counter() - t0) * 1000)
        ok += reply.ok
        if pace_s:
            time.sleep(pace_s)
    times.sort()
    return {"n": len(qs), "answered_with_data": ok, "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1), "max_ms": round(times[-1], 1)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--rtt-ms", type=float, default=80.0, help="simulated GBIS response time")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out: dict[str, Any] = {}

    healthy = Backend(args.rtt_ms / 1000)
    tools = tools_for(healthy.url)
    qs = questions(args.questions)
    out["healthy_cached"] = run(tools, qs, pace_s=0.02)
    client = tools.traffic.client  # type: ignore[union-attr]
    out["healthy_cached"].update(cache_hit_rate=round(client.cache.hit_rate, 3), requests=healthy.requests)
    nocache = tools_for(healthy.url, cache_ttl_s=0)
    before = healthy.requests
    out["healthy_uncached"] = run(nocache, qs[:40])
    out["healthy_uncached"]["requests"] = healthy.requests - before
    healthy.stop()

    slow = Backend(5.0)
    out["slow_5s"] = run(tools_for(slow.url), qs[:8])
    slow.stop()

    down_tools = tools_for(f"http://127.0.0.1:{free_port()}")
    out["down_refused"] = run(down_tools, qs[:40])
    out["down_refused"]["circuit"] = down_tools.traffic.client.breaker.state  # type: ignore[union-attr]

    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    for name, r in out.items():
        print(f"{name:18} " + "  ".join(f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
