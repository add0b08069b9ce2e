"""Real-browser tests of the embeddable chat widget and the demo homepage (headless Chromium).

The pages are served by a real HTTP server on 127.0.0.1 (uvicorn in a background thread). The
``site`` fixture builds it from ``FakeChatAPI``: ``channels/static/index.html`` at ``/``,
``channels/static/widget.js`` at ``/widget.js`` and canned Korean ``/api/chat``,
``/api/chat/stream`` (real SSE), ``/api/feedback`` and ``/api/uploads`` (photos, checked by their
first bytes) endpoints that record what they received.
To run the same browser steps against the real service, swap the app that ``site`` serves (the
assertions on ``site.api`` recordings are the only fake-specific part).
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.servers import LocalServer, chromium_options

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "channels" / "static"
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

_missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(_missing), reason=f"needs Chromium and chromedriver; missing: {', '.join(_missing)} "
                       "(apt-get install chromium chromium-driver)"),
]

# ---- canned conversation ---------------------------------------------------------------------
QUESTION = "가로등 교체 사업 예산이 얼마예요?"
ANSWER_PART1 = "가로등 교체 사업의 2026년 예산은 "
ANSWER_PART2 = "80,000천원입니다.\n사업 기간은 2026년 3월부터 11월까지예요."
FOLLOW_UP = "신청 방법 알려줘"
AGENT = "상담원 연결"
XSS = "태그 시험"
XSS_REPLY = '경고 <img src=x onerror=alert(1)> 그리고 <script>window.__nyjPwned=1</script> 끝'
RATE_LIMITED = "요청 폭주 시험"
SERVER_ERROR = "서버 고장 시험"
NO_STREAM = "스트림 없는 질문"
COMPLAINT = "가로등이 꺼져 있어요"
PLACE_QUESTION = "불편을 겪으신 장소를 알려 주세요. 예: 다산동 다산중앙로 77 앞"
PHOTO_REPLY = "사진을 받았습니다. 민원을 접수할 때 함께 전달하겠습니다.\n" + PLACE_QUESTION
PHOTO_RULE = "사진은 5MB 이하의 JPG, PNG, GIF, WEBP 파일만 올릴 수 있어요."
FAKE_NOT_IMAGE = "사진 파일(JPG, PNG, GIF, WEBP)만 올릴 수 있습니다."
FAKE_TOO_LARGE = "사진은 5MB 이하만 올릴 수 있습니다."
MAX_PHOTO = 5 * 1024 * 1024

CITATIONS = [
    {"document": "namyangju-2026-citizen-mayor-office.md", "section": "바로처리 > 가로등 교체",
     "text": "- 소요예산 : 80,000천원\n- 사업기간 : 2026. 3. ~ 11."},
    {"document": "namyangju-2026-planning-coordination-office.md", "section": "재정현황",
     "text": "2026년 예산액 1,200천원"},
]


def canned(message: str, media_id: str | None = None) -> dict[str, Any]:
    """The chat response (without ids) the fake API gives for a message."""
    if media_id and not message:
        return {"reply": PHOTO_REPLY, "intent": "complaint", "abstained": False, "citations": [], "quick_replies": []}
    if message == COMPLAINT:
        return {"reply": "가로등 고장 민원을 접수할게요.\n" + PLACE_QUESTION, "intent": "complaint",
                "abstained": False, "citations": [], "quick_replies": ["처음으로"]}
    if message == XSS:
        return {"reply": XSS_REPLY, "intent": "question", "abstained": False,
                "citations": [{"document": "<img src=x onerror=alert(2)>.md", "section": "<script>alert(3)</script>",
                               "text": "<b>굵게</b> <img src=x>"}],
                "quick_replies": ["<img src=x onerror=alert(4)>"],
                "complaint": {"id": "<b>C-1</b>", "status": "접수", "team": "<i>현장기동팀</i>", "urgent": True,
                              "expected_datetime": "2026-01-20T18:00:00+09:00"}}
    if message == AGENT:
        return {"reply": "상담원에게 연결해 드릴게요.\n평일 09:00~18:00에는 민원콜센터 상담원이 이어서 도와드립니다.",
                "intent": "handoff", "abstained": False, "citations": [], "quick_replies": ["처음으로"]}
    if message == FOLLOW_UP:
        return {"reply": "가로등 고장은 이 창에서 바로 신고하실 수 있어요. 위치를 알려 주세요.",
                "intent": "question", "abstained": False, "citations": [], "quick_replies": []}
    if message == NO_STREAM:
        return {"reply": "스트리밍 없이 받은 답변입니다.", "intent": "question", "abstained": False,
                "citations": [], "quick_replies": []}
    return {"reply": ANSWER_PART1 + ANSWER_PART2, "intent": "question", "abstained": False,
            "citations": CITATIONS, "quick_replies": [FOLLOW_UP, "담당 부서는 어디예요?"]}


def png_bytes(width: int = 160, height: int = 120) -> bytes:
    """A real PNG (8-bit RGB): evening sky, a road and a street lamp that is off."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = []
    for y in range(height):
        row = bytearray(b"\x00")  # filter type 0
        for x in range(width):
            if 70 <= x < 76 and y >= 30:
                px = (60, 60, 66)  # lamp post
            elif 60 <= x < 90 and 24 <= y < 32:
                px = (90, 90, 96)  # lamp head (dark)
            elif y >= height * 3 // 4:
                px = (96, 100, 108)  # road
            else:
                px = (40 + y, 70 + y, 140 + y // 2)  # sky
            row += bytes(px)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


def _split(reply: str) -> list[str]:
    if reply.startswith(ANSWER_PART1):
        return [ANSWER_PART1, reply[len(ANSWER_PART1):]]
    half = len(reply) // 2
    return [reply[:half], reply[half:]]


@dataclass
class FakeChatAPI:
    """Canned chat API that records every request it receives."""

    stream_requests: list[dict[str, Any]] = field(default_factory=list)
    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    _gates: list[threading.Event] = field(default_factory=list)
    _upload_gate: threading.Event | None = None
    _ids: int = 0

    def hold(self) -> list[threading.Event]:
        """Make the next stream wait before each of its two delta events until the test says so."""
        self._gates = [threading.Event(), threading.Event()]
        return self._gates

    def hold_upload(self) -> threading.Event:
        """Make the next upload wait (before answering) until the test sets the returned event."""
        self._upload_gate = threading.Event()
        return self._upload_gate

    def messages(self) -> list[str]:
        return [r["message"] for r in self.stream_requests]

    def _respond(self, body: dict[str, Any]) -> dict[str, Any]:
        self._ids += 1
        return {"session_id": body.get("session_id") or "sess-1", "message_id": f"msg-{self._ids}",
                **canned(body["message"], body.get("media_id"))}

    def app(self) -> FastAPI:
        app = FastAPI()
        app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"],
                           allow_headers=["content-type"])

        @app.get("/")
        async def index() -> FileResponse:
            return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

        @app.get("/widget.js")
        async def widget() -> FileResponse:
            return FileResponse(STATIC / "widget.js", media_type="text/javascript; charset=utf-8")

        @app.post("/api/chat")
        async def chat(request: Request) -> Response:
            body = await request.json()
            self.chat_requests.append(body)
            if body["message"] == RATE_LIMITED:
                return JSONResponse({"error": "rate_limited"}, status_code=429)
            if body["message"] == SERVER_ERROR:
                return JSONResponse({"error": "internal"}, status_code=500)
            return JSONResponse(self._respond(body))

        @app.post("/api/chat/stream")
        async def stream(request: Request) -> Response:
            body = await request.json()
            self.stream_requests.append(body)
            self.origins.append(request.headers.get("origin", ""))
            if body["message"] == RATE_LIMITED:
                return JSONResponse({"error": "rate_limited"}, status_code=429)
            if body["message"] == SERVER_ERROR:
                return JSONResponse({"error": "internal"}, status_code=500)
            if body["message"] == NO_STREAM:
                return JSONResponse({"error": "unavailable"}, status_code=503)
            full = self._respond(body)
            gates, self._gates = self._gates, []
            eol = "\r\n" if body["message"] == AGENT else "\n"  # exercise CRLF framing too

            def frame(event: str, data: dict[str, Any]) -> bytes:
                return f"event: {event}{eol}data: {json.dumps(data, ensure_ascii=False)}{eol}{eol}".encode()

            async def events() -> AsyncIterator[bytes]:
                yield b": keep-alive comment\n\n"
                yield frame("meta", {"session_id": full["session_id"], "message_id": full["message_id"],
                                     "intent": full["intent"]})
                for i, part in enumerate(_split(full["reply"])):
                    if i < len(gates):
                        await _wait(gates[i])
                    else:
                        await asyncio.sleep(0.05)
                    yield frame("delta", {"text": part})
                await asyncio.sleep(0.05)
                yield frame("done", full)

            return StreamingResponse(events(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

        @app.post("/api/feedback")
        async def feedback(request: Request) -> Response:
            self.feedback.append(await request.json())
            return Response(status_code=204)

        @app.post("/api/uploads")
        async def uploads(request: Request) -> Response:
            form = await request.form()
            file = form.get("file")
            if file is None or isinstance(file, str):
                return JSONResponse({"error": "bad_upload", "message": "사진 파일을 'file' 항목으로 보내 주세요."},
                                    status_code=400)
            data = await file.read()
            record: dict[str, Any] = {"filename": file.filename, "content_type": file.content_type,
                                      "size": len(data), "fields": sorted(form.keys())}
            self.uploads.append(record)
            gate, self._upload_gate = self._upload_gate, None
            if gate is not None:
                await _wait(gate)
            if (file.filename or "").startswith("busy"):
                record["status"] = 429
                return JSONResponse({"error": "rate_limited", "message": "요청이 많아요"}, status_code=429)
            if (file.filename or "").startswith("broken"):
                record["status"] = 500
                return JSONResponse({"error": "internal"}, status_code=500)
            if len(data) > MAX_PHOTO:
                record["status"] = 413
                return JSONResponse({"error": "bad_upload", "message": FAKE_TOO_LARGE}, status_code=413)
            if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
                record["status"] = 415
                return JSONResponse({"error": "bad_upload", "message": FAKE_NOT_IMAGE}, status_code=415)
            record["status"] = 201
            record["media_id"] = uuid.uuid4().hex
            return JSONResponse({"media_id": record["media_id"]}, status_code=201)

        return app


async def _wait(gate: threading.Event, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not gate.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


@dataclass
class Site:
    url: str
    api: FakeChatAPI


@pytest.fixture()
def site() -> Iterator[Site]:
    api = FakeChatAPI()
    with LocalServer(api.app()) as server:
        yield Site(url=server.url, api=api)


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = chromium_options(tmp_path / "chromium-profile")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


# ---- helpers ---------------------------------------------------------------------------------
def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 10, what: str = "") -> Any:
    # a re-rendered element found a moment ago may be stale: that just means "look again"
    from selenium.common.exceptions import StaleElementReferenceException

    return WebDriverWait(driver, timeout, poll_frequency=0.05,
                         ignored_exceptions=[StaleElementReferenceException]).until(condition, message=what)


def wait_until(predicate: Callable[[], bool], timeout: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def shot(driver: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def text_of(driver: WebDriver, element: WebElement) -> str:
    return str(driver.execute_script("return arguments[0].textContent;", element))


def answers(driver: WebDriver) -> list[WebElement]:
    """Assistant bubbles (welcome and answers), oldest first; not the typing indicator."""
    return driver.find_elements(By.CSS_SELECTOR, ".nyj-bot:not(.nyj-typing)")


def last_answer(driver: WebDriver) -> WebElement:
    return answers(driver)[-1]


def open_widget(driver: WebDriver, url: str) -> WebElement:
    driver.get(url)
    launcher = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".nyj-launcher"), what="launcher")
    launcher.click()
    wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".nyj-panel").is_displayed(), what="panel")
    return launcher


