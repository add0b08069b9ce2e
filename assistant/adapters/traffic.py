"""Bus information: the ``TrafficBackend`` protocol, its data types and the offline sample backend.

Real backends: ``GbisTrafficBackend`` (경기도 버스정보, adapters/gbis.py) and ``TagoTrafficBackend``
(국토교통부 TAGO, adapters/tago.py). ``SampleTrafficBackend`` answers from the bundled, made-up
``data/sample_bus.yaml`` (every answer says 예시 데이터) so the embedded default works offline.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

import yaml

from .base import DataSource, opt_int, text

SEOUL = dt.timezone(dt.timedelta(hours=9), "KST")


@dataclass(frozen=True, slots=True)
class BusStop:
    stop_id: str  # GBIS stationId (228000123) or TAGO nodeid (GGB228000123)
    name: str
    number: str = ""  # the 5-digit number on the stop sign (GBIS mobileNo, TAGO nodeno)
    region: str = ""
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class BusArrival:
    route: str  # route name as on the bus ("1", "165", "1200")
    route_id: str = ""
    minutes: int | None = None  # next bus: predicted minutes (None = no prediction)
    stops_away: int | None = None
    minutes2: int | None = None  # the bus after it
    stops_away2: int | None = None
    seats: int | None = None  # remaining seats of the next bus, where reported
    low_floor: bool = False
    destination: str = ""  # 방면
    status: str = ""  # "" running, "회차지 대기", "운행 종료"


@dataclass(frozen=True, slots=True)
class ArrivalBoard:
    stop: BusStop
    arrivals: tuple[BusArrival, ...]
    observed_at: dt.datetime  # when the backend produced the data (its query time, else our fetch time)
    source: DataSource


class TrafficBackend(Protocol):
    """Bus stops and arrivals of one bus information system."""

    source: DataSource

    def search_stops(self, name: str, deadline: float | None = None) -> list[BusStop]:
        """Stops whose name contains ``name`` (city's own stops first); [] when none."""
        ...

    def arrivals(self, stop: BusStop, deadline: float | None = None) -> ArrivalBoard:
        """Arrival predictions at ``stop``; an empty board when no bus is on its way."""
        ...


def squash(s: str) -> str:
    return re.sub(r"[\s.·()]+", "", s)


def sort_arrivals(items: list[BusArrival]) -> tuple[BusArrival, ...]:
    return tuple(sorted(items, key=lambda a: (a.minutes is None, a.minutes or 0, a.route)))


@lru_cache(maxsize=1)
def _sample() -> dict[str, Any]:
    raw = resources.files("assistant.adapters").joinpath("data/sample_bus.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(raw) or {}
    return data


class SampleTrafficBackend:
    """Offline sample (예시 데이터): made-up stops and fixed predictions in the real schema."""

    source = DataSource("예시 데이터(실제 버스 정보 아님)", "https://www.gbis.go.kr", sample=True)

    def __init__(self, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.clock = clock or (lambda: dt.datetime.now(SEOUL))
        data = _sample()
        self.stops = [BusStop(text(s["id"]), s["name"], text(s.get("number")), "남양주")
                      for s in data.get("stops", [])]
        self.boards: dict[str, list[dict[str, Any]]] = {text(s["id"]): s.get("arrivals", [])
                                                         for s in data.get("stops", [])}

    def search_stops(self, name: str, deadline: float | None = None) -> list[BusStop]:
        q = squash(name)
        return [s for s in self.stops if q and (q in squash(s.name) or squash(s.name) in q)]

    def arrivals(self, stop: BusStop, deadline: float | None = None) -> ArrivalBoard:
        items = [BusArrival(route=text(a["route"]), minutes=opt_int(a.get("minutes")),
                            stops_away=opt_int(a.get("stops")), minutes2=opt_int(a.get("minutes2")),
                            stops_away2=opt_int(a.get("stops2")), seats=opt_int(a.get("seats")),
                            destination=text(a.get("destination")))
                 for a in self.boards.get(stop.stop_id, [])]
        return ArrivalBoard(stop, sort_arrivals(items), self.clock(), self.source)
