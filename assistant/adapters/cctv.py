"""CCTV locations from the national CCTV standard data (전국CCTV표준데이터): protocol, CSV reader, search.

Only the public dataset's columns are ever read or shown (address, purpose, camera count, installation
month, managing agency); no footage, no live status. The CSV comes in two header variants (old:
``설치년월``/``위도``/``경도``; new: ``개방자치단체코드,관리번호,…,설치연월,…,WGS84위도,WGS84경도``), in cp949
or UTF-8, with ``설치연월`` as ``YYYYMM`` or ``YYYY-MM``. ``CsvCCTVBackend`` reads the bundled made-up
sample (default, labelled 예시 데이터), a local file, or a published CSV URL (through ``ApiClient``,
cached for a day). ``find_cameras`` matches a place by 읍면동/도로명 substring on the two address
columns and, for places in the small gazetteer (``data/places.yaml``), by distance.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from .base import DataSource, opt_float, opt_int
from .client import ApiClient
from .errors import BadResponse

# header (either variant) -> field
_COLUMNS = {
    "관리기관명": "agency", "소재지도로명주소": "road_address", "소재지지번주소": "lot_address",
    "설치목적구분": "purpose", "카메라대수": "cameras", "설치연월": "installed", "설치년월": "installed",
    "WGS84위도": "lat", "위도": "lat", "WGS84경도": "lon", "경도": "lon", "데이터기준일자": "as_of",
}
_REQUIRED = {"road_address", "lot_address", "purpose"}


@dataclass(frozen=True, slots=True)
class Camera:
    agency: str
    road_address: str
    lot_address: str
    purpose: str  # 설치목적구분: 생활방범, 교통단속, 어린이보호, 차량방범, 시설물관리, 재난재해, 쓰레기단속, 기타
    cameras: int | None
    installed: str  # YYYY-MM ("" when unknown)
    lat: float | None
    lon: float | None
    as_of: str  # 데이터기준일자

    @property
    def address(self) -> str:
        return self.road_address or self.lot_address


@dataclass(frozen=True, slots=True)
class CameraSet:
    cameras: tuple[Camera, ...]
    source: DataSource

    @property
    def as_of(self) -> str:
        dates = [c.as_of for c in self.cameras if c.as_of]
        return max(dates) if dates else "알 수 없음"


@dataclass(frozen=True, slots=True)
class CameraMatch:
    camera: Camera
    meters: int | None  # distance from a gazetteer place, when known


class CCTVBackend(Protocol):
    """The public list of CCTV installation sites of the city."""

    source: DataSource

    def cameras(self, deadline: float | None = None) -> CameraSet:
        """Every site in the dataset (cached by the implementation)."""
        ...


def decode_csv(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BadResponse("CSV is neither UTF-8 nor cp949", "cctv")


def installed_month(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 6 and 1 <= int(digits[4:6]) <= 12:
        return f"{digits[:4]}-{digits[4:6]}"
    return f"{digits[:4]}" if len(digits) == 4 else ""


def parse_csv(data: bytes) -> tuple[Camera, ...]:
    """Rows of a 전국CCTV표준데이터 CSV (either header variant, cp949 or UTF-8)."""
    reader = csv.reader(io.StringIO(decode_csv(data)))
    try:
        header = [h.strip().strip("\ufeff") for h in next(reader)]
    except StopIteration as exc:
        raise BadResponse("empty CSV", "cctv") from exc
    index = {_COLUMNS[h]: i for i, h in enumerate(header) if h in _COLUMNS}
    if not set(index) >= _REQUIRED:
        raise BadResponse(f"not a CCTV standard-data CSV (header {header[:6]})", "cctv")

    def col(row: list[str], name: str) -> str:
        i = index.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    out = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        out.append(Camera(col(row, "agency"), col(row, "road_address"), col(row, "lot_address"),
                          col(row, "purpose"), opt_int(col(row, "cameras")),
                          installed_month(col(row, "installed")), opt_float(col(row, "lat")),
                          opt_float(col(row, "lon")), col(row, "as_of")))
    return tuple(out)


class CsvCCTVBackend:
    """The standard-data CSV from the bundled sample, a local file or a URL (``client``)."""

    def __init__(self, source: DataSource, path: Path | None = None, client: ApiClient | None = None,
                 url_path: str = "", params: dict[str, str] | None = None) -> None:
        self.source = source
        self.path = path
        self.client = client
        self.url_path = url_path
        self.params = params or {}
        self._local: tuple[Camera, ...] | None = None

    @classmethod
    def sample(cls) -> CsvCCTVBackend:
        path = Path(str(resources.files("assistant.adapters").joinpath("data/sample_cctv.csv")))
        return cls(DataSource("예시 데이터(실제 CCTV 위치 아님)", "https://www.data.go.kr", sample=True), path)

    def cameras(self, deadline: float | None = None) -> CameraSet:
        if self.client is not None:
            rows = self.client.get(self.url_path, self.params, lambda r: parse_csv(r.content), deadline=deadline)
            return CameraSet(rows, self.source)
        if self._local is None:
            assert self.path is not None
            self._local = parse_csv(self.path.read_bytes())
        return CameraSet(self._local, self.source)


@lru_cache(maxsize=1)
def places() -> dict[str, tuple[float, float]]:
    """Approximate coordinates of well-known places (stations, city hall) for distance matching."""
    raw = resources.files("assistant.adapters").joinpath("data/places.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(raw) or {}
    out = {str(k): (float(v[0]), float(v[1])) for k, v in (data.get("places") or {}).items()}
    for alias, name in (data.get("aliases") or {}).items():
        if str(name) in out:
            out[str(alias).lower()] = out[str(name)]
    return out


def meters(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def find_cameras(cams: CameraSet, place: str, purpose: str | None = "생활방범",
                 radius_m: float = 700.0) -> list[CameraMatch]:
    """Sites whose address contains ``place`` (읍면동, 도로명, 리), or within ``radius_m`` of a gazetteer
    place; filtered by 설치목적구분 when ``purpose`` is given. Nearest first, then by address."""
    q = _squash(place)
    if len(q) < 2:
        return []
    keep: Callable[[Camera], bool] = (lambda c: purpose in c.purpose) if purpose else (lambda c: True)
    centre = places().get(q.lower()) or places().get(re.sub(r"(역|앞|근처|주변)$", "", q) + "역")
    out: list[CameraMatch] = []
    for c in cams.cameras:
        if not keep(c):
            continue
        dist = meters(centre, (c.lat, c.lon)) if centre and c.lat is not None and c.lon is not None else None
        if dist is not None and dist <= radius_m:
            out.append(CameraMatch(c, round(dist)))
        elif q in _squash(c.road_address) or q in _squash(c.lot_address):
            out.append(CameraMatch(c, None))
    out.sort(key=lambda m: (m.meters is None, m.meters or 0, m.camera.address))
    return out


def known_places() -> tuple[str, ...]:
    return tuple(places())


def purpose_label(purpose: str | None) -> str:
    return f"{purpose} " if purpose else ""


def camera_count(matches: list[CameraMatch]) -> int:
    return sum(m.camera.cameras or 0 for m in matches)

