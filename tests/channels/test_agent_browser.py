"""Real-browser tests of the call agent console (``GET /agent``: static/agent.html + agent.js + agent.css)
in headless Chromium against the real app (``channels.app.create_app``, lifespan on, uvicorn on 127.0.0.1).

What is real: login form and session cookie, CSP, the console WebSocket and its ``hello`` catch-up, the
``CallService`` (hub, registry, live call, agent assist over the mini corpus with the hashing embedder,
complaint router, SQLite complaint store), the microphone WebSocket. What is scripted: the speech
recogniser. ``channels.app.call_service_from`` is wrapped so that every call leg gets a ``ScriptedStream``
(the test decides which transcript events a leg produces next; it also keeps the audio it was fed) and no
Whisper model is loaded; the test drives a call from its own thread through the server's event loop
(``Harness``). ``test_microphone_real_stt`` (slow) uses the real Whisper STT on Chromium's fake microphone.
"""

from __future__ import annotations

import asyncio
import threading
import wave
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.servers import LocalServer, chromium_options

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
WAV = ROOT / "tests" / "fixtures" / "audio" / "ko_sample_leopard.wav"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SECRET = "agent-console-test-secret"
PASSWORDS = {"kim": "kim-상담-비밀번호", "lee": "lee-password-2"}
CALLER_ID = "+821012345678"

_missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(_missing), reason=f"needs Chromium and chromedriver; missing: {', '.join(_missing)} "
                       "(apt-get install chromium chromium-driver)"),
]
T = TypeVar("T")


# ---- scripted speech recognition ---------------------------------------------------------------
class ScriptedStream:
    """A ``StreamingSTT`` whose events the test queues; records every chunk of audio it is fed."""

    def __init__(self, speaker: str) -> None:
        self.speaker = speaker
        self._lock = threading.Lock()
        self._queued: list[Any] = []
        self.audio: list[np.ndarray] = []

    def queue(self, kind: str, text: str, start: float, end: float) -> None:
        from voice.streaming import TranscriptEvent

        with self._lock:
            self._queued.append(TranscriptEvent(kind, text, start, end, self.speaker))  # type: ignore[arg-type]

    def _take(self) -> list[Any]:
        with self._lock:
            out, self._queued = self._queued, []
        return out

    def feed(self, audio: np.ndarray) -> list[Any]:
        with self._lock:
            self.audio.append(np.asarray(audio, dtype=np.float32).copy())
        return self._take()

    def flush(self) -> list[Any]:
        return self._take()

    def reset(self) -> None:
        self._take()

    def samples(self) -> np.ndarray:
        with self._lock:
            return np.concatenate(self.audio) if self.audio else np.zeros(0, np.float32)


@dataclass
class Harness:
    """The running app's call service and event loop, driven from the test thread."""

    url: str = ""
    service: Any = None
    loop: asyncio.AbstractEventLoop | None = None
    streams: dict[tuple[str, str], ScriptedStream] = field(default_factory=dict)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        assert self.loop is not None, "the app has not started"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start_call(self, call_id: str, agent: str, caller_id: str = CALLER_ID) -> None:
        async def start() -> None:
            await self.service.start(call_id, "twilio", agent=agent, caller_id=caller_id)

        self.run(start())

    def stream(self, call_id: str, speaker: str) -> ScriptedStream:
        live = self.service.live.get(call_id)
        if live is not None:
            stream = live.tracks[speaker].stream
            self.streams[(call_id, speaker)] = stream
        return self.streams[(call_id, speaker)]

    def say(self, call_id: str, speaker: str, kind: str, text: str, start: float, end: float) -> None:
        """The recogniser of one leg hears ``text``: queue the event, then feed that leg 10 ms of audio."""
        self.stream(call_id, speaker).queue(kind, text, start, end)
        live = self.service.live[call_id]
        assert self.loop is not None
        self.loop.call_soon_threadsafe(live.feed, speaker, np.full(160, 0.05, np.float32), 16000)

    def hang_up(self, call_id: str) -> None:
        self.run(self.service.live[call_id].finish())

    def complaint(self, complaint_id: str) -> dict[str, Any]:
        return dict(self.service.complaints.get(complaint_id))


