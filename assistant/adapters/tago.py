"""국토교통부 TAGO bus open API through 공공데이터포털: ``TagoTrafficBackend``.

- stop search: ``{base}/BusSttnInfoInqireService/getSttnNoList?serviceKey=&cityCode=&nodeNm=&_type=json``
  -> ``response.body.items.item[]`` (nodeid, nodenm, nodeno, gpslati, gpslong);
- arrivals: ``{base}/ArvlInfoInqireService/getSttnAcctoArvlInfoList?serviceKey=&cityCode=&nodeId=&_type=json``
  -> ``response.body.items.item[]`` (routeno, routeid, arrtime seconds, arrprevstationcnt, vehicletp,
  routetp), one item per approaching bus (a route can appear twice).
``base`` is the API root, by default ``https://apis.data.go.kr/1613000``; 남양주 is cityCode 31130.
Quirks handled: ``items`` as ``""`` when empty, ``item`` as an object when single, numeric route numbers,
header result codes (``00`` ok, ``03`` no data) and the gateway's XML errors.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx

from .base import DataSource, as_list, opt_float, opt_int, text
from .client import ApiClient, json_body
from .errors import BackendRejected, BackendUnavailable, BadResponse, RateLimited
from .traffic import SEOUL, ArrivalBoard, BusArrival, BusStop, sort_arrivals

DEFAULT_BASE_URL = "https://apis.data.go.kr/1613000"


class TagoTrafficBackend:
    source = DataSource("국토교통부 TAGO 버스정보", "https://www.data.go.kr")

    def __init__(self, client: ApiClient, api_key: str, city_code: str = "31130",
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.client = client
        self.api_key = api_key
        self.city_code = city_code
        self.clock = clock or (lambda: dt.datetime.now(SEOUL))

    def search_stops(self, name: str, deadline: float | None = None) -> list[BusStop]:
        rows = self.client.get("BusSttnInfoInqireService/getSttnNoList",
                               {"serviceKey": self.api_key, "cityCode": self.city_code, "nodeNm": name,
                                "_type": "json", "numOfRows": 30, "pageNo": 1},
                               lambda r: self._items(r)[1], deadline=deadline)
        return [BusStop(text(s.get("nodeid")), text(s.get("nodenm")), text(s.get("nodeno")), "",
                        opt_float(s.get("gpslati")), opt_float(s.get("gpslong")))
                for s in rows if isinstance(s, dict) and text(s.get("nodeid"))]

    def arrivals(self, stop: BusStop, deadline: float | None = None) -> ArrivalBoard:
        observed, rows = self.client.get(
            "ArvlInfoInqireService/getSttnAcctoArvlInfoList",
            {"serviceKey": self.api_key, "cityCode": self.city_code, "nodeId": stop.stop_id,
             "_type": "json", "numOfRows": 100, "pageNo": 1},
            self._items, deadline=deadline)
        by_route: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for a in rows:
            if isinstance(a, dict):
                by_route[text(a.get("routeid")) or text(a.get("routeno"))].append(a)
        items = []
        for buses in by_route.values():
            buses.sort(key=lambda b: (opt_int(b.get("arrtime")) is None, opt_int(b.get("arrtime")) or 0))
            first, second = buses[0], buses[1] if len(buses) > 1 else {}
            sec1, sec2 = opt_int(first.get("arrtime")), opt_int(second.get("arrtime"))
            items.append(BusArrival(
                route=text(first.get("routeno")), route_id=text(first.get("routeid")),
                minutes=None if sec1 is None else sec1 // 60,
                stops_away=opt_int(first.get("arrprevstationcnt")),
                minutes2=None if sec2 is None else sec2 // 60,
                stops_away2=opt_int(second.get("arrprevstationcnt")),
                low_floor="저상" in text(first.get("vehicletp"))))
        return ArrivalBoard(stop, sort_arrivals(items), observed, self.source)

    def _items(self, response: httpx.Response) -> tuple[dt.datetime, list[Any]]:
        data = json_body(response, "traffic")
        envelope = data.get("response") if isinstance(data, dict) else None
        if not isinstance(envelope, dict):
            raise BadResponse("no response envelope", "traffic")
        header = envelope.get("header") or {}
        code = text(header.get("resultCode"))
        if code in ("03", "3"):  # NODATA_ERROR
            return self.clock(), []
        if code == "22":
            raise RateLimited("TAGO resultCode 22", "traffic")
        if code in ("01", "04", "05", "99"):
            raise BackendUnavailable(f"TAGO resultCode {code}", "traffic")
        if code not in ("00", "0"):
            raise BackendRejected(f"TAGO resultCode {code!r} {text(header.get('resultMsg'))}", "traffic")
        body = envelope.get("body") or {}
        if not isinstance(body, dict):
            raise BadResponse("body is not an object", "traffic")
        items = body.get("items")
        if items in (None, ""):
            return self.clock(), []
        if not isinstance(items, dict):
            raise BadResponse("items is not an object", "traffic")
        return self.clock(), as_list(items.get("item"))
