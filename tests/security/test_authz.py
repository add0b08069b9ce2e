"""Authorisation checklist on the fully assembled app (``create_app``, every guard on): staff and agent
pages need a login, state-changing POSTs need the CSRF token, a citizen cannot read another
citizen's complaint or contact data (IDOR), Twilio webhooks and media streams need Twilio's
signature / our token, Open311 POST needs an API key, and floods get 429 with ``Retry-After``.
Deeper cases of each point live in tests/channels/* (listed in docs/security.md); this file is the
one-page proof that the production wiring keeps them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from twilio.request_validator import RequestValidator

from assistant.auth import sign_session
from assistant.settings import ChatSettings
from channels import admin as admin_module
from channels import agent_console as agent_module
from channels.app import create_app
from tests.security.conftest import (
    ADMIN_PASSWORD,
    ADMIN_TOKEN,
    ADMIN_USER,
    OPEN311_KEY,
    PUBLIC_BASE,
    TWILIO_TOKEN,
    security_settings,
    write_corpus,
)

CALL = {"CallSid": "CAsecurity01", "From": "+821012345678", "To": "+82315900000"}


@pytest.fixture(autouse=True)
def _fast_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin_module, "FAIL_DELAY_S", 0.0)
    monkeypatch.setattr(agent_module, "FAIL_DELAY_S", 0.0)


@pytest.fixture()
def client(app_client: TestClient) -> TestClient:
    return app_client


def staff(client: TestClient) -> str:
    """Log in to /admin; the CSRF token of the session."""
    r = client.post("/admin/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/admin").text
    token = re.search(r'name="nyj-csrf" content="([0-9a-f]+)"', page)
    assert token, page[:500]
    return token.group(1)


def file_by_chat(client: TestClient, phone: str) -> str:
    sid = None
    r: dict[str, object] = {}
    for text in ("집 앞 가로등이 고장나서 밤에 너무 어두워요", "별내동 별내3로 308 앞", "건너뛰기", "네", phone, "네"):
        r = client.post("/api/chat", json={"session_id": sid, "message": text}).json()
        sid = str(r["session_id"])
    complaint = r.get("complaint")
    assert isinstance(complaint, dict), r
    return str(complaint["id"])


# --- staff dashboard and exports ------------------------------------------------------------------
ADMIN_GETS = ["/admin/api/complaints", "/admin/api/summary", "/admin/api/series", "/admin/api/complaints.csv",
              "/admin/api/complaints/NYJ-20260101-0001", "/admin/media/" + "0" * 32, "/admin/admin.js"]


def test_admin_needs_login(client: TestClient) -> None:
    r = client.get("/admin", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    for path in ADMIN_GETS:
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.json()["message"] == "로그인이 필요합니다."
    assert client.post("/admin/api/complaints/NYJ-20260101-0001/change", json={"expected_version": 1,
                                                                          "note": "x"}).status_code == 401
    # a session cookie signed with another key, or for a user that does not exist, is worthless
    for forged in (sign_session(ADMIN_USER, b"another-key", 8), sign_session("mallory", b"security-suite-key", 8)):
        client.cookies.set("nyj_admin", forged, path="/admin")
        assert client.get("/admin/api/summary").status_code == 401
    client.cookies.clear()


def test_admin_posts_need_the_csrf_token(client: TestClient) -> None:
    cid = file_by_chat(client, "010-1234-5678")
    csrf = staff(client)
    url = f"/admin/api/complaints/{cid}/change"
    body = {"expected_version": 1, "status": "처리중"}
    assert client.post(url, json=body).status_code == 403
    assert client.post(url, json=body, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    ok = client.post(url, json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["complaint"]["status"] == "처리중"


def test_feedback_export_needs_the_bearer_token(client: TestClient) -> None:
    assert client.get("/admin/feedback.csv").status_code == 401
    assert client.get("/admin/feedback.csv", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/admin/feedback.csv", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200


def test_complaint_photos_are_staff_only(client: TestClient) -> None:
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15"
           b"\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
    media_id = client.post("/api/uploads", files={"file": ("p.png", png, "image/png")}).json()["media_id"]
    assert client.get(f"/admin/media/{media_id}").status_code == 401
    staff(client)
    assert client.get(f"/admin/media/{media_id}").status_code == 200


# --- agent console --------------------------------------------------------------------------------
def test_agent_console_needs_login_and_csrf(client: TestClient) -> None:
    r = client.get("/agent", follow_redirects=False)
    assert r.status_code in (303, 307) and r.headers["location"].startswith("/agent/login")
    for path in ("/agent/api/me", "/agent/api/calls", "/agent/agent.js"):
        assert client.get(path).status_code == 401, path
    assert client.post("/agent/api/calls").status_code == 401
    assert client.post("/agent/api/calls/CAx/complaint", json={}).status_code == 401
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/agent/calls/CAx") as ws:
        ws.receive_text()
    assert closed.value.code == 4401
    # a supervisor (admin account) logs in; POSTs still need the console's CSRF token
    r = client.post("/agent/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/agent/api/me").status_code == 200
    assert client.post("/agent/api/calls").status_code == 403


# --- citizens' complaints: no IDOR ----------------------------------------------------------------
def test_status_lookup_needs_the_phone_digits_given_at_intake(client: TestClient) -> None:
    cid = file_by_chat(client, "010-1234-5678")
    # someone else, knowing (or guessing) the receipt number, without the phone: nothing
    for guess in ("0000", "1234", "010-9999-8888"):
        r = client.post("/api/chat", json={"message": f"{cid} 처리 상황 알려주세요"}).json()
        r = client.post("/api/chat", json={"session_id": r["session_id"], "message": guess}).json()
        assert r.get("complaint") is None, guess
        assert "별내3로" not in r["reply"] and "5678" not in r["reply"]
    # the citizen with the last four digits sees the status, still not their own contact data
    r = client.post("/api/chat", json={"message": f"{cid} 처리 상황 알려주세요"}).json()
    r = client.post("/api/chat", json={"session_id": r["session_id"], "message": "5678"}).json()
    assert r["complaint"]["id"] == cid
    assert "010-1234-5678" not in str(r) and "phone" not in r["complaint"]


def test_open311_request_views_never_carry_contact_data(client: TestClient) -> None:
    form = {"api_key": OPEN311_KEY, "service_code": "other", "description": "가로등이 꺼졌어요",
            "address_string": "다산동 공원 입구", "phone": "010-2468-1357", "email": "yoon@example.com",
            "first_name": "서연", "last_name": "윤"}
    sid = client.post("/open311/v2/requests.json", data=form).json()[0]["service_request_id"]
    chat_id = file_by_chat(client, "010-1234-5678")
    for path in (f"/open311/v2/requests/{sid}.json", f"/open311/v2/requests/{sid}.xml",
                 f"/open311/v2/requests/{chat_id}.json", f"/open311/v2/requests.json?service_request_id={sid},{chat_id}",
                 "/open311/v2/requests.json", f"/open311/v2/tokens/{sid}.json"):
        body = client.get(path).text
        for secret in ("2468", "1357", "yoon@", "윤서연", "서연", "1234-5678", "별내3로 308"):
            assert secret not in body, (path, secret)


# --- Twilio ----------------------------------------------------------------------------------------
def test_twilio_webhooks_need_a_valid_signature(client: TestClient) -> None:
    for path in ("/twilio/voice", "/twilio/gather", "/twilio/dial-status"):
        assert client.post(path, data=CALL).status_code == 403, path
        assert client.post(path, data=CALL, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}).status_code == 403
        forged = RequestValidator("another-token").compute_signature(PUBLIC_BASE + path, CALL)
        assert client.post(path, data=CALL, headers={"X-Twilio-Signature": forged}).status_code == 403
    good = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + "/twilio/voice", CALL)
    r = client.post("/twilio/voice", data=CALL, headers={"X-Twilio-Signature": good})
    assert r.status_code == 200 and "<Response>" in r.text
    # the unauthenticated fallback only apologises and hangs up
    fallback = client.post("/twilio/fallback", data={**CALL, "SpeechResult": "민원 NYJ-20260101-0001 상태"})
    assert fallback.status_code == 200 and "<Hangup" in fallback.text and "<Gather" not in fallback.text


def test_media_stream_needs_the_token_of_a_signed_call(client: TestClient) -> None:
    start = {"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
             "start": {"streamSid": "MZ1", "callSid": CALL["CallSid"], "accountSid": "AC1", "tracks": ["inbound"],
                       "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                       "customParameters": {"token": "forged"}}}
    with client.websocket_connect("/twilio/media") as ws:
        ws.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        ws.send_json(start)
        with pytest.raises(WebSocketDisconnect):
            for _ in range(10):  # no greeting audio, the server closes
                message = ws.receive_json()
                assert message.get("event") != "media"


# --- Open311 keys ------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", [None, "", "wrong-key", OPEN311_KEY + "x"])
def test_open311_post_needs_a_valid_key(client: TestClient, key: str | None) -> None:
    form = {"service_code": "other", "description": "가로등이 꺼졌어요", "address_string": "다산동"}
    if key is not None:
        form["api_key"] = key
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 403 and r.json()[0]["code"] == 403
    assert client.post("/open311/v2/requests.json", data={**form, "api_key": OPEN311_KEY}).status_code == 200


# --- rate limits ---------------------------------------------------------------------------------------
@pytest.fixture()
def limited(tmp_path: Path) -> Iterator[TestClient]:
    settings = security_settings(tmp_path / "data", write_corpus(tmp_path / "corpus"),
                                 chat=ChatSettings(rate_per_s=0.01, burst=3))
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(("path", "kwargs"), [
    ("/api/chat", {"json": {"message": "안녕하세요"}}),
    ("/api/feedback", {"json": {"session_id": "s1", "message_id": "m1", "rating": "up"}}),
    ("/open311/v2/requests.json", {"data": {"api_key": OPEN311_KEY, "service_code": "other",
                                            "description": "가로등", "address_string": "다산동"}}),
    ("/open311/v2/requests.xml", {"data": {"api_key": "wrong"}}),
])
def test_floods_get_429_with_retry_after(limited: TestClient, path: str, kwargs: dict[str, object]) -> None:
    codes = [limited.post(path, **kwargs).status_code for _ in range(5)]  # type: ignore[arg-type]
    assert 429 not in codes[:3] and codes[3:] == [429, 429], codes
    r = limited.post(path, **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    if path.startswith("/open311/"):  # the spec's error shape for Open311 clients
        assert "요청이 많아" in r.text and ("<errors>" in r.text if path.endswith(".xml") else r.json()[0]["code"] == 429)
    else:
        assert r.json()["error"] == "rate_limited" and "잠시 후" in r.json()["message"]


def test_staff_and_agent_logins_lock_out_after_repeated_failures(client: TestClient) -> None:
    for login in ("/admin/login", "/agent/login"):
        codes = [client.post(login, data={"username": ADMIN_USER, "password": "guess"}).status_code
                 for _ in range(6)]
        assert codes == [401] * 5 + [429], (login, codes)
        assert client.post(login, data={"username": ADMIN_USER, "password": ADMIN_PASSWORD}).status_code == 429
