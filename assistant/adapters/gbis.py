"""경기도 버스정보(GBIS) open API v2 through 공공데이터포털: ``GbisTrafficBackend``.

- stop search: ``{base}/busstationservice/v2/getBusStationListv2?serviceKey=&keyword=&format=json``
  -> ``response.msgBody.busStationList[]`` (stationId, stationName, mobileNo, regionName, x, y);
- arrivals: ``{base}/busarrivalservice/v2/getBusArrivalListv2?serviceKey=&stationId=&format=json``
  -> ``response.msgHeader`` (resultCode 0 ok, 4 no result; queryTime) and ``response.msgBody.busArrivalList[]``
  (routeName, routeId, predictTime1/2 minutes, predictTimeSec1/2, locationNo1/2, remainSeatCnt1/2,
  lowPlate1, routeDestName, flag PASS/STOP/WAIT).
``base`` is the API root, by default ``https://apis.data.go.kr/6410000``. Quirks handled: a single item
as an object, ``""`` for a missing second bus, numeric route names, ``-1`` for unknown values, non-zero
result codes with empty bodies, and the gateway's XML errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx

from .base import DataSource, as_list, opt_float, opt_int, text
from .client import ApiClient, json_body
from .errors import BackendRejected, BackendUnavailable, BadResponse, RateLimited
from .traffic import SEOUL, ArrivalBoard, BusArrival, BusStop, sort_arrivals

DEFAULT_BASE_URL = "https://apis.data.go.kr/6410000"
_FLAGS = {"WAIT": "회차지 대기", "STOP": "운행 종료"}


class GbisTrafficBackend:
    source = DataSource("경기도 버스정보", "https://www.gbis.go.kr")

    def __init__(self, client: ApiClient, api_key: str, region: str = "남양주",
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.client = client
        self.api_key = api_key
        self.region = region
        self.clock = clock or (lambda: dt.datetime.now(SEOUL))

    def search_stops(self, name: str, deadline: float | None = None) -> list[BusStop]:
        rows = self.client.get("busstationservice/v2/getBusStationListv2",
                               {"serviceKey": self.api_key, "keyword": name, "format": "json"},
                               lambda r: self._body(r, "busStationList")[1], deadline=deadline)
        stops = [BusStop(text(s.get("stationId")), text(s.get("stationName")), text(s.get("mobileNo")),
                         text(s.get("regionName")), opt_float(s.get("y")), opt_float(s.get("x")))
                 for s in rows if isinstance(s, dict) and text(s.get("stationId"))]
        # the city's own stops first (a keyword such as 시청 matches stops in every city)
        return sorted(stops, key=lambda s: self.region not in s.region)

    def arrivals(self, stop: BusStop, deadline: float | None = None) -> ArrivalBoard:
        observed, rows = self.client.get(
            "busarrivalservice/v2/getBusArrivalListv2",
            {"serviceKey": self.api_key, "stationId": stop.stop_id, "format": "json"},
            lambda r: self._body(r, "busArrivalList"), deadline=deadline)
        items = [_arrival(a) for a in rows if isinstance(a, dict)]
        return ArrivalBoard(stop, sort_arrivals(items), observed, self.source)

    def _body(self, response: httpx.Response, key: str) -> tuple[dt.datetime, list[Any]]:
        data = json_body(response, "traffic")
        envelope = data.get("response", data) if isinstance(data, dict) else None
        if not isinstance(envelope, dict):
            raise BadResponse("no response envelope", "traffic")
        header = envelope.get("msgHeader") or {}
        code = opt_int(header.get("resultCode"), minimum=-1)
        if code is None:
            raise BadResponse("no msgHeader.resultCode", "traffic")
        observed = _query_time(text(header.get("queryTime"))) or self.clock()  # cached with the data
        if code == 4:  # 결과가 존재하지 않습니다: no bus on its way / no such stop name
            return observed, []
        if code == 8:
            raise RateLimited(f"GBIS resultCode 8 {text(header.get('resultMessage'))}", "traffic")
        if code == 1:
            raise BackendUnavailable("GBIS resultCode 1 (system error)", "traffic")
        if code != 0:
            raise BackendRejected(f"GBIS resultCode {code} {text(header.get('resultMessage'))}", "traffic")
        body = envelope.get("msgBody") or {}
        if not isinstance(body, dict):
            raise BadResponse("msgBody is not an object", "traffic")
        return observed, as_list(body.get(key))


def _arrival(a: dict[str, Any]) -> BusArrival:
    sec = opt_int(a.get("predictTimeSec1"))
    minutes = opt_int(a.get("predictTime1"))
    if minutes is None and sec is not None:
        minutes = sec // 60
    return BusArrival(
        route=text(a.get("routeName")), route_id=text(a.get("routeId")), minutes=minutes,
        stops_away=opt_int(a.get("locationNo1")), minutes2=opt_int(a.get("predictTime2")),
        stops_away2=opt_int(a.get("locationNo2")), seats=opt_int(a.get("remainSeatCnt1")),
        low_floor=text(a.get("lowPlate1")) == "1", destination=text(a.get("routeDestName")),
        status=_FLAGS.get(text(a.get("flag")).upper(), ""))


def _query_time(value: str) -> dt.datetime | None:
    """GBIS ``queryTime`` ("2026-03-05 14:05:12.3") in Korean time."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace(" ", "T")[:19]).replace(tzinfo=SEOUL)
    except ValueError:
        return None
