"""Call-back worker and Twilio SMS against a real local fake Twilio server."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from assistant.complaints.callbacks import CallbackWorker
from assistant.complaints.store import ComplaintStore, NewComplaint
from assistant.hours import SEOUL
from assistant.notify import NotifyError, TwilioSmsSender, to_e164
from assistant.storage import Database

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SEOUL)


class FakeTwilio:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_next = 0
        app = FastAPI()

        @app.post("/2010-04-01/Accounts/{sid}/Messages.json")
        async def messages(sid: str, request: Request) -> JSONResponse:
            form = dict(await request.form())
            if self.fail_next:
                self.fail_next -= 1
                return JSONResponse({"message": "busy"}, status_code=503)
            if request.headers.get("authorization", "")[:6] != "Basic ":
                return JSONResponse({"message": "auth"}, status_code=401)
            self.sent.append({"sid": sid, **form})
            return JSONResponse({"sid": f"SM{len(self.sent):032d}", "status": "queued"}, status_code=201)

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)


@pytest.fixture()
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    fake.thread.start()
    while not fake.server.started:
        time.sleep(0.02)
    yield fake
    fake.server.should_exit = True
    fake.thread.join(5)


@pytest.fixture()
def store(tmp_path: Path) -> ComplaintStore:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    db.create_schema()
    return ComplaintStore(db)


def complaint(store: ComplaintStore, phone: str, address: str) -> str:
    return store.file(NewComplaint(description="가로등 고장", category="도로·시설 보수",
                                   department="시민시장담당관", team="바로처리팀", address=address,
                                   phone=phone), now=NOW).complaint["id"]


def test_e164() -> None:
    assert to_e164("010-1234-5678") == "+821012345678"
    assert to_e164("031-590-1234") == "+82315901234"
    with pytest.raises(NotifyError):
        to_e164("12")


def test_satisfaction_sms_after_completion_and_agent_queue(twilio: FakeTwilio, store: ComplaintStore) -> None:
    sms = TwilioSmsSender("AC123", "token", "+82315550000", base_url=twilio.url)
    with_phone = complaint(store, "010-1234-5678", "다산로 1")
    no_phone = complaint(store, "", "다산로 2")
    for cid in (with_phone, no_phone):
        store.change(cid, "agent", status="처리완료", note="교체 완료", now=NOW)
    worker = CallbackWorker(store, sms, name="w1")
    counts = worker.run_once(now=NOW + dt.timedelta(days=2))
    assert counts["sms"] == 1 and counts["agent"] >= 1
    [msg] = twilio.sent
    assert msg["To"] == "+821012345678" and msg["From"] == "+82315550000" and with_phone in msg["Body"]
    statuses = {j["kind"] + ":" + j["complaint_id"]: j["status"] for j in store.jobs()}
    assert statuses[f"satisfaction:{with_phone}"] == "done"
    assert statuses[f"satisfaction:{no_phone}"] == "agent"
    assert worker.run_once(now=NOW + dt.timedelta(days=2)) == {"sms": 0, "agent": 0, "skipped": 0, "failed": 0}


def test_transient_sms_failure_is_retried(twilio: FakeTwilio, store: ComplaintStore) -> None:
    sms = TwilioSmsSender("AC123", "token", "+82315550000", base_url=twilio.url)
    cid = complaint(store, "010-2222-3333", "다산로 3")
    store.change(cid, "agent", status="처리완료", now=NOW)
    twilio.fail_next = 1
    worker = CallbackWorker(store, sms, name="w1", retry_in=dt.timedelta(seconds=0))
    assert worker.run_once(now=NOW + dt.timedelta(days=2))["failed"] == 1
    assert worker.run_once(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))["sms"] == 1
    assert len(twilio.sent) == 1


def test_delayed_complaints_go_to_agents_and_closed_ones_are_skipped(store: ComplaintStore) -> None:
    open_id = complaint(store, "010-1111-2222", "다산로 4")
    done_id = complaint(store, "010-1111-3333", "다산로 5")
    store.change(done_id, "agent", status="처리완료", now=NOW)
    counts = CallbackWorker(store, None).run_once(now=NOW + dt.timedelta(days=6))
    assert counts["agent"] >= 1 and counts["skipped"] == 1
    pending = [j for j in store.jobs(open_id) if j["kind"] == "pending"]
    assert pending[0]["status"] == "agent"


def test_unreachable_provider_is_a_transient_error() -> None:
    sms = TwilioSmsSender("AC1", "t", "+8231", base_url="http://127.0.0.1:1", timeout_s=0.5)
    with pytest.raises(NotifyError) as exc:
        sms.send("010-1234-5678", "x")
    assert exc.value.transient