def ask(driver: WebDriver, text: str) -> WebElement:
    box = driver.find_element(By.CSS_SELECTOR, ".nyj-input")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)
    return box


def wait_done(driver: WebDriver, count: int) -> WebElement:
    """Wait until `count` finished answers (with a feedback row) are shown; return the last one."""
    wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".nyj-bot .nyj-fb")) >= count,
             what=f"{count} finished answers")
    return driver.find_elements(By.CSS_SELECTOR, ".nyj-bot:has(.nyj-fb)")[count - 1]


def photo_button(driver: WebDriver) -> WebElement:
    found = [b for b in driver.find_elements(By.CSS_SELECTOR, ".nyj-panel button") if b.accessible_name == "사진 첨부"]
    assert len(found) == 1, "one button named 사진 첨부"
    return found[0]


def file_input(driver: WebDriver) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, ".nyj-panel input[type='file']")


def thumbnails(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, ".nyj-log .nyj-user img")


# ---- tests -----------------------------------------------------------------------------------
def test_homepage_embeds_the_widget_with_one_tag(site: Site, browser: WebDriver) -> None:
    browser.get(site.url + "/")
    assert browser.execute_script("return document.documentElement.lang") == "ko"
    assert "남양주시청" in browser.title
    scripts = browser.find_elements(By.TAG_NAME, "script")
    assert [s.get_attribute("src") for s in scripts] == [site.url + "/widget.js"]
    launcher = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".nyj-launcher"))
    assert launcher.accessible_name == "민원 상담 챗봇"
    assert launcher.size["height"] >= 44 and launcher.size["width"] >= 44
    assert not browser.find_element(By.CSS_SELECTOR, ".nyj-panel").is_displayed()
    shot(browser, "desktop-home")
    browser.find_element(By.CSS_SELECTOR, "[data-nyj-open]").click()  # the hero button opens the chat
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".nyj-panel").is_displayed())
    assert browser.switch_to.active_element.get_attribute("id") == "nyj-input"


