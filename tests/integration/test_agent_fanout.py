"""Agent-console fan-out across two real app processes (uvicorn subprocesses) sharing Redis and
PostgreSQL: a Twilio both_tracks fork streams the Korean fixture into process A, the agent console on
process B (logged in on B) receives the live transcript, the intent, a suggestion and the summary, and
B lists the call; a form submitted on B lands in the shared complaint store. Real Whisper base (the
subprocesses cannot take a scripted STT), hashing embedder over the mini corpus (fast start)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from assistant.auth import hash_password
from channels.net import stream_token
from tests.conftest import ROOT
from voice.audio import STT_RATE, TELEPHONY_RATE, float_to_mulaw, read_wav, resample

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIXTURE = ROOT / "tests" / "fixtures" / "audio" / "ko_sample_leopard.wav"
SECRET = "fanout-twilio-token"
CALL_SID = "CA00000000000000000000000000fa0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def two_apps(tmp_path: Path, mini_corpus: Path, redis_url: str, pg_url: str) -> Iterator[tuple[str, str]]:
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path / "data"), "ASSISTANT_DATABASE_URL": pg_url,
           "ASSISTANT_REDIS_URL": redis_url, "ASSISTANT_KNOWLEDGE__EMBEDDER": "hashing",
           "ASSISTANT_KNOWLEDGE__CORPUS_DIR": str(mini_corpus), "ASSISTANT_LOG_LEVEL": "WARNING",
           "ASSISTANT_AGENT__USERS": json.dumps({"kim": hash_password("pw", iterations=1000)}),
           "ASSISTANT_AGENT__SECRET_KEY": "shared-console-key-" + "x" * 16,
           "ASSISTANT_TWILIO__AUTH_TOKEN": SECRET, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    # build the index once, so the two workers only load it
    subprocess.run([sys.executable, "-m", "assistant", "index", "--corpus", str(mini_corpus)], env=env,
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(2):
            port = free_port()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "channels.app:create_app", "--factory", "--host", "127.0.0.1",
                 "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 300
        for proc, url in zip(procs, urls, strict=True):
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"app process died: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
                try:
                    if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("app process not ready")
                time.sleep(0.5)
        yield urls[0], urls[1]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_call_on_one_process_console_on_the_other(two_apps: tuple[str, str]) -> None:
    a, b = two_apps
    console = httpx.Client(base_url=b, follow_redirects=False, timeout=10)
    assert console.post("/agent/login", data={"username": "kim", "password": "pw"}).status_code == 303
    cookie = {"Cookie": f"nyj_agent={console.cookies['nyj_agent']}"}
    speech = float_to_mulaw(resample(read_wav(FIXTURE), STT_RATE, TELEPHONY_RATE))
    silence = b"\xff" * TELEPHONY_RATE
    inbound = silence[:4000] + speech + silence * 2

    async def main() -> list[dict[str, Any]]:
        async with connect(a.replace("http", "ws") + "/twilio/media") as tw:
            await tw.send(json.dumps({"event": "start", "streamSid": "MZfan", "start": {
                "streamSid": "MZfan", "callSid": CALL_SID, "tracks": ["inbound", "outbound"],
                "customParameters": {"token": stream_token(SECRET, CALL_SID), "mode": "agent",
                                     "caller": "+821012345678"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
            for _ in range(600):  # the call appears in the shared registry (seen from B)
                calls = console.get("/agent/api/calls").json()["calls"]
                if any(c["call_id"] == CALL_SID for c in calls):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("call never listed on B")
            async with connect(b.replace("http", "ws") + f"/agent/calls/{CALL_SID}", additional_headers=cookie) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert hello["type"] == "hello" and hello["call"]["agent"] == "kim"
                for i in range(0, len(inbound), 160):
                    for track in ("inbound", "outbound"):
                        payload = inbound[i:i + 160] if track == "inbound" else silence[:160]
                        await tw.send(json.dumps({"event": "media", "streamSid": "MZfan", "media": {
                            "track": track, "payload": base64.b64encode(payload).decode()}}))
                    if i % 1600 == 0:
                        await asyncio.sleep(0.01)
                msgs: list[dict[str, Any]] = []
                while not any(m["type"] == "suggestion" for m in msgs):
                    msgs.append(json.loads(await asyncio.wait_for(ws.recv(), 180)))
                form = next((m for m in msgs if m["type"] == "form"), None)
                if form is None:
                    while form is None:
                        m = json.loads(await asyncio.wait_for(ws.recv(), 60))
                        msgs.append(m)
                        form = m if m["type"] == "form" else None
                r = await asyncio.to_thread(
                    console.post, f"/agent/api/calls/{CALL_SID}/complaint",
                    json={**form["form"], "description": "길에서 피하면서 걸어갔다는 신고", "team": "바로처리팀"},
                    headers={"X-CSRF-Token": csrf(console)})
                assert r.status_code == 201, r.text
                await tw.send(json.dumps({"event": "stop", "streamSid": "MZfan"}))
                while not (msgs[-1]["type"] == "status" and msgs[-1]["status"] == "ended"):
                    msgs.append(json.loads(await asyncio.wait_for(ws.recv(), 120)))
                return msgs

    msgs = asyncio.run(main())
    finals = [m for m in msgs if m["type"] == "transcript" and m["kind"] == "final"]
    assert finals and all(m["speaker"] == "caller" for m in finals)
    assert "피하면서" in " ".join(f["text"] for f in finals)
    assert any(m["type"] == "intent" for m in msgs)
    submitted = next(m for m in msgs if m["type"] == "form_submitted")["complaint"]
    assert submitted["team"] == "바로처리팀"
    summary = next(m for m in msgs if m["type"] == "summary")["summary"]
    assert summary["caller_turns"] == len(finals) and summary["complaint_id"] == submitted["id"]
    listed = next(c for c in console.get("/agent/api/calls").json()["calls"] if c["call_id"] == CALL_SID)
    assert listed["status"] == "ended" and listed["caller"] == "010-****-5678"


def csrf(client: httpx.Client) -> str:
    import re

    m = re.search(r'name="csrf-token" content="([0-9a-f]+)"', client.get("/agent").text)
    assert m
    return m.group(1)
