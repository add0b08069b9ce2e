"""Dialogue tools over the city-system adapters: bus arrivals, CCTV locations, budget execution.

``LiveTools.kind`` says which tool a ``live_data`` message is for; ``LiveTools.run`` extracts the
parameters (route number, stop or place name, project name), calls the adapter under a hard overall
deadline (default 3 s: the call runs in a worker thread, and retries inside stop before the deadline)
and answers in Korean with the source and time of the data ("경기도 버스정보 기준, 14:05 현재 …").
When a backend is down, slow or refusing, the citizen gets a polite answer with the public source
instead — never an error. A request to view CCTV footage is never answered with data (``cctv_footage``:
the engine explains the 정보공개 procedure and starts a complaint for 스마트영상정보팀).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import itertools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar

import yaml

from ..adapters.base import DataSource
from ..adapters.budget import BudgetBackend, Execution, match_projects
from ..adapters.cctv import CameraMatch, CCTVBackend, find_cameras, known_places
from ..adapters.errors import AdapterError
from ..adapters.traffic import SEOUL, ArrivalBoard, BusArrival, BusStop, TrafficBackend

log = logging.getLogger(__name__)
T = TypeVar("T")

FOOTAGE = re.compile(r"(cctv|씨씨티비|씨씨tv|블랙박스|방범\s*카메라|감시\s*카메라).{0,20}(영상|녹화|화면)\s*(을|를|좀|이|도)?\s*"
                     r"(좀\s*)?(보여|볼\s*수|보고\s*싶|확인|열람|받|달라|요청|복사)|"
                     r"(cctv|씨씨티비|블랙박스).{0,6}열람", re.I)
_CCTV = re.compile(r"cctv|씨씨티비|씨씨tv|방범\s*카메라|감시\s*카메라|camera", re.I)
_BUS = re.compile(r"버스|정류장|정류소|도착\s*(정보|시간|예정)|몇\s*분\s*(후|뒤|남)")
_BUDGET = re.compile(r"예산|집행|사업비|지방재정|얼마나\s*(썼|남|집행|쓰)|남은\s*돈|썼어")
_TRAFFIC = re.compile(r"막혀|밀려|막히|정체|교통\s*(상황|정보)|소통|혼잡")
_ROUTE = re.compile(r"(?<![0-9A-Za-z가-힣])([A-Za-z]?\d{1,4}(?:-\d{1,2})?)\s*번(?!\s*(출구|째|지))")
_STOPWORDS = re.compile(
    r"버스|정류장|정류소|도착|정보|시간|예정|언제|와요|오나요|올까요?|오는지|와|온대요|몇\s*분|분|후|뒤|남았|"
    r"알려|줘|주세요|좀|지금|현재|실시간|어디쯤|어디|이에요|예요|인가요|가는|가요|타려면|타고|방면|쪽|번|"
    r"에서|에|은|는|이|가|을|를|요|우리|동네|근처|주변|앞|도|있어요|있나요|위치|설치|된|곳|방범|cctv|씨씨티비|"
    r"카메라|생활|near|the|are|where|cameras?|is|in", re.I)
_PARTICLE = re.compile(r"(에서|으로|에|로|은|는|이|가|을|를|의|쪽|앞|근처|주변|까지)$")
_SUFFIXES = ("역", "정류장", "정류소", "시청", "터미널", "사거리", "삼거리", "입구", "공원", "센터", "학교", "동",
             "읍", "면", "로", "길", "리", "아파트", "병원")


@dataclass(frozen=True, slots=True)
class ToolReply:
    text: str
    tool: str  # bus | cctv | cctv_footage | budget | traffic | unknown
    ok: bool  # True when the answer carries live/sample data (False: a question back or a fallback)
    source: DataSource | None = None
    quick_replies: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _messages() -> dict[str, Any]:
    raw = resources.files("assistant").joinpath("messages/tools.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(raw) or {}
    return data


def tmsg(key: str, **kw: Any) -> str:
    return str(_messages()[key]).strip("\n").format(**kw)  # fragments keep their leading space


def tquick(key: str) -> tuple[str, ...]:
    return tuple(str(x) for x in _messages()["quick"][key])


def route_of(text: str) -> str | None:
    m = _ROUTE.search(text)
    return m.group(1).upper() if m else None


def place_candidates(text: str) -> list[str]:
    """Stop or place names in a message, most likely first ("별내역 정류장에" -> ["별내역"])."""
    t = _ROUTE.sub(" ", text)
    t = re.sub(r"[^\w\s.-]", " ", t)
    tokens = []
    for raw in t.split():
        w = raw
        for _ in range(2):
            w = _PARTICLE.sub("", w)
        if len(w) >= 2 and len(_STOPWORDS.sub("", w)) >= 2 and not re.fullmatch(r"\d+", w):
            tokens.append(w)
    strong = [w for w in tokens if w.endswith(_SUFFIXES)]
    rest = [w for w in tokens if w not in strong]
    pairs = [f"{a}{b}" for a, b in itertools.pairwise(tokens)]
    out: list[str] = []
    for w in strong + pairs + rest:
        if w not in out:
            out.append(w)
    return out


class LiveTools:
    """The ``live_data`` tools. Any backend may be None (that tool then answers with a pointer)."""

    def __init__(self, traffic: TrafficBackend | None = None, cctv: CCTVBackend | None = None,
                 budget: BudgetBackend | None = None, deadline_s: float = 3.0, max_workers: int = 8,
                 clock: Callable[[], dt.datetime] | None = None,
                 deadlines: dict[str, float] | None = None) -> None:
        self.traffic = traffic
        self.cctv = cctv
        self.budget = budget
        self.deadline_s = deadline_s  # overall answer deadline per tool call (``deadlines`` per tool)
        self.deadlines = deadlines or {}
        self.clock = clock or (lambda: dt.datetime.now(SEOUL))
        self._pool = cf.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="live-tool")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- which tool ---------------------------------------------------------------------------
    def kind(self, text: str, state: dict[str, Any] | None = None) -> str:
        if FOOTAGE.search(text):
            return "cctv_footage"
        if _BUDGET.search(text):  # "방범 CCTV 사업비 집행률" is about money, not places
            return "budget"
        if _CCTV.search(text):
            return "cctv"
        if _BUS.search(text) or route_of(text):
            return "bus"
        if _TRAFFIC.search(text):
            return "traffic"
        pending = (state or {}).get("live_pending") or {}
        return str(pending.get("tool", "unknown"))

    @staticmethod
    def is_place_answer(text: str) -> bool:
        """Could this short message be the stop or place a tool asked for ("별내역", "화도읍이요")?"""
        t = text.strip()
        return (len(t) <= 20 and len(t.split()) <= 3 and "?" not in t
                and not re.search(r"뭐|무엇|어떻게|왜|누구|언제|얼마|몇|무슨|어느|있나요|인가요|하나요|알려", t))

    def run(self, kind: str, text: str, state: dict[str, Any]) -> ToolReply:
        """Answer one message for tool ``kind``; never raises."""
        try:
            if kind == "bus":
                return self._bus(text, state)
            if kind == "cctv":
                return self._cctv(text, state)
            if kind == "budget":
                return self._budget(text, state)
        except Exception:  # a bug in a tool must not cost the citizen an answer
            log.exception("live tool failed", extra={"fields": {"tool": kind}})
            return ToolReply(tmsg("live_unknown"), kind, False, quick_replies=tquick("down"))
        if kind == "cctv_footage":
            return ToolReply(tmsg("cctv_footage"), kind, False)
        if kind == "traffic":
            return ToolReply(tmsg("traffic_pointer"), kind, False, quick_replies=tquick("down"))
        return ToolReply(tmsg("live_unknown"), "unknown", False, quick_replies=tquick("down"))

    def _call(self, tool: str, fn: Callable[[float], T]) -> T:
        """Run ``fn(deadline)`` in a worker thread; ``AdapterError`` past the overall deadline."""
        started = time.monotonic()
        # leave a quarter second to format and send the answer
        deadline = started + self.deadlines.get(tool, self.deadline_s) - 0.25
        future = self._pool.submit(fn, deadline)
        try:
            return future.result(timeout=max(0.05, deadline - started))
        except cf.TimeoutError as exc:
            future.cancel()
            raise AdapterError("tool deadline exceeded") from exc

    # --- bus ----------------------------------------------------------------------------------
    def _bus(self, text: str, state: dict[str, Any]) -> ToolReply:
        pending = state.pop("live_pending", None) or {}
        route = route_of(text) or (pending.get("route") if pending.get("tool") == "bus" else None)
        names = place_candidates(text)
        if self.traffic is None:
            return ToolReply(tmsg("bus_down", source="버스정보", public=tmsg("bus_public")), "bus", False,
                             quick_replies=tquick("down"))
        if not names:
            state["live_pending"] = {"tool": "bus", "route": route}
            hint = tmsg("bus_ask_stop_route", route=route) if route else ""
            return ToolReply(tmsg("bus_ask_stop", route_hint=hint), "bus", False)
        traffic = self.traffic

        def work(deadline: float) -> tuple[str, list[BusStop], ArrivalBoard | None]:
            for name in names[:3]:
                stops = traffic.search_stops(name, deadline=deadline)
                if stops:
                    break
            else:
                return names[0], [], None
            board = None
            for stop in stops[:3]:  # the route may stop only on one side of the road
                board = traffic.arrivals(stop, deadline=deadline)
                if not route or any(a.route.upper() == route for a in board.arrivals):
                    break
            return name, stops, board

        try:
            name, _stops, board = self._call("bus", work)
        except AdapterError as exc:
            log.warning("bus tool fell back", extra={"fields": {"error": type(exc).__name__}})
            return ToolReply(tmsg("bus_down", source=traffic.source.name, public=tmsg("bus_public")), "bus",
                             False, traffic.source, tquick("down"), {"error": type(exc).__name__})
        if board is None:
            state["live_pending"] = {"tool": "bus", "route": route}
            return ToolReply(tmsg("bus_stop_not_found", name=name), "bus", False, traffic.source)
        state["live_last_stop"] = board.stop.name
        return ToolReply(self._format_board(board, route), "bus", True, board.source, tquick("budget"),
                         {"stop": board.stop.name, "route": route})

    def _format_board(self, board: ArrivalBoard, route: str | None) -> str:
        src = board.source
        when = board.observed_at.astimezone(SEOUL).strftime("%H:%M")
        stop = board.stop.name + (f"({board.stop.number})" if board.stop.number else "")
        public = tmsg("bus_public")
        lines: list[str]
        if route:
            mine = [a for a in board.arrivals if a.route.upper() == route]
            if mine:
                lines = [tmsg("bus_header", source=src.name, time=when, stop=stop), *map(_bus_line, mine)]
            else:
                lines = [tmsg("bus_route_missing", source=src.name, time=when, stop=stop, route=route)]
                others = [f"{a.route}번" for a in board.arrivals if a.minutes is not None][:5]
                if others:
                    lines.append(tmsg("bus_other_routes", routes=", ".join(others)))
        elif board.arrivals:
            lines = [tmsg("bus_header", source=src.name, time=when, stop=stop),
                     *map(_bus_line, board.arrivals[:8])]
        else:
            lines = [tmsg("bus_none", source=src.name, time=when, stop=stop)]
        lines.append(tmsg("sample_note", public=public) if src.sample else tmsg("more_at", public=public))
        return "\n".join(lines)

    # --- CCTV ---------------------------------------------------------------------------------
    def _cctv(self, text: str, state: dict[str, Any]) -> ToolReply:
        state.pop("live_pending", None)
        public = tmsg("cctv_public")
        names = place_candidates(text)
        if self.cctv is None:
            return ToolReply(tmsg("cctv_down"), "cctv", False, quick_replies=tquick("down"))
        if not names:
            state["live_pending"] = {"tool": "cctv"}
            return ToolReply(tmsg("cctv_ask_place"), "cctv", False)
        purpose = None if re.search(r"교통|단속|어린이|스쿨존|모든|전체|\ball\b", text, re.I) else "생활방범"
        cctv = self.cctv
        try:
            cams = self._call("cctv", lambda deadline: cctv.cameras(deadline=deadline))
        except AdapterError as exc:
            return ToolReply(tmsg("cctv_down"), "cctv", False, cctv.source, tquick("down"),
                             {"error": type(exc).__name__})
        matches: list[CameraMatch] = []
        place = names[0]
        for name in names[:4]:
            matches = find_cameras(cams, name, purpose)
            if matches:
                place = name
                break
        label = f"{purpose} " if purpose else ""
        if not matches:
            hint = ", ".join(known_places()[:4])
            body = tmsg("cctv_none", source=cams.source.name, as_of=cams.as_of, place=place, purpose=label)
            if hint:
                body += f" (역·시청 이름도 알아들어요: {hint} 등)"
            return ToolReply(body, "cctv", False, cams.source)
        lines = [tmsg("cctv_header", source=cams.source.name, as_of=cams.as_of, place=place, purpose=label,
                      count=len(matches))]
        for m in matches[:5]:
            c = m.camera
            lines.append(tmsg("cctv_line", address=_road_level(c.address), purpose=c.purpose,
                              cameras=c.cameras if c.cameras is not None else "?",
                              installed=tmsg("cctv_installed", installed=c.installed) if c.installed else "",
                              distance=tmsg("cctv_distance", meters=m.meters) if m.meters is not None else ""))
        if len(matches) > 5:
            lines.append(tmsg("cctv_more", more=len(matches) - 5))
        lines.append(tmsg("cctv_public_note"))
        lines.append(tmsg("sample_note", public=public) if cams.source.sample else tmsg("more_at", public=public))
        return ToolReply("\n".join(lines), "cctv", True, cams.source, tquick("cctv"),
                         {"place": place, "count": len(matches)})

    # --- budget -------------------------------------------------------------------------------
    def _budget(self, text: str, state: dict[str, Any]) -> ToolReply:
        state.pop("live_pending", None)
        public = tmsg("budget_public")
        query = text if re.search(r"[가-힣]{2,}", _BUDGET.sub("", text)) else str(state.get("topic") or "")
        if self.budget is None:
            return ToolReply(tmsg("budget_down", public=public), "budget", False, quick_replies=tquick("down"))
        budget = self.budget
        try:
            rows = self._call("budget", lambda deadline: budget.executions(deadline=deadline))
        except AdapterError as exc:
            return ToolReply(tmsg("budget_down", public=public), "budget", False, budget.source,
                             tquick("down"), {"error": type(exc).__name__})
        found: list[Execution] = match_projects(rows, query)
        if not found:
            return ToolReply(tmsg("budget_exec_none", source=budget.source.name, public=public), "budget",
                             False, budget.source, tquick("budget"))
        best = found[0]
        lines = [tmsg("budget_exec", source=budget.source.name, as_of=best.as_of, project=best.project,
                      budget=_won(best.budget), spent=_won(best.spent),
                      rate=best.rate if best.rate is not None else "-")]
        if len(found) > 1:
            lines.append(tmsg("budget_exec_more", more=len(found) - 1))
        lines.append(tmsg("sample_note", public=public) if budget.source.sample else tmsg("more_at", public=public))
        return ToolReply("\n".join(lines), "budget", True, budget.source, tquick("budget"),
                         {"project": best.project})


def _bus_line(a: BusArrival) -> str:
    if a.minutes is None:
        eta = tmsg("bus_eta_unknown")
    elif a.minutes <= 1:
        eta = tmsg("bus_eta_soon")
    else:
        eta = tmsg("bus_eta_min", minutes=a.minutes)
    away = tmsg("bus_away", stops=a.stops_away) if a.stops_away else ""
    nxt = tmsg("bus_next", minutes=a.minutes2) if a.minutes2 is not None else ""
    if a.seats is not None:
        nxt += tmsg("bus_seats", seats=a.seats)
    line = tmsg("bus_line", route=a.route, eta=eta, away=away, next=nxt)
    return line + (tmsg("bus_status", status=a.status) if a.status else "")


def _won(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def _road_level(address: str) -> str:
    """An address as published, without the province prefix (the dataset is public; nothing is added)."""
    return re.sub(r"^경기도\s*", "", address)