def test_full_conversation(site: Site, browser: WebDriver) -> None:
    open_widget(browser, site.url + "/")
    panel = browser.find_element(By.CSS_SELECTOR, ".nyj-panel")
    assert browser.switch_to.active_element.get_attribute("class") == "nyj-input"
    assert browser.find_element(By.CSS_SELECTOR, ".nyj-title").text == "남양주시 AI 민원 안내"
    log = browser.find_element(By.CSS_SELECTOR, ".nyj-log")
    assert log.get_attribute("role") == "log" and log.get_attribute("aria-live") == "polite"
    assert "개인정보는 민원 처리에만 쓰이며 로그에는 가려서 저장됩니다." in panel.text

    # question -> typing indicator -> first delta -> second delta -> done
    gates = site.api.hold()
    box = ask(browser, QUESTION)
    typing = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".nyj-typing"), what="typing indicator")
    assert typing.is_displayed() and "답변을 준비하고 있어요…" in typing.text
    assert box.get_attribute("value") == ""
    user = browser.find_elements(By.CSS_SELECTOR, ".nyj-user .nyj-text")[-1]
    assert user.text == QUESTION
    gates[0].set()
    wait_for(browser, lambda d: len(answers(d)) == 2, what="streamed bubble")
    bubble = last_answer(browser)
    assert text_of(browser, bubble.find_element(By.CSS_SELECTOR, ".nyj-text")) == ANSWER_PART1
    assert not browser.find_elements(By.CSS_SELECTOR, ".nyj-typing")
    assert not bubble.find_elements(By.CSS_SELECTOR, ".nyj-cites")
    gates[1].set()
    bubble = wait_done(browser, 1)
    assert bubble.find_element(By.CSS_SELECTOR, ".nyj-text").text == (ANSWER_PART1 + ANSWER_PART2)
    assert len(bubble.find_elements(By.CSS_SELECTOR, ".nyj-text br")) == 1  # newline -> line break
    assert site.api.stream_requests == [{"message": QUESTION}]
    assert site.api.chat_requests == []  # streamed, no fallback

    # citations: collapsed <details>, document + section; the cited text collapsed again
    cites = bubble.find_element(By.CSS_SELECTOR, "details.nyj-cites")
    summary = cites.find_element(By.CSS_SELECTOR, ":scope > summary")
    assert summary.text == "출처 2건" and cites.get_attribute("open") is None
    quote = cites.find_element(By.CSS_SELECTOR, ".nyj-quote-text")
    assert not quote.is_displayed()
    summary.click()
    assert cites.get_attribute("open") is not None
    items = cites.find_elements(By.CSS_SELECTOR, "li")
    assert len(items) == 2
    assert items[0].find_element(By.CSS_SELECTOR, ".nyj-doc").text == CITATIONS[0]["document"]
    assert items[0].find_element(By.CSS_SELECTOR, ".nyj-sec").text == CITATIONS[0]["section"]
    assert not quote.is_displayed()
    items[0].find_element(By.CSS_SELECTOR, ".nyj-quote > summary").click()
    assert quote.is_displayed() and "80,000천원" in quote.text
    shot(browser, "desktop-answer-citations")

    # quick reply -> sent with the session id from the first reply
    qr = [b for b in browser.find_elements(By.CSS_SELECTOR, ".nyj-qr") if b.text == FOLLOW_UP]
    assert qr, "quick replies from the reply are rendered"
    qr[0].click()
    wait_done(browser, 2)
    assert site.api.stream_requests[1] == {"session_id": "sess-1", "message": FOLLOW_UP}
    assert browser.execute_script("return sessionStorage.getItem('nyj-session-id')") == "sess-1"

    # thumbs up on the first answer: one feedback request with its message id
    up = bubble.find_element(By.CSS_SELECTOR, ".nyj-fbbtn[aria-label='도움이 됐어요']")
    down = bubble.find_element(By.CSS_SELECTOR, ".nyj-fbbtn[aria-label='도움이 안 됐어요']")
    assert up.get_attribute("aria-pressed") == "false"
    up.click()
    wait_until(lambda: len(site.api.feedback) == 1, what="feedback request")
    assert site.api.feedback == [{"session_id": "sess-1", "message_id": "msg-1", "rating": "up"}]
    wait_for(browser, lambda d: bubble.find_element(By.CSS_SELECTOR, ".nyj-fb-note").text == "의견 감사합니다")
    assert up.get_attribute("aria-pressed") == "true"
    up.click()
    down.click()
    time.sleep(0.3)
    assert len(site.api.feedback) == 1 and down.get_attribute("aria-pressed") == "false"

    # the always-visible hand-off button sends "상담원 연결" (this stream uses CRLF line endings)
    agent = browser.find_element(By.CSS_SELECTOR, ".nyj-agent")
    assert agent.is_displayed() and agent.text == "상담원 연결"
    agent.click()
    handoff = wait_done(browser, 3)
    assert site.api.stream_requests[2] == {"session_id": "sess-1", "message": AGENT}
    assert handoff.find_element(By.CSS_SELECTOR, ".nyj-text").text.startswith("상담원에게 연결해 드릴게요.")
    assert [b.text for b in browser.find_elements(By.CSS_SELECTOR, ".nyj-qr")] == ["처음으로"]
    shot(browser, "desktop-handoff")