def make_settings(tmp_path: Path, mini_corpus: Path) -> Any:
    from assistant.auth import hash_password
    from assistant.settings import AdminSettings, AgentSettings, KnowledgeSettings, Settings

    agents = {name: hash_password(pw, iterations=1000) for name, pw in PASSWORDS.items()}
    return Settings(data_dir=tmp_path / "data", admin=AdminSettings(secret_key=SECRET),
                    agent=AgentSettings(users=agents, secret_key=SECRET),
                    knowledge=KnowledgeSettings(corpus_dir=mini_corpus, embedder="hashing"))


def _serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mini_corpus: Path, scripted: bool) -> Iterator[Harness]:
    """The real app on a free port; ``scripted``: every call leg gets a ``ScriptedStream`` (no Whisper)."""
    import anyio.from_thread

    from channels import agent_console
    from channels import app as app_module

    monkeypatch.setattr(agent_console, "FAIL_DELAY_S", 0.0)
    harness = Harness()
    real = app_module.call_service_from

    def wrapped(settings: Any, services: dict[str, Any]) -> Any:
        if scripted:
            from voice.stt import ScriptedSTT

            services["stt"] = ScriptedSTT(["(시험)"])  # the console then never loads Whisper
        service = real(settings, services)
        if scripted:
            service._stream_factory = lambda stt, speaker, cfg: ScriptedStream(speaker)
        harness.service = service
        harness.loop = anyio.from_thread.run_sync(asyncio.get_running_loop)  # we run in the lifespan's thread
        return service

    monkeypatch.setattr(app_module, "call_service_from", wrapped)
    with LocalServer(app_module.create_app(make_settings(tmp_path, mini_corpus)), lifespan="on") as server:
        harness.url = server.url
        yield harness


@pytest.fixture()
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mini_corpus: Path) -> Iterator[Harness]:
    yield from _serve(monkeypatch, tmp_path, mini_corpus, scripted=True)


def _driver(tmp_path: Path, *extra: str) -> WebDriver:
    options = chromium_options(tmp_path / "chromium-profile", 1366, 900)
    for arg in extra:
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


MIC_ARGS = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={WAV}", "--autoplay-policy=no-user-gesture-required")


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    driver = _driver(tmp_path, *MIC_ARGS)
    try:
        yield driver
    finally:
        driver.quit()


# ---- helpers -------------------------------------------------------------------------------------
def wait_for(driver: WebDriver, check: Callable[[WebDriver], Any], what: str, timeout: float = 15.0) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: check(d), message=f"waiting for {what}")


def shot(driver: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"agent-{name}.png"))


def login(driver: WebDriver, url: str, user: str, password: str | None = None) -> None:
    driver.get(url + "/agent")
    box = wait_for(driver, lambda d: d.find_element(By.ID, "username"), "login form")
    box.clear()
    box.send_keys(user)
    driver.find_element(By.ID, "password").send_keys((password or PASSWORDS[user]) + Keys.ENTER)
    if password is None:
        wait_for(driver, lambda d: d.find_elements(By.ID, "transcript"), "console page")


def status(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "status").get_attribute("data-state"))


