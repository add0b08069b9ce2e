"""Personal data never leaves in clear: the case set ``eval/data/pii_cases.jsonl`` (Korean RRNs before and
after the October 2020 reform, phone numbers in every common spelling incl. full-width and spoken digits,
account numbers near bank words, road/lot/flat addresses, e-mails, cards) is pushed through every place
that keeps or exports text — ``mask_pii`` itself, the JSON logs of real chat and phone turns, stored
complaints with the staff CSV export, dashboard JSON and the public Open311 feed, the feedback CSV and
the stored agent-call transcript — and must be 100 % masked there, while the negatives (dates,
receipt numbers, bus routes, amounts, years, business numbers) are never touched."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant import pii
from assistant.calls.registry import CallRecord
from assistant.calls.transcript import TranscriptStore
from assistant.settings import TwilioSettings
from assistant.storage import Database
from channels.app import create_app
from tests.security.conftest import (
    ADMIN_PASSWORD,
    ADMIN_TOKEN,
    ADMIN_USER,
    OPEN311_KEY,
    security_settings,
    write_corpus,
)

CASES_FILE = Path(__file__).resolve().parents[2] / "eval" / "data" / "pii_cases.jsonl"
CASES: list[dict[str, Any]] = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines()
                               if line.strip()]
POSITIVE = [c for c in CASES if c["pii"]]
NEGATIVE = [c for c in CASES if not c["pii"]]
TOKENS = {"rrn": pii.RRN_TOKEN, "phone": pii.PHONE_TOKEN, "account": pii.ACCOUNT_TOKEN,
          "address": pii.ADDRESS_TOKEN, "email": pii.EMAIL_TOKEN, "card": pii.CARD_TOKEN}


def _digits(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isdigit())


_NUMBER_RUN = re.compile(r"[0-9](?:[0-9 ()+.\-–]*[0-9])?")


def leaks(text: str, cases: list[dict[str, Any]] = POSITIVE) -> list[str]:
    """The secrets of ``cases`` still readable in ``text``: as written, or as the same digits inside
    one number however it is punctuated (``010 1234 5678`` found as ``01012345678``)."""
    folded = unicodedata.normalize("NFKC", text)
    runs = [_digits(m[0]) for m in _NUMBER_RUN.finditer(folded)]
    found = []
    for case in cases:
        for secret in case["pii"]:
            digits = _digits(secret)
            if unicodedata.normalize("NFKC", secret) in folded or (
                    len(digits) >= 7 and any(digits in run for run in runs)):
                found.append(f"{case['id']}: {secret}")
    return found


def test_case_set_is_large_and_covers_every_kind() -> None:
    kinds = {c["kind"] for c in POSITIVE}
    assert kinds == set(TOKENS)
    assert len(POSITIVE) >= 80 and len(NEGATIVE) >= 50
    for kind in ("rrn", "phone", "account", "address"):
        assert sum(c["kind"] == kind for c in POSITIVE) >= 15


@pytest.mark.parametrize("case", POSITIVE, ids=[c["id"] for c in POSITIVE])
def test_mask_pii_masks_every_positive(case: dict[str, Any]) -> None:
    masked = pii.mask_pii(case["text"])
    assert not leaks(masked, [case]), masked
    assert TOKENS[case["kind"]] in masked, masked
    assert pii.mask_pii(masked) == masked  # idempotent


@pytest.mark.parametrize("case", NEGATIVE, ids=[c["id"] for c in NEGATIVE])
def test_mask_pii_leaves_every_negative(case: dict[str, Any]) -> None:
    assert pii.mask_pii(case["text"]) == case["text"]


# --- through the running app --------------------------------------------------------------------
@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = security_settings(tmp_path / "data", write_corpus(tmp_path / "corpus"), log_level="DEBUG",
                                 twilio=TwilioSettings(validate_signature=False))
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def staff_login(client: TestClient) -> None:
    r = client.post("/admin/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303


def test_logs_of_chat_and_phone_turns_are_masked(client: TestClient) -> None:
    import logging

    from assistant.logs import configure_logging

    # the app's own log handler (installed by create_app through configure_logging), redirected
    ours = [h for h in logging.getLogger().handlers if type(h).__module__ == configure_logging.__module__]
    assert len(ours) == 1
    buffer = io.StringIO()
    ours[0].setStream(buffer)  # type: ignore[attr-defined]
    for case in POSITIVE:
        assert client.post("/api/chat", json={"message": case["text"]}).status_code == 200
        assert client.post("/twilio/gather", data={"CallSid": "CA" + case["id"], "From": "+821099998888",
                                                   "SpeechResult": case["text"]}).status_code == 200
    # a whole complaint intake in chat, the phone number and address typed as citizens type them
    sid = None
    for text in ("가로등이 고장나서 밤에 너무 어두워요 제 번호 010-1234-5678", "별내동 별내3로 308 앞",
                 "건너뛰기", "네", "010-1234-5678", "네"):
        r = client.post("/api/chat", json={"session_id": sid, "message": text}).json()
        sid = r["session_id"]
    assert r.get("complaint"), r["reply"]
    logged = buffer.getvalue()
    assert '"logger": "channels.app"' in logged  # the JSON logs were captured
    assert not leaks(logged), leaks(logged)[:10]
    assert "010-1234-5678" not in logged and "별내3로 308" not in logged


def test_complaints_csv_dashboard_and_open311_feed_are_masked(client: TestClient) -> None:
    filed = []
    for case in POSITIVE:
        r = client.post("/open311/v2/requests.json", data={
            "api_key": OPEN311_KEY, "service_code": "other", "description": "가로등 고장 신고. " + case["text"],
            "address_string": case["text"][:300], "phone": "010-2468-1357", "email": "citizen@example.com",
            "first_name": "서연", "last_name": "윤"})
        assert r.status_code == 200, r.text
        filed.append(r.json()[0]["service_request_id"])
    staff_login(client)
    export = client.get("/admin/api/complaints.csv", params={"limit": 1000})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert len(rows) == len(POSITIVE) + 1
    assert not leaks(export.text), leaks(export.text)[:10]
    assert "010-2468-1357" not in export.text and "윤서연" not in export.text
    listing = client.get("/admin/api/complaints", params={"limit": 1000}).text
    assert not leaks(listing), leaks(listing)[:10]
    for cid in filed[:10]:
        detail = client.get(f"/admin/api/complaints/{cid}").json()["complaint"]
        assert not leaks(detail["description"]) and "2468-1357" not in json.dumps(detail, ensure_ascii=False)
    feed = client.get("/open311/v2/requests.json")
    assert "2468" not in feed.text and "citizen@example.com" not in feed.text and "윤서연" not in feed.text
    items = feed.json()
    assert len(items) == len(POSITIVE)
    descriptions = " ".join(item["description"] for item in items)
    assert not leaks(descriptions), leaks(descriptions)[:10]
    # an Open311 client's address_string is the problem's location, published as given (GeoReport),
    # but with any other personal data typed into it masked
    addresses = " ".join(item["address"] or "" for item in items)
    others = [c for c in POSITIVE if c["kind"] != "address"]
    assert not leaks(addresses, others), leaks(addresses, others)[:10]


def test_feedback_csv_is_masked(client: TestClient) -> None:
    for case in POSITIVE:
        r = client.post("/api/chat", json={"message": "가로등 교체 사업 예산이 얼마예요? " + case["text"]}).json()
        fb = client.post("/api/feedback", json={"session_id": r["session_id"], "message_id": r["message_id"],
                                                "rating": "down", "comment": "답이 틀려요. " + case["text"]})
        assert fb.status_code == 201 and fb.json() == {"stored": True}
    export = client.get("/admin/feedback.csv", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert len(rows) == len(POSITIVE) + 1
    assert not leaks(export.text), leaks(export.text)[:10]


def test_stored_call_transcripts_are_masked(tmp_path: Path) -> None:
    import datetime as dt

    db = Database(f"sqlite:///{tmp_path / 'calls.db'}")
    db.create_schema()
    store = TranscriptStore(db)
    for seq, case in enumerate(POSITIVE):
        store.add_segment("CA-pii", seq, "caller", float(seq), seq + 1.0, case["text"])
    record = CallRecord("CA-pii", "kim", "twilio", "ended", dt.datetime.now(dt.UTC), caller="010-****-8888")
    store.save_call(record, summary=" ".join(c["text"] for c in POSITIVE[:20]))
    stored = " ".join(s["text"] for s in store.segments("CA-pii")) + json.dumps(
        store.call("CA-pii"), ensure_ascii=False, default=str)
    assert len(store.segments("CA-pii")) == len(POSITIVE)
    assert not leaks(stored), leaks(stored)[:10]
    db.engine.dispose()