def test_server_text_is_never_html(site: Site, browser: WebDriver) -> None:
    open_widget(browser, site.url + "/")
    images_before = browser.execute_script("return document.images.length")
    scripts_before = browser.execute_script("return document.scripts.length")
    ask(browser, XSS)
    bubble = wait_done(browser, 1)
    assert text_of(browser, bubble.find_element(By.CSS_SELECTOR, ".nyj-text")) == XSS_REPLY
    assert browser.execute_script(
        "return document.querySelectorAll('.nyj-root img, .nyj-root script, .nyj-root b, .nyj-root i:not(.nyj-dots i)').length"
    ) == 0
    assert browser.execute_script("return document.images.length") == images_before
    assert browser.execute_script("return document.scripts.length") == scripts_before
    assert browser.execute_script("return window.__nyjPwned === undefined")
    bubble.find_element(By.CSS_SELECTOR, ".nyj-cites > summary").click()
    assert bubble.find_element(By.CSS_SELECTOR, ".nyj-doc").text == "<img src=x onerror=alert(2)>.md"
    assert bubble.find_element(By.CSS_SELECTOR, ".nyj-sec").text == "<script>alert(3)</script>"
    complaint = bubble.find_element(By.CSS_SELECTOR, ".nyj-complaint").text
    assert "<i>현장기동팀</i>" in complaint and "긴급" in complaint and "2026. 1. 20." in complaint
    assert [b.text for b in browser.find_elements(By.CSS_SELECTOR, ".nyj-qr")] == ["<img src=x onerror=alert(4)>"]
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text
    shot(browser, "desktop-literal-tags")