def finals(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#transcript .line.final")


def partials(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#transcript .line.partial")


def color(driver: WebDriver, line: WebElement) -> str:
    return str(driver.execute_script(
        "return getComputedStyle(arguments[0].querySelector('.text')).color", line))


def field(driver: WebDriver, name: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f"#complaint-form [name='{name}']")


def value(driver: WebDriver, name: str) -> str:
    return str(field(driver, name).get_attribute("value"))


def at_bottom(driver: WebDriver) -> bool:
    return bool(driver.execute_script(
        "const t = document.getElementById('transcript'); return t.scrollHeight - t.scrollTop - t.clientHeight < 50"))


# ---- tests -----------------------------------------------------------------------------------------
def test_live_call_transcript_suggestion_form_and_summary(app: Harness, browser: WebDriver) -> None:
    call = "CAe2e0001"
    app.start_call(call, "kim")
    login(browser, app.url, "kim")
    # the newest active call of this agent opens by itself
    link = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"#calls a.call-link[data-call-id='{call}']"),
                    "call in my list")
    wait_for(browser, lambda d: status(d) == "open", "console socket open")
    assert link.get_attribute("aria-current") == "true" and link.get_attribute("data-status") == "active"
    assert "010-****-5678" in link.text
    assert browser.find_element(By.ID, "user-name").text == "kim"
    assert not browser.find_elements(By.CSS_SELECTOR, "script:not([src])")  # CSP: no inline script

    # partial (grey) -> final (black), labelled by leg
    app.say(call, "caller", "partial", "가로등 교체 사업", 0.4, 1.2)
    line = wait_for(browser, lambda d: partials(d)[0], "caller partial")
    assert line.get_attribute("data-speaker") == "caller"
    assert line.find_element(By.CSS_SELECTOR, ".who").text == "민원인"
    assert line.find_element(By.CSS_SELECTOR, ".text").text == "가로등 교체 사업"
    assert color(browser, line) == "rgb(107, 118, 132)"
    app.say(call, "caller", "partial", "가로등 교체 사업 예산이", 0.4, 1.8)
    wait_for(browser, lambda d: partials(d)[0].find_element(By.CSS_SELECTOR, ".text").text == "가로등 교체 사업 예산이",
             "partial replaced in place")
    assert len(partials(browser)) == 1
    app.say(call, "caller", "final", "가로등 교체 사업 예산이 얼마예요", 0.4, 2.6)
    wait_for(browser, lambda d: len(finals(d)) == 1 and not partials(d), "caller final replaces the partial")
    first = finals(browser)[0]
    assert first.find_element(By.CSS_SELECTOR, ".text").text == "가로등 교체 사업 예산이 얼마예요"
    assert color(browser, first) == "rgb(0, 0, 0)"
    assert first.find_element(By.CSS_SELECTOR, ".at").text == "00:00"

    # suggestion with its citation, and the intent badge
    card = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#suggestions .suggestion"), "suggestion")
    assert "80,000천원" in card.find_element(By.CSS_SELECTOR, ".answer-text").text
    cite = card.find_element(By.CSS_SELECTOR, ".citation")
    assert "mini-plan.md" in cite.text
    cite.find_element(By.CSS_SELECTOR, "summary").click()
    assert "80,000천원" in cite.find_element(By.CSS_SELECTOR, ".cite-text").text
    intent = wait_for(browser, lambda d: d.find_element(By.ID, "intent") if d.find_element(By.ID, "intent")
                      .get_attribute("data-intent") else None, "intent")
    from assistant.calls.assist import INTENT_LABELS

    assert intent.text == INTENT_LABELS[str(intent.get_attribute("data-intent"))]

    # the agent's leg, then the complaint: the form fills itself from the conversation
    app.say(call, "agent", "final", "네 확인해 드릴게요. 다른 불편 사항도 있으세요?", 2.8, 4.5)
    agent_line = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#transcript .line.final[data-speaker='agent']"),
                          "agent final")
    assert agent_line.find_element(By.CSS_SELECTOR, ".who").text == "상담원"
    app.say(call, "caller", "final", "다산동 다산중앙로 77 앞 가로등이 고장 났어요", 5.0, 8.0)
    wait_for(browser, lambda d: "다산중앙로 77" in value(d, "location"), "form pre-filled with the location")
    wait_for(browser, lambda d: browser.find_element(By.ID, "intent").get_attribute("data-intent") == "complaint",
             "complaint intent")
    assert browser.find_element(By.ID, "intent").text == "민원 접수"
    assert value(browser, "team") and value(browser, "category")
    assert value(browser, "contact_phone") == "010-****-5678"  # from the caller id, masked
    assert "가로등" in value(browser, "description")
    assert "prefilled" in str(field(browser, "location").get_attribute("class"))
    team = value(browser, "team")
    shot(browser, "live-call")

    # the agent corrects the location; a later form update never overwrites it
    loc = field(browser, "location")
    loc.clear()
    loc.send_keys("다산동 다산중앙로 80 앞")
    loc.send_keys(Keys.ENTER)  # Enter moves on, it does not file the complaint
    assert browser.switch_to.active_element == field(browser, "description")
    app.say(call, "caller", "final", "빨리 고쳐 주세요", 8.5, 9.5)
    wait_for(browser, lambda d: "빨리" in value(d, "description"), "form updated by the next phrase")
    assert value(browser, "location") == "다산동 다산중앙로 80 앞"
    assert "edited" in str(field(browser, "location").get_attribute("class"))
    assert browser.find_element(By.ID, "form-result").text == ""
    field(browser, "consent").click()
    browser.find_element(By.ID, "submit-form").click()
    result = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#form-result[data-complaint-id]"),
                      "complaint filed")
    cid = str(result.get_attribute("data-complaint-id"))
    assert "접수 완료" in result.text and cid in result.text and team in result.text
    assert browser.find_element(By.ID, "submit-form").get_attribute("disabled") is not None  # no double filing
    stored = app.complaint(cid)
    assert stored["address"] == "다산동 다산중앙로 80 앞"
    assert stored["team"] == team
    assert stored["phone"].replace("-", "") == "01012345678"  # the clear caller id behind the mask
    assert "빨리 고쳐 주세요" in stored["description"]

    # connection drop: automatic reconnect, the hello replays history without duplicates, edits kept
    before = [f.find_element(By.CSS_SELECTOR, ".text").text for f in finals(browser)]
    browser.execute_script("window.nyjConsole.socket().close()")
    wait_for(browser, lambda d: status(d) == "retrying", "reconnect countdown")
    assert "연결 끊김" in browser.find_element(By.ID, "status").text
    wait_for(browser, lambda d: status(d) == "open", "reconnected", timeout=10)
    wait_for(browser, lambda d: [f.find_element(By.CSS_SELECTOR, ".text").text for f in finals(d)] == before,
             "history replayed once")
    assert value(browser, "location") == "다산동 다산중앙로 80 앞"
    assert browser.find_element(By.ID, "form-result").get_attribute("data-complaint-id") == cid
    assert browser.find_elements(By.CSS_SELECTOR, "#suggestions .suggestion")

    # hostile text is shown as text
    hostile = "<img src=x onerror=window.__pwned=1> <script>window.__pwned=2</script> 태그"
    app.say(call, "agent", "final", hostile, 10.0, 11.0)
    wait_for(browser, lambda d: len(finals(d)) == len(before) + 1, "hostile line")
    assert finals(browser)[-1].find_element(By.CSS_SELECTOR, ".text").text == hostile
    assert not browser.find_elements(By.CSS_SELECTOR, "#transcript img, #transcript script")
    assert browser.execute_script("return window.__pwned") is None

    # auto-scroll follows the newest line unless the agent scrolled up
    for i in range(25):
        app.say(call, "agent", "final", f"안내 문장 {i}번입니다. 천천히 말씀해 주세요.", 12.0 + i, 12.5 + i)
    wait_for(browser, lambda d: len(finals(d)) == len(before) + 26, "many lines")
    wait_for(browser, at_bottom, "scrolled to the newest line")
    browser.execute_script("document.getElementById('transcript').scrollTop = 0")
    wait_for(browser, lambda d: d.execute_script("return document.getElementById('transcript').scrollTop") == 0,
             "scrolled up")
    app.say(call, "agent", "final", "스크롤 시험 문장", 40.0, 41.0)
    wait_for(browser, lambda d: d.find_element(By.ID, "jump-latest").is_displayed(), "jump-to-latest button")
    assert browser.execute_script("return document.getElementById('transcript').scrollTop") == 0
    browser.find_element(By.ID, "jump-latest").click()
    wait_for(browser, at_bottom, "back at the newest line")
    assert not browser.find_element(By.ID, "jump-latest").is_displayed()

    # hang-up: summary, call marked ended
    app.hang_up(call)
    summary = wait_for(browser, lambda d: d.find_element(By.ID, "summary") if d.find_element(By.ID, "summary")
                       .is_displayed() else None, "summary")
    assert "민원인 발화" in summary.find_element(By.ID, "summary-text").text
    assert browser.find_element(By.ID, "summary-complaint").text == cid
    assert browser.find_element(By.ID, "summary-intent").text == "민원 접수"
    assert browser.find_element(By.ID, "call-state").text == "통화 종료"
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"#calls a.call-link[data-call-id='{call}']")
             .get_attribute("data-status") == "ended", "call list shows the call ended")
    shot(browser, "summary")


