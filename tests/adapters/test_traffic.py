"""Bus information backends: one contract every ``TrafficBackend`` passes (sample, GBIS, TAGO), then each
public API's real response shapes and quirks served by a local HTTP server on 127.0.0.1:0."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from assistant.adapters.client import ApiClient
from assistant.adapters.errors import (
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    BadResponse,
    RateLimited,
)
from assistant.adapters.gbis import GbisTrafficBackend
from assistant.adapters.tago import TagoTrafficBackend
from assistant.adapters.traffic import BusStop, SampleTrafficBackend, TrafficBackend

from .server import ScriptedServer, scripted_server

GBIS_ARR = "/busarrivalservice/v2/getBusArrivalListv2"
GBIS_STA = "/busstationservice/v2/getBusStationListv2"
TAGO_ARR = "/ArvlInfoInqireService/getSttnAcctoArvlInfoList"
TAGO_STA = "/BusSttnInfoInqireService/getSttnNoList"


@pytest.fixture()
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def api(server: ScriptedServer, **kw: object) -> ApiClient:
    opts: dict[str, object] = {"timeout_s": 1.0, "retries": 1, "backoff_s": 0.01}
    opts.update(kw)
    return ApiClient("traffic", server.url, **opts)  # type: ignore[arg-type]


class TrafficContract:
    """Every TrafficBackend: finds 별내역 by name, answers arrivals with a labelled source and time."""

    def backend(self, server: ScriptedServer) -> TrafficBackend:
        raise NotImplementedError

    def test_search_then_arrivals(self, server: ScriptedServer) -> None:
        b = self.backend(server)
        stops = b.search_stops("별내역")
        assert stops and all(s.stop_id and "별내역" in s.name for s in stops)
        board = b.arrivals(stops[0])
        assert board.stop == stops[0] and board.source is b.source and board.source.name
        assert board.observed_at.tzinfo is not None
        routes = [a.route for a in board.arrivals]
        assert "1" in routes and all(isinstance(r, str) for r in routes)
        first = next(a for a in board.arrivals if a.route == "1")
        assert first.minutes is not None and first.minutes >= 0
        timed = [a.minutes for a in board.arrivals if a.minutes is not None]
        assert timed == sorted(timed)  # soonest first


class TestSampleContract(TrafficContract):
    def backend(self, server: ScriptedServer) -> TrafficBackend:
        return SampleTrafficBackend()

    def test_labelled_sample_and_unknown_names(self, server: ScriptedServer) -> None:
        b = SampleTrafficBackend()
        assert b.source.sample and "예시" in b.source.name
        assert b.search_stops("없는정류장이름") == []


class TestGbisContract(TrafficContract):
    def backend(self, server: ScriptedServer) -> TrafficBackend:
        server.fixture(GBIS_STA, "gbis_stations.json")
        server.fixture(GBIS_ARR, "gbis_arrivals.json")
        return GbisTrafficBackend(api(server), "K")


class TestTagoContract(TrafficContract):
    def backend(self, server: ScriptedServer) -> TrafficBackend:
        server.fixture(TAGO_STA, "tago_stations.json")
        server.fixture(TAGO_ARR, "tago_arrivals.json")
        return TagoTrafficBackend(api(server), "K")


STOP = BusStop("228000701", "별내역", "14143", "남양주")


def test_gbis_fields_and_quirks(server: ScriptedServer) -> None:
    server.fixture(GBIS_ARR, "gbis_arrivals.json")
    board = GbisTrafficBackend(api(server), "K").arrivals(STOP)
    assert board.observed_at == dt.datetime(2026, 3, 5, 14, 5, 12, tzinfo=board.observed_at.tzinfo)
    one, express, waiting = board.arrivals
    assert (one.route, one.minutes, one.stops_away, one.minutes2, one.stops_away2) == ("1", 4, 2, 19, 9)
    assert one.low_floor and one.seats is None and one.destination == "도농역"  # remainSeatCnt -1 = unknown
    assert (express.route, express.seats, express.minutes2, express.stops_away2) == ("1100", 18, None, None)
    assert waiting.route == "165" and waiting.minutes is None and waiting.status == "회차지 대기"
    _path, params = server.requests[-1]
    assert params["stationId"] == ["228000701"] and params["format"] == ["json"]
    assert params["serviceKey"] == ["K"]


def test_gbis_single_item_object_and_string_ids(server: ScriptedServer) -> None:
    server.fixture(GBIS_ARR, "gbis_arrivals_single.json")
    server.fixture(GBIS_STA, "gbis_station_single.json")
    b = GbisTrafficBackend(api(server), "K")
    stops = b.search_stops("평내호평역")
    assert [(s.stop_id, s.number) for s in stops] == [("228000711", "14902")]  # " 14902" trimmed
    board = b.arrivals(stops[0])
    assert [(a.route, a.minutes) for a in board.arrivals] == [("30", 1)]


def test_gbis_city_stops_first(server: ScriptedServer) -> None:
    server.fixture(GBIS_STA, "gbis_stations.json")
    stops = GbisTrafficBackend(api(server), "K").search_stops("별내역")
    assert [s.region for s in stops] == ["남양주", "남양주", "서울"]


def test_gbis_result_code_4_is_an_empty_board_not_an_error(server: ScriptedServer) -> None:
    server.fixture(GBIS_ARR, "gbis_no_result.json")
    server.fixture(GBIS_STA, "gbis_no_result.json")
    b = GbisTrafficBackend(api(server), "K")
    assert b.arrivals(STOP).arrivals == ()
    assert b.search_stops("없는곳") == []


def test_gbis_rate_limit_code_and_gateway_errors(server: ScriptedServer) -> None:
    for _ in range(2):
        server.fixture(GBIS_ARR, "gbis_rate_limited.json")
    with pytest.raises(RateLimited):
        GbisTrafficBackend(api(server), "K").arrivals(STOP)
    server.fixture(GBIS_ARR, "datagokr_bad_key.xml", content_type="text/xml")
    with pytest.raises(BackendRejected):
        GbisTrafficBackend(api(server), "bad").arrivals(STOP)


def test_5xx_then_recovery_is_retried(server: ScriptedServer) -> None:
    server.add(GBIS_ARR, "<html>502 Bad Gateway</html>", status=502, content_type="text/html")
    server.fixture(GBIS_ARR, "gbis_arrivals.json")
    board = GbisTrafficBackend(api(server), "K").arrivals(STOP)
    assert len(board.arrivals) == 3 and server.hits(GBIS_ARR) == 2


def test_5xx_persisting_is_unavailable(server: ScriptedServer) -> None:
    server.add(GBIS_ARR, "down", status=503, sticky=True)
    with pytest.raises(BackendUnavailable):
        GbisTrafficBackend(api(server), "K").arrivals(STOP)


def test_timeout(server: ScriptedServer) -> None:
    server.fixture(GBIS_ARR, "gbis_arrivals.json", delay_s=1.0, sticky=True)
    with pytest.raises(BackendTimeout):
        GbisTrafficBackend(api(server, timeout_s=0.2, retries=0), "K").arrivals(STOP)


@pytest.mark.parametrize("body", ['{"response": ', '{"response": {"msgHeader": {}}}', "[]",
                                  '{"response": {"msgHeader": {"resultCode": 0}, "msgBody": "x"}}'])
def test_malformed_bodies(server: ScriptedServer, body: str) -> None:
    server.add(GBIS_ARR, body)
    with pytest.raises(BadResponse):
        GbisTrafficBackend(api(server), "K").arrivals(STOP)


def test_unreachable_server_is_unavailable() -> None:
    with scripted_server() as s:
        url = s.url
    c = ApiClient("traffic", url, timeout_s=0.5, retries=0)
    with pytest.raises(BackendUnavailable):
        GbisTrafficBackend(c, "K").arrivals(STOP)


def test_cache_serves_repeat_questions(server: ScriptedServer) -> None:
    server.fixture(GBIS_ARR, "gbis_arrivals.json")
    b = GbisTrafficBackend(api(server, cache_ttl_s=20), "K")
    first, again = b.arrivals(STOP), b.arrivals(STOP)
    assert first == again and server.hits(GBIS_ARR) == 1


def test_tago_groups_buses_by_route_and_converts_seconds(server: ScriptedServer) -> None:
    server.fixture(TAGO_ARR, "tago_arrivals.json")
    board = TagoTrafficBackend(api(server), "K").arrivals(BusStop("GGB228000701", "별내역"))
    one, express = board.arrivals
    assert (one.route, one.minutes, one.stops_away, one.minutes2, one.stops_away2) == ("1", 4, 2, 18, 9)
    assert one.low_floor and express.route == "1100" and express.minutes == 11
    _, params = server.requests[-1]
    assert params["cityCode"] == ["31130"] and params["nodeId"] == ["GGB228000701"]
    assert params["_type"] == ["json"]


def test_tago_single_item_and_empty_items(server: ScriptedServer) -> None:
    server.fixture(TAGO_ARR, "tago_arrivals_single.json")
    server.fixture(TAGO_ARR, "tago_empty.json")
    b = TagoTrafficBackend(api(server), "K")
    assert [(a.route, a.minutes) for a in b.arrivals(BusStop("GGB228000711", "평내호평역")).arrivals] == [("30", 0)]
    assert b.arrivals(BusStop("GGB228000799", "어딘가")).arrivals == ()


def test_tago_header_codes(server: ScriptedServer) -> None:
    server.add(TAGO_ARR, '{"response":{"header":{"resultCode":"03","resultMsg":"NODATA_ERROR"}}}')
    server.add(TAGO_ARR, '{"response":{"header":{"resultCode":"30","resultMsg":"SERVICE_KEY_IS_NOT_REGISTERED_ERROR"}}}')
    b = TagoTrafficBackend(api(server), "K")
    assert b.arrivals(BusStop("GGB1", "x")).arrivals == ()
    with pytest.raises(BackendRejected):
        b.arrivals(BusStop("GGB2", "y"))
    server.add(TAGO_ARR, "Too Many Requests", status=429, sticky=True)
    with pytest.raises(RateLimited):
        b.arrivals(BusStop("GGB3", "z"))