@pytest.mark.parametrize(("message", "korean", "fallback_calls"), [
    (RATE_LIMITED, "요청이 많아 잠시 후 다시 시도해 주세요.", 0),  # 429 from the stream: not retried
    (SERVER_ERROR, "잠시 후 다시 시도해 주세요.", 1),  # 5xx from the stream: plain JSON tried, also 5xx
])
def test_errors_show_korean_message_and_keep_the_input(
        site: Site, browser: WebDriver, message: str, korean: str, fallback_calls: int) -> None:
    open_widget(browser, site.url + "/")
    box = ask(browser, message)
    error = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".nyj-bot.nyj-error"), what="error bubble")
    assert korean in error.text
    assert box.get_attribute("value") == message
    assert browser.find_element(By.CSS_SELECTOR, ".nyj-send").get_attribute("aria-disabled") == "false"
    assert not browser.find_elements(By.CSS_SELECTOR, ".nyj-typing")
    assert site.api.messages() == [message]
    assert len(site.api.chat_requests) == fallback_calls
    if message == RATE_LIMITED:
        shot(browser, "desktop-429")


def test_falls_back_to_plain_json_when_streaming_is_unavailable(site: Site, browser: WebDriver) -> None:
    open_widget(browser, site.url + "/")
    ask(browser, NO_STREAM)
    bubble = wait_done(browser, 1)
    assert bubble.find_element(By.CSS_SELECTOR, ".nyj-text").text == "스트리밍 없이 받은 답변입니다."
    assert site.api.chat_requests == [{"message": NO_STREAM}]


