"""Staff monitoring dashboard (/admin): login, CSRF, list/filters/counters, detail and audit trail,
status changes with optimistic locking, charts data, masked CSV — API tests with TestClient on an
app assembled here, plus a headless-Chromium run against a real uvicorn server."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.auth import hash_password, sign_session
from assistant.complaints.store import ComplaintStore, NewComplaint, complaints
from assistant.hours import SEOUL
from assistant.settings import AdminSettings, Settings
from assistant.storage import Database
from channels import admin as admin_module
from channels.admin import admin_router
from tests.servers import LocalServer, chromium_options

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SECRET = "test-secret-key"
PASSWORDS = {"kim": "kim-비밀번호-1", "lee": "lee-password-2"}


# --- fixtures ---------------------------------------------------------------------------------
def _new(**kw: Any) -> NewComplaint:
    base: dict[str, Any] = dict(description="민원 내용", category="도로·시설 보수", department="시민시장담당관",
                                team="현장기동팀", kind="생활불편", phone="010-1111-2222", name="시민")
    base.update(kw)
    return NewComplaint(**base)


def _set(store: ComplaintStore, cid: str, **values: Any) -> None:
    with store.db.engine.begin() as conn:
        conn.execute(complaints.update().where(complaints.c.id == cid).values(**values))


def seed(store: ComplaintStore) -> dict[str, str]:
    """Five complaints: overdue pothole (+ its repeat), urgent near-due streetlight, closed parking
    complaint, on-time dumping complaint. Returns their ids by nickname."""
    now = dt.datetime.now(dt.UTC)
    ids: dict[str, str] = {}
    ids["pothole"] = store.file(_new(
        description="별내동 도로에 포트홀이 크게 패였어요. 연락은 010-9876-5432로 주세요.",
        address="남양주시 별내3로 308 앞", phone="010-1234-5678", name="홍길동", email="hong@example.com",
        route_reason="도로 파손 → 현장기동팀"), now=now - dt.timedelta(days=20)).complaint["id"]
    ids["light"] = store.file(_new(
        description="가로등이 깜빡이다 꺼졌어요, 밤길이 위험해요", category="가로등·보안등", team="바로처리팀",
        urgent=True, address="진접읍 해밀예당1로 12", phone="01055556666"), now=now - dt.timedelta(hours=2)).complaint["id"]
    ids["parking"] = store.file(_new(
        description="상가 앞 불법 주정차", category="불법 주정차", team="민원콜센터팀", department="교통행정과",
        address="다산중앙로 50"), now=now - dt.timedelta(hours=10)).complaint["id"]
    ids["dump"] = store.file(_new(
        description="쓰레기 무단투기 <img src=x onerror=alert(1)> 계속돼요", category="쓰레기·청소",
        team="진심소통팀", address="화도읍 마석로 7"), now=now - dt.timedelta(days=3)).complaint["id"]
    ids["repeat"] = store.file(_new(
        description="포트홀 아직 그대로예요", address="남양주시 별내3로 308 앞", phone="010-1234-5678"),
        now=now - dt.timedelta(days=1)).complaint["id"]
    # deadlines pinned relative to the real clock (due_state is computed against it)
    _set(store, ids["pothole"], expected_at=now - dt.timedelta(days=2))
    _set(store, ids["light"], expected_at=now + dt.timedelta(hours=5))
    _set(store, ids["dump"], expected_at=now + dt.timedelta(days=6))
    _set(store, ids["repeat"], expected_at=now + dt.timedelta(days=6))
    store.change(ids["parking"], "system", status="처리완료", note="단속 완료", now=now)
    return ids


def make_settings(tmp_path: Path) -> Settings:
    users = {name: hash_password(pw, iterations=1000) for name, pw in PASSWORDS.items()}
    return Settings(data_dir=tmp_path / "data", admin=AdminSettings(users=users, secret_key=SECRET))


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[ComplaintStore]:
    db = Database(f"sqlite:///{tmp_path / 'admin.db'}")
    db.create_schema()
    yield ComplaintStore(db)
    db.engine.dispose()


@pytest.fixture()
def ids(store: ComplaintStore) -> dict[str, str]:
    return seed(store)


@pytest.fixture()
def state(store: ComplaintStore) -> dict[str, Any]:
    return {"complaints": store}


@pytest.fixture(autouse=True)
def _fast_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin_module, "FAIL_DELAY_S", 0.0)


def build_app(state: dict[str, Any], settings: Settings) -> FastAPI:
    app = FastAPI()
    app.include_router(admin_router(state, settings))
    return app


@pytest.fixture()
def app(state: dict[str, Any], tmp_path: Path) -> FastAPI:
    return build_app(state, make_settings(tmp_path))


@pytest.fixture()
def anon(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def login(client: TestClient, user: str = "kim") -> str:
    """Log in through the form; return the page's CSRF token."""
    r = client.post("/admin/login", data={"username": user, "password": PASSWORDS[user]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin"
    page = client.get("/admin")
    assert page.status_code == 200
    m = re.search(r'<meta name="nyj-csrf" content="([0-9a-f]{64})">', page.text)
    assert m, "the page carries the CSRF token"
    return m.group(1)


@pytest.fixture()
def staff(app: FastAPI) -> Iterator[tuple[TestClient, str]]:
    with TestClient(app) as c:
        yield c, login(c)


def change(client: TestClient, csrf: str | None, cid: str, **body: Any) -> Any:
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    return client.post(f"/admin/api/complaints/{cid}/change", json=body, headers=headers)


# --- login and access control ------------------------------------------------------------------
def test_citizen_without_login_gets_nothing(anon: TestClient, ids: dict[str, str]) -> None:
    r = anon.get("/admin", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    cid = ids["pothole"]
    for path in ("/admin/api/complaints", "/admin/api/summary", "/admin/api/series",
                 f"/admin/api/complaints/{cid}", "/admin/api/complaints.csv", "/admin/admin.js"):
        r = anon.get(path)
        assert r.status_code == 401, path
        assert r.json()["message"] == "로그인이 필요합니다.", path
        assert "010" not in r.text
    r = change(anon, "whatever", cid, status="처리중", expected_version=1)
    assert r.status_code == 401
    # a forged cookie, a token signed with another key, an expired one: all refused
    for token in ("forged", sign_session("kim", b"another-key", 8), sign_session("kim", SECRET.encode(), 1,
                                                                                 now=time.time() - 7200)):
        anon.cookies.set("nyj_admin", token, path="/admin")
        assert anon.get("/admin/api/summary").status_code == 401
        assert anon.get("/admin", follow_redirects=False).status_code == 303
    anon.cookies.clear()


def test_token_of_a_removed_user_is_refused(state: dict[str, Any], tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with TestClient(build_app(state, settings)) as c:
        c.cookies.set("nyj_admin", sign_session("park", SECRET.encode(), 8), path="/admin")
        assert c.get("/admin/api/summary").status_code == 401
        c.cookies.set("nyj_admin", sign_session("kim", SECRET.encode(), 8), path="/admin")
        assert c.get("/admin/api/summary").status_code == 200


def test_login_form_is_korean_and_locked_down(anon: TestClient) -> None:
    r = anon.get("/admin/login")
    assert r.status_code == 200
    assert "직원 로그인" in r.text and "아이디" in r.text and "비밀번호" in r.text
    assert 'method="post" action="/admin/login"' in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("user", "password"), [("kim", "wrong"), ("nobody", "kim-비밀번호-1"), ("", "")])
def test_wrong_password(anon: TestClient, user: str, password: str) -> None:
    r = anon.post("/admin/login", data={"username": user, "password": password}, follow_redirects=False)
    assert r.status_code == 401
    assert "아이디 또는 비밀번호가 올바르지 않습니다." in r.text
    assert "set-cookie" not in r.headers
    assert anon.get("/admin", follow_redirects=False).status_code == 303


def test_failed_logins_are_slowed_down(anon: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin_module, "FAIL_DELAY_S", 0.3)
    t0 = time.perf_counter()
    anon.post("/admin/login", data={"username": "kim", "password": "x"})
    assert time.perf_counter() - t0 >= 0.3


def test_too_many_failures_lock_the_client_out(anon: TestClient) -> None:
    for _ in range(admin_module.MAX_FAILURES):
        assert anon.post("/admin/login", data={"username": "kim", "password": "x"}).status_code == 401
    r = anon.post("/admin/login", data={"username": "kim", "password": PASSWORDS["kim"]}, follow_redirects=False)
    assert r.status_code == 429 and "로그인 시도가 너무 많습니다" in r.text
    assert "set-cookie" not in r.headers


def test_login_cookie_attributes(app: FastAPI) -> None:
    with TestClient(app) as c:
        r = c.post("/admin/login", data={"username": "kim", "password": PASSWORDS["kim"]}, follow_redirects=False)
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("nyj_admin=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Path=/admin" in cookie and "Secure" not in cookie
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post("/admin/login", data={"username": "kim", "password": PASSWORDS["kim"]}, follow_redirects=False)
        assert "Secure" in r.headers["set-cookie"]


def test_cross_site_login_post_is_refused(anon: TestClient) -> None:
    r = anon.post("/admin/login", data={"username": "kim", "password": PASSWORDS["kim"]},
                  headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_dashboard_page_after_login(staff: tuple[TestClient, str]) -> None:
    client, _ = staff
    page = client.get("/admin")
    assert '<meta name="nyj-user" content="kim">' in page.text
    assert '<script src="/admin/admin.js"' in page.text and "__CSRF_TOKEN__" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/admin/login", follow_redirects=False).headers["location"] == "/admin"
    js = client.get("/admin/admin.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", js.text)
    assert client.get("/admin/admin.css").status_code == 200


def test_logout_needs_csrf_and_revokes_the_session(staff: tuple[TestClient, str]) -> None:
    client, csrf = staff
    token = client.cookies.get("nyj_admin")
    assert client.post("/admin/logout").status_code == 403
    assert client.get("/admin/api/summary").status_code == 200
    r = client.post("/admin/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and 'nyj_admin=""' in r.headers["set-cookie"]
    assert client.get("/admin/api/summary").status_code == 401
    client.cookies.set("nyj_admin", token or "", path="/admin")  # replaying the old cookie
    assert client.get("/admin/api/summary").status_code == 401


def test_missing_store_is_a_korean_503(tmp_path: Path) -> None:
    with TestClient(build_app({}, make_settings(tmp_path))) as c:
        login(c)
        r = c.get("/admin/api/summary")
        assert r.status_code == 503 and "잠시 후" in r.json()["message"]


# --- list, filters, counters ------------------------------------------------------------------
def _ids(client: TestClient, **params: Any) -> list[str]:
    r = client.get("/admin/api/complaints", params=params)
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


def test_list_and_filters(staff: tuple[TestClient, str], ids: dict[str, str]) -> None:
    client, _ = staff
    r = client.get("/admin/api/complaints").json()
    assert r["total"] == 5 and not r["truncated"]
    assert [i["id"] for i in r["items"]] == [ids[k] for k in ("light", "parking", "repeat", "dump", "pothole")]
    item = next(i for i in r["items"] if i["id"] == ids["pothole"])
    assert item["due_state"] == "overdue" and item["repeat_count"] == 1 and item["version"] == 1
    assert "010-9876-5432" not in item["summary"] and "phone" not in item and "name" not in item
    assert set(_ids(client, status="처리완료")) == {ids["parking"]}
    assert set(_ids(client, team="바로처리팀")) == {ids["light"]}
    assert set(_ids(client, urgent="true")) == {ids["light"]}
    assert len(_ids(client, urgent="false")) == 4
    assert set(_ids(client, due_state="overdue")) == {ids["pothole"]}
    assert set(_ids(client, due_state="near_due")) == {ids["light"]}
    assert set(_ids(client, due_state="done")) == {ids["parking"]}
    assert set(_ids(client, repeat="1")) == {ids["pothole"], ids["repeat"]}
    assert set(_ids(client, open="1")) == {ids[k] for k in ("pothole", "light", "dump", "repeat")}
    assert set(_ids(client, open="1", team="민원콜센터팀")) == set()
    assert set(_ids(client, q="가로등")) == {ids["light"]}
    assert set(_ids(client, q="5678")) == {ids["pothole"], ids["repeat"]}  # phone last digits
    assert set(_ids(client, q=ids["dump"].lower())) == {ids["dump"]}
    today = dt.datetime.now(SEOUL).date()
    week_ago = (today - dt.timedelta(days=7)).isoformat()
    assert ids["pothole"] not in _ids(client, **{"from": week_ago})
    assert set(_ids(client, to=(today - dt.timedelta(days=10)).isoformat())) == {ids["pothole"]}
    assert set(_ids(client, team="현장기동팀", due_state="overdue")) == {ids["pothole"]}
    page = client.get("/admin/api/complaints", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 5 and [i["id"] for i in page["items"]] == [ids["repeat"], ids["dump"]]
    for bad in ({"status": "없음"}, {"due_state": "late"}, {"urgent": "maybe"}, {"from": "2026-13-01"},
                {"limit": "0"}, {"limit": "x"}):
        r2 = client.get("/admin/api/complaints", params=bad)
        assert r2.status_code == 422 and r2.json()["message"] == "조회 조건이 올바르지 않습니다.", bad


def test_counts(staff: tuple[TestClient, str], ids: dict[str, str]) -> None:
    client, _ = staff
    s = client.get("/admin/api/summary").json()
    assert s["by_status"] == {"접수": 4, "배정": 0, "처리중": 0, "처리완료": 1, "이관": 0, "반려": 0}
    assert s["total"] == 5 and s["open"] == 4
    assert s["by_urgency"] == {"긴급": 1, "일반": 3} and s["urgent_open"] == 1
    assert s["overdue"] == 1 and s["near_due"] == 1 and s["repeats"] == 1 and s["repeat_open"] == 2
    assert s["open_by_team"] == {"바로처리팀": 1, "진심소통팀": 1, "현장기동팀": 2}
    assert s["by_team"]["민원콜센터팀"] == 1
    assert {"바로처리팀", "현장기동팀", "진심소통팀", "민원콜센터팀"} <= set(s["teams"])


# --- detail, changes, audit trail -------------------------------------------------------------
def test_detail_masks_contact_and_shows_history(staff: tuple[TestClient, str], ids: dict[str, str]) -> None:
    client, _ = staff
    d = client.get(f"/admin/api/complaints/{ids['pothole']}").json()
    c = d["complaint"]
    assert c["contact"] == {"name": "홍*동", "phone": "010-****-5678", "email": "h***@example.com"}
    assert "010-9876-5432" not in c["description"] and "[전화번호]" in c["description"]
    assert "1234" not in str(d)
    assert c["route_reason"] == "도로 파손 → 현장기동팀" and c["address"] == "남양주시 별내3로 308 앞"
    assert c["next_statuses"] == ["배정", "처리중", "처리완료", "이관", "반려"]
    assert [e["action"] for e in d["history"]] == ["접수", "반복접수"]
    assert d["history"][1]["actor"] == "system" and ids["repeat"] in d["history"][1]["note"]
    assert d["history"][0]["at"].endswith("+00:00")
    light = client.get(f"/admin/api/complaints/{ids['light']}").json()["complaint"]
    assert light["contact"]["phone"] == "010-****-6666" and light["urgent"] is True
    r = client.get("/admin/api/complaints/NYJ-20000101-9999")
    assert r.status_code == 404 and r.json()["message"] == "해당 접수번호의 민원이 없습니다."


def test_change_status_and_team_is_audited_with_the_username(staff: tuple[TestClient, str],
                                                            ids: dict[str, str]) -> None:
    client, csrf = staff
    cid = ids["dump"]
    r = change(client, csrf, cid, status="처리중", note="현장 확인 예정", expected_version=1)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["complaint"]["status"] == "처리중" and body["complaint"]["version"] == 2
    last = body["history"][-1]
    assert (last["actor"], last["action"], last["from_status"], last["to_status"]) == ("kim", "상태변경", "접수", "처리중")
    assert "현장 확인 예정" in last["note"]
    r = change(client, csrf, cid, team="현장기동팀", expected_version=2)
    assert r.status_code == 200
    assert r.json()["complaint"]["team"] == "현장기동팀"
    last = r.json()["history"][-1]
    assert last["actor"] == "kim" and last["action"] == "배정변경" and "현장기동팀" in last["note"]
    d = client.get(f"/admin/api/complaints/{cid}").json()
    assert [e["actor"] for e in d["history"]][-2:] == ["kim", "kim"]
    assert set(_ids(client, status="처리중")) == {cid}
    # assigning a team to a new complaint moves it to 배정
    r = change(client, csrf, ids["light"], team="현장기동팀", expected_version=1)
    assert r.json()["complaint"]["status"] == "배정"


def test_csrf_missing_or_wrong_is_403(staff: tuple[TestClient, str], ids: dict[str, str],
                                      store: ComplaintStore) -> None:
    client, csrf = staff
    cid = ids["dump"]
    for token in (None, "", "0" * 64, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
        r = change(client, token, cid, status="처리중", expected_version=1)
        assert r.status_code == 403, token
        assert "보안 확인" in r.json()["message"]
    assert store.get(cid)["version"] == 1 and store.get(cid)["status"] == "접수"
    # the token is bound to the session: another staff member's token does not work here
    with TestClient(client.app) as other:
        other_csrf = login(other, "lee")
    assert other_csrf != csrf
    assert change(client, other_csrf, cid, status="처리중", expected_version=1).status_code == 403


def test_stale_version_is_409_in_korean(staff: tuple[TestClient, str], ids: dict[str, str],
                                        store: ComplaintStore) -> None:
    client, csrf = staff
    cid = ids["dump"]
    store.change(cid, "lee", status="배정", expected_version=1)  # a colleague saved first
    r = change(client, csrf, cid, status="처리중", expected_version=1)
    assert r.status_code == 409
    body = r.json()
    assert body["message"] == admin_module.MSG_STALE
    assert body["complaint"]["version"] == 2 and body["complaint"]["status"] == "배정"
    assert store.get(cid)["status"] == "배정"
    # a transition the lifecycle does not allow is a conflict too, with its own message
    r = change(client, csrf, ids["parking"], status="이관", expected_version=2)
    assert r.status_code == 409 and "바꿀 수 없습니다" in r.json()["message"]


def test_change_validation(staff: tuple[TestClient, str], ids: dict[str, str]) -> None:
    client, csrf = staff
    cid = ids["dump"]
    assert change(client, csrf, cid, expected_version=1).status_code == 422
    assert change(client, csrf, cid, status="완료됨", expected_version=1).status_code == 422
    assert change(client, csrf, cid, status="처리중").status_code == 422  # expected_version required
    r = client.post(f"/admin/api/complaints/{cid}/change", content=b"not json",
                    headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["message"] == "변경 내용이 올바르지 않습니다."
    assert change(client, csrf, "NYJ-20000101-9999", status="처리중", expected_version=1).status_code == 404


# --- charts and export ------------------------------------------------------------------------
def test_series(staff: tuple[TestClient, str], ids: dict[str, str], store: ComplaintStore) -> None:
    client, _ = staff
    days = client.get("/admin/api/series").json()["days"]
    assert len(days) == 30
    today = dt.datetime.now(SEOUL).date()
    assert days[-1]["date"] == today.isoformat()
    assert days[0]["date"] == (today - dt.timedelta(days=29)).isoformat()
    assert sum(d["intake"] for d in days) == 5
    by_day: dict[str, int] = {}
    for c in store.search():
        key = c["created_at"].astimezone(SEOUL).date().isoformat()
        by_day[key] = by_day.get(key, 0) + 1
    assert {d["date"]: d["intake"] for d in days if d["intake"]} == by_day
    closed = [d for d in days if d["closed"]]
    assert len(closed) == 1 and closed[0]["closed"] == 1
    assert closed[0]["avg_hours"] == pytest.approx(10.0, abs=0.2)


def test_csv_export_is_masked(staff: tuple[TestClient, str], ids: dict[str, str]) -> None:
    client, _ = staff
    r = client.get("/admin/api/complaints.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    raw = r.content
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5
    row = next(x for x in rows if x["접수번호"] == ids["pothole"])
    assert row["연락처"] == "010-****-5678" and row["성명"] == "홍*동"
    assert row["기한상태"] == "기한 초과" and row["반복접수"] == "1" and row["담당팀"] == "현장기동팀"
    assert "[전화번호]" in row["민원내용"] and "[주소]" in row["주소"]
    for secret in ("010-1234-5678", "01012345678", "010-9876-5432", "홍길동", "hong@example.com", "별내3로 308",
                   "01055556666"):
        assert secret not in text
    filtered = client.get("/admin/api/complaints.csv", params={"status": "처리완료"}).content.decode("utf-8-sig")
    assert len(list(csv.DictReader(io.StringIO(filtered)))) == 1


def test_csv_defuses_formulas() -> None:
    now = dt.datetime.now(dt.UTC)
    row = {"id": "NYJ-1", "created_at": now, "status": "접수", "channel": "chat", "category": "=HYPERLINK()",
           "department": "d", "team": "t", "urgent": False, "expected_at": now, "due_state": "on_time",
           "closed_at": None, "repeat_count": 0, "duplicate_of": None, "description": "+cmd", "address": "",
           "name": "", "phone": ""}
    text = admin_module.complaints_csv([row])
    assert "'=HYPERLINK()" in text and "'+cmd" in text


@pytest.mark.parametrize(("phone", "masked"), [
    ("010-1234-5678", "010-****-5678"), ("01012345678", "010-****-5678"), ("02-590-1234", "02-****-1234"),
    ("031-590-2114", "031-****-2114"), ("590-1234", "****-1234"), ("", ""), ("12", ""),
])
def test_mask_phone(phone: str, masked: str) -> None:
    assert admin_module.mask_phone(phone) == masked


# --- headless Chromium against a real server ---------------------------------------------------
_missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]


@pytest.mark.integration
@pytest.mark.skipif(bool(_missing), reason=f"needs Chromium and chromedriver; missing: {', '.join(_missing)}")
def test_dashboard_in_headless_chromium(state: dict[str, Any], ids: dict[str, str], tmp_path: Path,
                                        store: ComplaintStore) -> None:
    selenium = pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    assert selenium
    options = chromium_options(tmp_path / "chromium-profile", 1440, 900)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})

    def wait(driver: Any, cond: Any, what: str, timeout: float = 10) -> Any:
        # the page re-renders rows and counters after every fetch: an element found a moment ago
        # may be replaced before it is read, so a stale reference just means "look again"
        from selenium.common.exceptions import StaleElementReferenceException

        return WebDriverWait(driver, timeout, poll_frequency=0.05,
                             ignored_exceptions=[StaleElementReferenceException]).until(cond, message=what)

    def shot(driver: Any, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / f"admin-{name}.png"))

    app = build_app(state, make_settings(tmp_path))
    with LocalServer(app) as server:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(30)
        try:
            # a citizen (no login) is sent to the login form
            driver.get(server.url + "/admin")
            wait(driver, lambda d: d.current_url.endswith("/admin/login"), "redirect to login")
            driver.find_element(By.ID, "username").send_keys("kim")
            driver.find_element(By.ID, "password").send_keys("틀린 비밀번호")
            driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
            error = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".login-error"), "login error")
            assert error.text == "아이디 또는 비밀번호가 올바르지 않습니다."
            shot(driver, "login-error")
            password = driver.find_element(By.ID, "password")
            password.clear()
            password.send_keys(PASSWORDS["kim"])
            driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
            wait(driver, lambda d: d.current_url.rstrip("/").endswith("/admin"), "dashboard")

            # counters and table
            wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 5, "5 rows")
            wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".counter")) == 10, "counters")
            counters = {b.find_element(By.CSS_SELECTOR, ".counter-label").text:
                        b.find_element(By.CSS_SELECTOR, ".counter-value").text
                        for b in driver.find_elements(By.CSS_SELECTOR, ".counter")}
            assert counters["접수"] == "4" and counters["처리완료"] == "1"
            assert counters["긴급 (미처리)"] == "1" and counters["기한 초과"] == "1"
            assert counters["기한 임박"] == "1" and counters["반복 (미처리)"] == "2"
            assert driver.find_element(By.ID, "user-name").text == "kim"
            headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#table thead th")]
            assert headers == ["접수번호", "접수일시", "분류", "담당팀", "상태", "긴급", "처리기한", "반복"]
            overdue_row = driver.find_element(By.CSS_SELECTOR, f"#rows tr[data-id='{ids['pothole']}']")
            assert "초과" in overdue_row.find_element(By.CSS_SELECTOR, "td.due-overdue").text
            near_row = driver.find_element(By.CSS_SELECTOR, f"#rows tr[data-id='{ids['light']}']")
            assert "임박" in near_row.find_element(By.CSS_SELECTOR, "td.due-near_due").text
            wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart-intake rect.bar")) >= 3, "bars")
            assert driver.find_elements(By.CSS_SELECTOR, "#chart-time circle.dot")
            shot(driver, "dashboard")

            # a counter filters the list; pressing it again clears the filter
            overdue_btn = driver.find_element(By.CSS_SELECTOR, ".counter[data-key='overdue']")
            overdue_btn.click()
            wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 1, "overdue filter")
            assert driver.find_element(By.CSS_SELECTOR, ".counter[data-key='overdue']").get_attribute(
                "aria-pressed") == "true"
            assert "due_state=overdue" in driver.find_element(By.ID, "csv").get_attribute("href")
            driver.find_element(By.CSS_SELECTOR, ".counter[data-key='overdue']").click()
            wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 5, "filter cleared")

            # open a complaint whose text carries markup: shown literally, nothing injected
            driver.find_element(By.CSS_SELECTOR, f"#rows tr[data-id='{ids['dump']}'] button.link").click()
            wait(driver, lambda d: d.find_element(By.ID, "detail-body").is_displayed(), "detail panel")
            wait(driver, lambda d: ids["dump"] in d.find_element(By.ID, "detail-title").text, "detail title")
            assert "<img src=x onerror=alert(1)>" in driver.find_element(By.ID, "d-description").text
            assert not driver.find_elements(By.CSS_SELECTOR, "#detail img")
            assert driver.find_element(By.ID, "d-contact").text == "시* · 010-****-2222"
            history = driver.find_elements(By.CSS_SELECTOR, "#d-history li")
            assert len(history) == 1 and "접수" in history[0].text
            shot(driver, "detail")

            # change its status; the new audit entry names the logged-in user
            status = Select(driver.find_element(By.ID, "c-status"))
            assert [o.text for o in status.options][1:] == ["배정", "처리중", "처리완료", "이관", "반려"]
            status.select_by_visible_text("처리중")
            driver.find_element(By.ID, "c-note").send_keys("현장 확인 후 수거 예정")
            driver.find_element(By.ID, "c-save").click()
            wait(driver, lambda d: "저장했습니다" in d.find_element(By.ID, "change-msg").text, "saved")
            newest = driver.find_elements(By.CSS_SELECTOR, "#d-history li")[0].text
            assert "kim" in newest and "접수 → 처리중" in newest and "현장 확인 후 수거 예정" in newest
            wait(driver, lambda d: "처리중" in d.find_element(
                By.CSS_SELECTOR, f"#rows tr[data-id='{ids['dump']}']").text, "row updated")
            wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".counter[data-key='처리중'] .counter-value")
                 .text == "1", "counter updated")
            assert store.get(ids["dump"])["status"] == "처리중"
            assert store.history(ids["dump"])[-1]["actor"] == "kim"
            shot(driver, "changed")

            # a common laptop screen: no sideways scrolling, the detail and the list both fit
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
            time.sleep(0.3)
            assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
            assert driver.find_element(By.ID, "detail").is_displayed()
            shot(driver, "laptop-1366")
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

            # a colleague changes it meanwhile: saving the stale form shows the Korean conflict message
            store.change(ids["dump"], "lee", status="처리완료", note="동료가 먼저 처리")
            Select(driver.find_element(By.ID, "c-status")).select_by_visible_text("이관")
            driver.find_element(By.ID, "c-save").click()
            wait(driver, lambda d: "다른 직원이 먼저" in d.find_element(By.ID, "change-msg").text, "conflict")
            wait(driver, lambda d: "lee" in d.find_elements(By.CSS_SELECTOR, "#d-history li")[0].text, "reloaded")
            shot(driver, "conflict")

            # no script errors and no CSP violations (the 401/409 answers above are expected)
            severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"]
            assert severe == [], severe

            # log out: back to the login form, the API is closed again
            driver.find_element(By.ID, "logout").click()
            wait(driver, lambda d: d.current_url.endswith("/admin/login"), "logged out")
            driver.get(server.url + "/admin")
            wait(driver, lambda d: d.current_url.endswith("/admin/login"), "login again required")
        finally:
            driver.quit()


def test_wired_into_the_real_app(mini_corpus: Path, tmp_path: Path) -> None:
    """The service built by ``create_app`` serves the dashboard behind its own middleware."""
    from assistant.settings import KnowledgeSettings
    from channels.app import create_app

    settings = make_settings(tmp_path)
    settings.knowledge = KnowledgeSettings(corpus_dir=mini_corpus, embedder="hashing")
    with TestClient(create_app(settings)) as c:
        assert c.get("/admin", follow_redirects=False).headers["location"] == "/admin/login"
        assert c.get("/admin/api/summary").status_code == 401
        csrf = login(c)
        s = c.get("/admin/api/summary")
        assert s.status_code == 200 and s.json()["total"] == 0
        assert c.get("/admin/api/complaints").json() == {"items": [], "total": 0, "truncated": False,
                                                         "limit": 100, "offset": 0}
        assert len(c.get("/admin/api/series").json()["days"]) == 30
        assert change(c, None, "NYJ-20000101-0001", status="처리중", expected_version=1).status_code == 403
        assert change(c, csrf, "NYJ-20000101-0001", status="처리중", expected_version=1).status_code == 404