def test_login_and_call_access(app: Harness, browser: WebDriver) -> None:
    app.start_call("CAkim0001", "kim")
    browser.get(app.url + "/agent")
    wait_for(browser, lambda d: d.current_url.endswith("/agent/login"), "redirect to the login form")
    login(browser, app.url, "lee", password="틀린 비밀번호")
    error = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".login-error"), "login error")
    assert error.text == "아이디 또는 비밀번호가 올바르지 않습니다."
    login(browser, app.url, "lee")
    wait_for(browser, lambda d: d.find_element(By.ID, "calls-empty").is_displayed(), "lee has no calls")
    assert not browser.find_elements(By.CSS_SELECTOR, "#calls a.call-link")
    assert status(browser) == "idle"
    assert browser.find_element(By.ID, "submit-form").get_attribute("disabled") is not None
    browser.get(app.url + "/agent#call=CAkim0001")  # someone else's call, by URL
    wait_for(browser, lambda d: status(d) == "closed", "refused")
    assert browser.find_element(By.ID, "status").text == "이 통화를 볼 권한이 없습니다."
    browser.get(app.url + "/agent#call=CAnope0001")
    wait_for(browser, lambda d: d.find_element(By.ID, "status").text == "없는 통화입니다. 목록에서 다시 선택해 주세요.",
             "unknown call")
    # a call for lee arrives while another call is open: highlighted in the list, not switched to
    app.start_call("CAlee0001", "lee")
    new = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#calls a.call-link.new[data-call-id='CAlee0001']"),
                   "new call highlighted", timeout=12)
    assert "새 통화" in new.text and browser.title.startswith("(새 통화 1건)")
    new.send_keys(Keys.ENTER)  # keyboard: the list is made of links
    wait_for(browser, lambda d: status(d) == "open", "new call opened")
    assert "new" not in str(new.get_attribute("class")) and new.get_attribute("aria-current") == "true"
    assert not browser.title.startswith("(")
    browser.find_element(By.ID, "logout").click()
    wait_for(browser, lambda d: d.current_url.endswith("/agent/login"), "logged out")
    browser.get(app.url + "/agent")
    wait_for(browser, lambda d: d.current_url.endswith("/agent/login"), "session gone")