def test_keyboard_escape_closes_and_returns_focus(site: Site, browser: WebDriver) -> None:
    browser.get(site.url + "/")
    launcher = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".nyj-launcher"))
    browser.execute_script("arguments[0].focus()", launcher)
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".nyj-panel").is_displayed())
    active = browser.switch_to.active_element
    assert active.get_attribute("class") == "nyj-input"
    # Shift+Enter is a newline, not a send
    active.send_keys("첫 줄")
    active.send_keys(Keys.SHIFT, Keys.ENTER)
    active.send_keys("둘째 줄")
    assert active.get_attribute("value") == "첫 줄\n둘째 줄"
    assert browser.find_element(By.CSS_SELECTOR, ".nyj-count").text == "8 / 1000"
    assert active.get_attribute("maxlength") == "1000"
    assert site.api.stream_requests == []
    # tab order after the input: send, then the hand-off button; focus is visibly outlined
    active.send_keys(Keys.TAB)
    assert "nyj-send" in browser.switch_to.active_element.get_attribute("class")
    outline = browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert "nyj-agent" in browser.switch_to.active_element.get_attribute("class")
    browser.switch_to.active_element.send_keys(Keys.TAB)  # then the photo button (its file input is hidden)
    assert browser.switch_to.active_element.accessible_name == "사진 첨부"
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for(browser, lambda d: not d.find_element(By.CSS_SELECTOR, ".nyj-panel").is_displayed())
    assert browser.switch_to.active_element == launcher
    assert launcher.get_attribute("aria-expanded") == "false"


def test_phone_width_panel_fills_the_screen(site: Site, browser: WebDriver) -> None:
    # Headless Chromium keeps some window "chrome" height; emulate the phone viewport exactly.
    browser.set_window_size(360, 740)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 360, "height": 740, "deviceScaleFactor": 1, "mobile": True})
    open_widget(browser, site.url + "/")
    size = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    assert size == [360, 740]
    rect = browser.execute_script(
        "const r = document.querySelector('.nyj-panel').getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height];")
    assert rect == [0, 0, size[0], size[1]]
    ask(browser, QUESTION)
    wait_done(browser, 1)
    panel_overflows = browser.execute_script(
        "const p = document.querySelector('.nyj-panel'); return p.scrollWidth > p.clientWidth;")
    assert not panel_overflows
    small = browser.execute_script(
        "return [...document.querySelectorAll('.nyj-panel button')].filter(b => b.offsetParent)"
        ".map(b => b.getBoundingClientRect()).filter(r => r.width < 44 || r.height < 44).length")
    assert small == 0, "every button is a 44px tap target"
    shot(browser, "phone-360-answer")


def test_larger_text_toggle_persists(site: Site, browser: WebDriver) -> None:
    open_widget(browser, site.url + "/")
    text = browser.find_element(By.CSS_SELECTOR, ".nyj-bot .nyj-text")

    def font_px() -> float:
        return float(browser.execute_script("return parseFloat(getComputedStyle(arguments[0]).fontSize)", text))

    before = font_px()
    toggle = next(b for b in browser.find_elements(By.CSS_SELECTOR, ".nyj-header button") if b.text == "글자 크게")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"
    assert font_px() >= before * 1.2
    assert browser.execute_script("return localStorage.getItem('nyj-large-text')") == "1"
    shot(browser, "desktop-large-text")
    open_widget(browser, site.url + "/")  # reload: the choice is remembered
    text = browser.find_element(By.CSS_SELECTOR, ".nyj-bot .nyj-text")
    assert font_px() >= before * 1.2


