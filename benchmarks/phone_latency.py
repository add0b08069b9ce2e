"""Phone stream mode: end of caller speech -> first audio frame of the reply, on the real service.

Builds the real app in stream mode (real index, dialogue engine, Whisper base STT, espeak-ng TTS),
serves it on 127.0.0.1, and replays the real Korean fixture as Twilio Media Streams messages
(160-byte mu-law frames at real-time 20 ms pace, then line silence) over a real WebSocket, N times.
The end of speech is where the server's own VAD puts it; the figure includes the end-of-turn
silence (``ASSISTANT_VOICE__VAD_END_SILENCE_MS``, default 700 ms).

    .venv/bin/python benchmarks/phone_latency.py [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "fixtures" / "audio" / "ko_sample_leopard.wav"


def main() -> int:
    from pydantic import SecretStr
    from websockets.asyncio.client import connect

    from assistant.settings import Settings, TwilioSettings
    from channels.app import create_app
    from channels.net import stream_token
    from tests.servers import LocalServer
    from voice.audio import (
        TELEPHONY_RATE,
        EnergyVAD,
        float_to_mulaw,
        frames,
        mulaw_to_float,
        read_wav,
        resample,
    )

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="nyj-phone-")),
                        twilio=TwilioSettings(voice_mode="stream", auth_token=SecretStr("bench")))
    end_ms = settings.voice.vad_end_silence_ms
    mulaw = float_to_mulaw(resample(read_wav(FIXTURE), 16000, TELEPHONY_RATE))
    vad = EnergyVAD(TELEPHONY_RATE, threshold_db=settings.voice.vad_threshold_db, end_silence_ms=end_ms)
    speech_end_s = [e.time_s for e in vad.feed(mulaw_to_float(mulaw + b"\xff" * 16000)) if e.kind == "end"][-1]

    async def call(url: str, n: int) -> float:
        sid, call_sid = f"MZ{n:032d}", f"CA{n:032d}"
        async with connect(url, max_size=None) as ws:
            await ws.send(json.dumps({"event": "connected"}))
            await ws.send(json.dumps({"event": "start", "streamSid": sid, "start": {
                "streamSid": sid, "callSid": call_sid, "customParameters": {"token": stream_token("bench", call_sid)},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))

            async def drain_greeting() -> None:
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if msg.get("event") == "mark":
                        await ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": msg["mark"]}))
                        return

            await drain_greeting()
            sent: list[float] = []
            done = asyncio.Event()

            async def talk() -> None:
                t0 = time.monotonic()
                for i, frame in enumerate(list(frames(mulaw, 160, pad=b"\xff")) + [b"\xff" * 160] * 1500):
                    if done.is_set():
                        return
                    await ws.send(json.dumps({"event": "media", "streamSid": sid, "media": {
                        "track": "inbound", "payload": __import__("base64").b64encode(frame).decode()}}))
                    sent.append(time.monotonic())
                    await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.02 - time.monotonic()))

            talker = asyncio.create_task(talk())
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg.get("event") == "media":
                    first = time.monotonic()
                    break
            done.set()
            await talker
            return first - sent[int(speech_end_s / 0.02)]

    app = create_app(settings)
    with LocalServer(app, lifespan="on") as server:
        url = server.url.replace("http://", "ws://") + "/twilio/media"
        latencies = [asyncio.run(call(url, n)) * 1000 for n in range(args.runs)]
    out = {"runs": args.runs, "end_of_turn_silence_ms": end_ms,
           "speech_end_to_first_reply_frame_ms": {"p50": round(statistics.median(latencies)),
                                                  "min": round(min(latencies)), "max": round(max(latencies))},
           "all_ms": [round(x) for x in latencies]}
    print(json.dumps(out, ensure_ascii=False) if args.json else json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