def _wav_16k() -> np.ndarray:
    with wave.open(str(WAV)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


def _best_match(received: np.ndarray, reference: np.ndarray) -> float:
    """Largest normalised correlation of ``reference`` against any position of ``received`` (both 16 kHz):
    close to 1 when the browser delivered the file's samples at the right rate and byte order."""
    n = reference.size
    ref = (reference - reference.mean()) / (reference.std() + 1e-9)
    size = 1 << int(np.ceil(np.log2(received.size + n)))
    corr = np.fft.irfft(np.fft.rfft(received, size) * np.conj(np.fft.rfft(ref, size)), size)[: received.size - n]
    energy = np.convolve(received ** 2, np.ones(n), "valid")[: corr.size]
    mean = np.convolve(received, np.ones(n), "valid")[: corr.size] / n
    std = np.sqrt(np.maximum(energy / n - mean ** 2, 1e-12))
    return float(np.max(corr / (n * std)))


def test_microphone_mode_streams_16khz_pcm(app: Harness, browser: WebDriver) -> None:
    login(browser, app.url, "kim")
    browser.find_element(By.ID, "mic-start").click()
    link = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#calls a.call-link[data-call-id^='mic-']"),
                    "microphone call in my list")
    call = str(link.get_attribute("data-call-id"))
    wait_for(browser, lambda d: d.find_element(By.ID, "mic-stop").is_displayed(), "mic running")
    assert not browser.find_element(By.ID, "mic-start").is_displayed()
    wait_for(browser, lambda d: status(d) == "open", "console socket of the mic call")
    assert browser.execute_script("return window.nyjConsole.callId()") == call
    wait_for(browser, lambda d: call in app.service.live, "server hears the call")
    stream = app.stream(call, "caller")
    wait_for(browser, lambda d: stream.samples().size >= 16000 * 5, "5 s of audio on the server", timeout=30)
    # the fake microphone plays the 16 kHz fixture; whatever rate the browser captures at, the page must
    # deliver the same waveform as 16 kHz PCM16 little-endian
    audio = stream.samples()
    assert 0.005 < float(np.sqrt(np.mean(audio ** 2))) < 0.9
    match = _best_match(audio, _wav_16k()[8000:40000])
    assert match > 0.8, f"received audio does not match the fixture (best correlation {match:.2f})"
    assert browser.execute_script("return window.nyjConsole.micMode()") == "worklet"  # this same agent.js
    sent = browser.execute_script("return window.nyjConsole.micBytesSent()")
    assert sent % 3200 == 0 and sent >= 32000 * 4  # whole 100 ms frames
    # the scripted recogniser hears a phrase: it reaches the console like any call
    stream.queue("final", "마이크 시험 문장입니다", 1.0, 2.5)
    wait_for(browser, lambda d: any(f.text.endswith("마이크 시험 문장입니다") for f in finals(d)), "mic transcript")
    shot(browser, "microphone")
    browser.find_element(By.ID, "mic-stop").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "summary").is_displayed(), "summary after stop")
    assert browser.find_element(By.ID, "call-state").text == "통화 종료"
    assert browser.find_element(By.ID, "mic-start").is_displayed()
    assert app.run(app.service.registry.get(call)).status == "ended"


@pytest.mark.slow
def test_microphone_real_stt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mini_corpus: Path,
                             browser: WebDriver) -> None:
    """Chromium's fake microphone plays the Korean fixture; the real Whisper STT transcribes it live."""
    for harness in _serve(monkeypatch, tmp_path, mini_corpus, scripted=False):
        login(browser, harness.url, "kim")
        browser.find_element(By.ID, "mic-start").click()
        wait_for(browser, lambda d: status(d) == "open", "console socket of the mic call", timeout=30)
        line = wait_for(browser, lambda d: next((f for f in finals(d) if f.get_attribute("data-speaker") == "caller"),
                                                None), "a final transcript from Whisper", timeout=120)
        text = line.find_element(By.CSS_SELECTOR, ".text").text.replace(" ", "")
        reference = "그는이리저리피하면서길한옆으로걸어갔다"
        common = sum(1 for ch in set(reference) if ch in text)
        assert common >= len(set(reference)) // 2, text
        shot(browser, "microphone-whisper")
        browser.find_element(By.ID, "mic-stop").click()
        wait_for(browser, lambda d: d.find_element(By.ID, "summary").is_displayed(), "summary", timeout=60)