def test_embedded_from_another_origin(site: Site, browser: WebDriver) -> None:
    """A city page on another origin embeds the script from the API host; the API base follows it."""
    host = FastAPI()
    page = (f'<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>다른 사이트</title></head>'
            f'<body><h1>다른 사이트</h1><script src="{site.url}/widget.js" data-title="시험 안내" '
            f'data-open="true" defer></script></body></html>')

    @host.get("/")
    async def home() -> HTMLResponse:
        return HTMLResponse(page)

    with LocalServer(host) as other:
        browser.get(other.url + "/")
        wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".nyj-panel").is_displayed(),
                 what="data-open panel")
        assert browser.find_element(By.CSS_SELECTOR, ".nyj-title").text == "시험 안내"
        assert browser.switch_to.active_element.tag_name == "body"  # opening on load does not steal focus
        ask(browser, QUESTION)
        wait_done(browser, 1)
    assert site.api.messages() == [QUESTION]
    assert site.api.origins == [other.url]


def test_photo_upload_shows_thumbnail_and_sends_media_id(site: Site, browser: WebDriver, tmp_path: Path) -> None:
    open_widget(browser, site.url + "/")
    ask(browser, COMPLAINT)
    wait_done(browser, 1)
    draft = "다산중앙로 7"
    box = browser.find_element(By.CSS_SELECTOR, ".nyj-input")
    box.send_keys(draft)

    # the button sits next to 상담원 연결, is a 44px target and opens the (hidden) file picker
    button = photo_button(browser)
    agent = browser.find_element(By.CSS_SELECTOR, ".nyj-agent")
    assert button.is_displayed() and button.size["width"] >= 44 and button.size["height"] >= 44
    assert button.location["y"] == agent.location["y"] and button.location["x"] > agent.location["x"]
    picker = file_input(browser)
    assert picker.get_attribute("accept") == "image/jpeg,image/png,image/webp,image/gif"
    assert picker.get_attribute("capture") is None and not picker.is_displayed()
    browser.execute_script(  # count the picker opening instead of showing the native dialog
        "window.__nyjPicked = 0; arguments[0].addEventListener('click', e => { e.preventDefault(); "
        "window.__nyjPicked++; }, {once: true});", picker)
    button.click()
    assert browser.execute_script("return window.__nyjPicked") == 1

    # choose a real PNG: thumbnail from a local object URL + upload status, then the reply
    png = png_bytes()
    path = tmp_path / "streetlight.png"
    path.write_bytes(png)
    gate = site.api.hold_upload()
    picker.send_keys(str(path))
    status = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".nyj-typing"), what="upload status")
    assert "사진을 올리는 중…" in status.text
    thumb = wait_for(browser, lambda d: thumbnails(d)[0], what="thumbnail")
    assert thumb.get_attribute("alt") == "보낸 사진" and thumb.get_attribute("src").startswith("blob:")
    wait_for(browser, lambda d: d.execute_script("return arguments[0].naturalWidth", thumb) == 160,
             what="thumbnail decoded")
    assert thumb.is_displayed() and 0 < thumb.size["width"] <= 200
    assert button.get_attribute("aria-disabled") == "true"
    assert browser.find_element(By.CSS_SELECTOR, ".nyj-send").get_attribute("aria-disabled") == "true"
    gate.set()
    answer = wait_done(browser, 2)
    assert answer.find_element(By.CSS_SELECTOR, ".nyj-text").text == PHOTO_REPLY
    assert not browser.find_elements(By.CSS_SELECTOR, ".nyj-typing")
    assert button.get_attribute("aria-disabled") == "false"

    [upload] = site.api.uploads
    assert upload["filename"] == "streetlight.png" and upload["content_type"] == "image/png"
    assert upload["size"] == len(png) and upload["fields"] == ["file"] and upload["status"] == 201
    assert site.api.stream_requests[-1] == {"session_id": "sess-1", "message": "", "media_id": upload["media_id"]}
    assert site.api.chat_requests == []  # streamed like any answer
    assert box.get_attribute("value") == draft  # the typed text is left alone
    assert picker.get_attribute("value") == ""  # reset, so the same photo can be chosen again
    revoked = browser.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then(() => done('alive'), () => done('revoked'));",
        thumb.get_attribute("src"))
    assert revoked == "revoked"
    assert browser.execute_script("return arguments[0].naturalWidth", thumb) == 160  # still shown
    shot(browser, "widget-photo")

    picker.send_keys(str(path))  # the same file again is a new upload
    wait_done(browser, 3)
    assert len(site.api.uploads) == 2 and len(thumbnails(browser)) == 2
    assert site.api.stream_requests[-1]["media_id"] == site.api.uploads[1]["media_id"]


