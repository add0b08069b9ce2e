"""CCTV standard-data CSV (both header variants, cp949/UTF-8, 설치연월 formats, purpose filter, place and
distance matching; sample, file and URL backends) and budget execution (sample and 지방재정365: envelope,
pagination, INFO-200, ERROR-337, bad key) through one contract per protocol."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.adapters.base import DataSource
from assistant.adapters.budget import BudgetBackend, SampleBudgetBackend, match_projects
from assistant.adapters.cctv import CCTVBackend, CsvCCTVBackend, decode_csv, find_cameras, parse_csv
from assistant.adapters.client import ApiClient
from assistant.adapters.errors import BackendRejected, BadResponse, RateLimited
from assistant.adapters.lofin import Lofin365BudgetBackend

from .server import FIXTURES, ScriptedServer, scripted_server

OLD = FIXTURES / "cctv_old_header_cp949.csv"
SRC = DataSource("테스트", "https://www.data.go.kr")


@pytest.fixture()
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


class CCTVContract:
    def backend(self, server: ScriptedServer) -> CCTVBackend:
        raise NotImplementedError

    def test_public_columns_and_place_search(self, server: ScriptedServer) -> None:
        cams = self.backend(server).cameras()
        assert len(cams.cameras) == 18 and cams.source.name
        assert all(c.installed == "" or len(c.installed) in (4, 7) for c in cams.cameras)
        town = find_cameras(cams, "화도읍")
        assert town and all("화도읍" in m.camera.address and m.camera.purpose == "생활방범" for m in town)
        near = find_cameras(cams, "별내역")
        assert near and all(m.meters is not None and m.meters <= 700 for m in near)
        assert [m.meters for m in near] == sorted(m.meters or 0 for m in near)
        assert find_cameras(cams, "별내동", purpose=None) != find_cameras(cams, "별내동")  # 어린이보호 too
        assert find_cameras(cams, "없는동네") == [] and find_cameras(cams, "") == []


class TestSampleCCTV(CCTVContract):
    def backend(self, server: ScriptedServer) -> CCTVBackend:
        b = CsvCCTVBackend.sample()
        assert b.source.sample
        return b


class TestFileCCTV(CCTVContract):
    def backend(self, server: ScriptedServer) -> CCTVBackend:
        return CsvCCTVBackend(SRC, OLD)


class TestHttpCCTV(CCTVContract):
    def backend(self, server: ScriptedServer) -> CCTVBackend:
        server.add("/file/cctv.csv", OLD.read_bytes(), content_type="text/csv")
        return CsvCCTVBackend(SRC, client=ApiClient("cctv", f"{server.url}/file/cctv.csv", cache_ttl_s=60))


def test_both_header_variants_and_encodings_read_the_same() -> None:
    sample = Path(str(CsvCCTVBackend.sample().path)).read_bytes()
    new, old = parse_csv(sample), parse_csv(OLD.read_bytes())
    assert [c.address for c in new] == [c.address for c in old]
    assert [c.installed for c in new] == [c.installed for c in old]  # 202103 and 2021-03 -> 2021-03
    assert new[0].installed == "2021-03" and new[0].lat == 37.6431 and new[0].cameras == 2
    assert decode_csv("가".encode("cp949")) == "가"
    assert parse_csv(OLD.read_bytes().decode("cp949").encode("utf-8")) == old


def test_not_a_cctv_csv_is_bad_response() -> None:
    with pytest.raises(BadResponse):
        parse_csv("이름,주소\n가,나\n".encode())
    with pytest.raises(BadResponse):
        parse_csv(b"")
    with pytest.raises(BadResponse):
        parse_csv(b"\xff\xfe\x00\x81garbage")


def test_cctv_url_errors(server: ScriptedServer) -> None:
    server.add("/cctv.csv", "<html>점검 중</html>", content_type="text/html")
    with pytest.raises(BadResponse):
        CsvCCTVBackend(SRC, client=ApiClient("cctv", f"{server.url}/cctv.csv")).cameras()


class BudgetContract:
    def backend(self, server: ScriptedServer) -> BudgetBackend:
        raise NotImplementedError

    def test_rows_and_matching(self, server: ScriptedServer) -> None:
        rows = self.backend(server).executions()
        assert rows and all(r.project and r.as_of for r in rows)
        found = match_projects(rows, "스마트 교차로 사업 예산 얼마나 썼어요?")
        assert found and found[0].project.replace(" ", "").startswith("스마트교차로")
        best = found[0]
        assert best.budget and best.spent is not None and best.rate == round(100 * best.spent / best.budget, 1)
        assert match_projects(rows, "예산 얼마나 썼어요?") == []
        assert match_projects(rows, "우주정거장 건설 예산") == []


class TestSampleBudget(BudgetContract):
    def backend(self, server: ScriptedServer) -> BudgetBackend:
        b = SampleBudgetBackend()
        assert b.source.sample
        return b


class TestLofinBudget(BudgetContract):
    def backend(self, server: ScriptedServer) -> BudgetBackend:
        server.fixture("/QWGJK", "lofin_page1.json")
        server.fixture("/QWGJK", "lofin_page2.json")
        return Lofin365BudgetBackend(ApiClient("budget", server.url), "K", page_size=3)


def test_lofin_pagination_until_a_short_page(server: ScriptedServer) -> None:
    server.fixture("/QWGJK", "lofin_page1.json")
    server.fixture("/QWGJK", "lofin_page2.json")
    rows = Lofin365BudgetBackend(ApiClient("budget", server.url), "K", page_size=3).executions()
    assert len(rows) == 4 and server.hits("/QWGJK") == 2
    assert [p["pIndex"] for _, p in server.requests] == [["1"], ["2"]]
    cctv = next(r for r in rows if "CCTV" in r.project)
    assert (cctv.budget, cctv.spent, cctv.as_of) == (819000000, 201500000, "20260304")  # strings -> numbers


def test_lofin_info_200_is_no_data(server: ScriptedServer) -> None:
    server.fixture("/QWGJK", "lofin_no_data.json")
    assert Lofin365BudgetBackend(ApiClient("budget", server.url), "K").executions() == ()


def test_lofin_daily_limit_is_retried_then_rate_limited(server: ScriptedServer) -> None:
    server.fixture("/QWGJK", "lofin_limit.json")
    server.fixture("/QWGJK", "lofin_page2.json")
    ok = Lofin365BudgetBackend(ApiClient("budget", server.url, retries=1, backoff_s=0.01), "K")
    assert len(ok.executions()) == 1  # ERROR-337 once, then a (short) page
    server.fixture("/QWGJK", "lofin_limit.json", sticky=True)
    with pytest.raises(RateLimited):
        Lofin365BudgetBackend(ApiClient("budget", server.url, retries=1, backoff_s=0.01), "K2").executions()


def test_lofin_bad_key_and_malformed(server: ScriptedServer) -> None:
    server.fixture("/QWGJK", "lofin_bad_key.json")
    server.add("/QWGJK", '{"OTHER": []}')
    b = Lofin365BudgetBackend(ApiClient("budget", server.url, retries=0), "K")
    with pytest.raises(BackendRejected):
        b.executions()
    with pytest.raises(BadResponse):
        b.executions()