@pytest.mark.parametrize(("name", "content", "korean", "status"), [
    ("note.txt", b"just some text", PHOTO_RULE, None),  # not an image type: checked before sending
    ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_PHOTO, PHOTO_RULE, None),  # over 5 MB
    ("fake.png", b"not really a png", FAKE_NOT_IMAGE, 415),  # the server checks the bytes
    ("busy.png", png_bytes(8, 8), "요청이 많아 잠시 후 다시 시도해 주세요.", 429),
    ("broken.png", png_bytes(8, 8), "사진을 올리지 못했어요. 잠시 후 다시 시도해 주세요.", 500),
], ids=["not-an-image-type", "over-5mb", "server-415", "server-429", "server-500"])
def test_rejected_photo_shows_korean_error(site: Site, browser: WebDriver, tmp_path: Path,
                                           name: str, content: bytes, korean: str, status: int | None) -> None:
    open_widget(browser, site.url + "/")
    box = browser.find_element(By.CSS_SELECTOR, ".nyj-input")
    box.send_keys("쓰던 글")
    path = tmp_path / name
    path.write_bytes(content)
    file_input(browser).send_keys(str(path))
    error = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".nyj-bot.nyj-error"), what="error bubble")
    assert error.find_element(By.CSS_SELECTOR, ".nyj-text").text == korean
    assert site.api.uploads == ([] if status is None else [{**site.api.uploads[0], "status": status}])
    assert site.api.stream_requests == [] and site.api.chat_requests == []
    assert not thumbnails(browser) and not browser.find_elements(By.CSS_SELECTOR, ".nyj-typing")
    assert box.get_attribute("value") == "쓰던 글"
    assert photo_button(browser).get_attribute("aria-disabled") == "false"


def test_real_app_end_to_end(browser: WebDriver, tmp_path: Path, mini_corpus: Path) -> None:
    """The widget against the real service (dialogue engine, SSE, feedback storage)."""
    from assistant.settings import AdminSettings, KnowledgeSettings, Settings
    from channels.app import create_app

    settings = Settings(data_dir=tmp_path / "data", admin=AdminSettings(token="t0ken"),
                        knowledge=KnowledgeSettings(corpus_dir=mini_corpus, embedder="hashing"))
    with LocalServer(create_app(settings), lifespan="on") as server:
        open_widget(browser, server.url + "/")
        ask(browser, "가로등 교체 사업 예산이 얼마예요?")
        answer = wait_done(browser, 1)
        assert "80,000천원" in text_of(browser, answer)
        summary = answer.find_element(By.CSS_SELECTOR, "details summary")
        assert "출처" in text_of(browser, summary)
        answer.find_element(By.CSS_SELECTOR, ".nyj-fb button").click()
        wait_for(browser, lambda d: "의견 감사합니다" in (d.find_element(By.CSS_SELECTOR, ".nyj-log").text),
                 what="feedback thanks")
        shot(browser, "real-app-answer")
        import httpx

        csv_text = httpx.get(server.url + "/admin/feedback.csv",
                             headers={"authorization": "Bearer t0ken"}).text
        assert "가로등 교체 사업 예산이 얼마예요?" in csv_text

        # a complaint, then a photo while the place question is pending: the reply re-asks it
        ask(browser, COMPLAINT)
        question = text_of(browser, wait_done(browser, 2).find_element(By.CSS_SELECTOR, ".nyj-text"))
        png = png_bytes()
        path = tmp_path / "streetlight.png"
        path.write_bytes(png)
        file_input(browser).send_keys(str(path))
        wait_for(browser, lambda d: thumbnails(d), what="thumbnail")
        photo = text_of(browser, wait_done(browser, 3).find_element(By.CSS_SELECTOR, ".nyj-text"))
        assert "사진을 받았습니다" in photo and "장소" in question and "장소" in photo
        stored = list((tmp_path / "data" / "uploads").iterdir())
        assert [p.read_bytes() for p in stored] == [png] and stored[0].suffix == ".png"
        shot(browser, "real-app-photo")
