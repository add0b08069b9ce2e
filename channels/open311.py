"""Open311 GeoReport v2 endpoint under ``/open311/v2/`` (spec: ``shared/specs/open311/``).

Owns: the public service list (one service per team of the routing table, ``routing.yaml``; the
ASCII ``service_code`` of each team is fixed in ``TEAM_CODES`` below, so codes stay stable when the
table is edited), the XML/JSON renderings in the spec's element names, intake of form-encoded
service requests from third-party clients (filed through the complaint store with channel
``open311``), the public request feed and the spec's error bodies.

Decisions worth knowing:
- Formats: ``.json`` and ``.xml``; any other extension is a 404 (answered in XML, the spec's
  mandatory format). Every error has the spec's body (``<errors><error><code/><description/>``).
- ``POST requests``: ``api_key`` (form or query) must be one of ``settings.open311.api_keys``
  (none configured = POST disabled, 403). ``service_code`` is required (unknown = 404); the service
  ``other`` lets the router choose the team. Otherwise the citizen's service decides the team and
  the router (or the ``HAZARD`` attribute) only decides urgency. Requests are created synchronously,
  so the answer carries ``service_request_id``; ``tokens/{id}`` resolves a token equal to the id.
- The public feed never shows phone, e-mail or name; descriptions and status notes go through
  ``mask_pii``, and so do addresses of complaints that did not come in through Open311 (a chat or
  phone address may be a citizen's home); an Open311 ``address_string`` keeps its street address but
  loses any other personal data typed into it (phone, 주민번호, account).
- A backend that is down or not ready answers 503 with the spec body (the spec's "400 general
  service error" would tell clients not to retry); nothing here answers 500.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from assistant.complaints.routing import RoutingTable, Team, load_table
from assistant.complaints.store import CLOSED, NewComplaint, NotFound
from assistant.errors import AssistantError
from assistant.hours import SEOUL
from assistant.logs import describe_failure
from assistant.pii import mask_pii
from assistant.settings import Settings

from .api_schema import errors

log = logging.getLogger("channels.open311")

FORMATS = ("json", "xml")
AUTO_CODE = "other"
HAZARD_CODE = "HAZARD"
MAX_DESCRIPTION = 4000
MAX_IDS = 200
MAX_RESULTS = 1000
WINDOW = dt.timedelta(days=90)
SCAN_PAGES = 50  # at most 50 000 rows read for one feed query

# Stable ASCII service codes per team (teams missing here get "team-<hash of the name>").
TEAM_CODES: dict[str, str] = {
    "현장기동팀": "field-response", "바로처리팀": "quick-fix", "진심소통팀": "citizen-voice",
    "민원콜센터팀": "call-center", "기획팀": "city-planning", "정책팀": "policy",
    "조직관리팀": "organization", "성과관리팀": "performance", "인구정책팀": "population",
    "의회법무팀": "council-legislation", "납세자보호관": "taxpayer-advocate", "송무팀": "litigation",
    "규제개혁팀": "regulatory-reform", "법률지원팀": "legal-aid", "인사기획팀": "hr-planning",
    "인사운영팀": "hr-operations", "인재양성팀": "staff-training", "노사협력팀": "labor-relations",
    "예산팀": "budget", "재정심사팀": "fiscal-review", "공공기관관리팀": "public-agencies",
    "정보기획팀": "digital-strategy", "정보보호팀": "privacy-security", "행정정보팀": "admin-systems",
    "정보통신팀": "telecom-infra", "통신민원팀": "telecom-lines", "시전략팀": "ai-strategy",
    "빅데이터팀": "big-data", "스마트영상정보팀": "safety-cctv", "지능형교통정보팀": "traffic-signals",
}
# Services about things on the street, where "is anyone in danger?" is worth asking.
HAZARD_TEAMS = frozenset({"현장기동팀", "바로처리팀", "통신민원팀", "스마트영상정보팀", "지능형교통정보팀"})

# Citizen-facing text (Korean).
MSG = {
    "other_name": "기타 생활불편(담당 팀 자동 지정)",
    "other_description": "어느 팀 소관인지 모를 때 선택하세요. 내용을 읽고 담당 팀을 자동으로 정합니다.",
    "other_group": "시민시장담당관",
    "other_keywords": "기타, 모름, 생활불편, 민원",
    "hazard_description": "위험 여부: 사람이 다치거나 사고가 날 위험이 있나요?",
    "hazard_datatype": "예/아니요 중 하나를 고르세요. '예'이면 3근무시간 안에 우선 처리합니다.",
    "hazard_yes": "예, 위험해요",
    "hazard_no": "아니요",
    "notice": "{team}에서 처리합니다. 처리 예정: {due}.",
    "notice_closed": "{team} 담당 민원으로, 처리가 끝났습니다.",
    "notice_urgent": " 안전 위험 민원으로 우선 처리합니다.",
    "notice_duplicate": " 같은 장소의 민원({original})과 함께 처리합니다.",
    "address_id": "주소번호",
}

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_INPUT_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']+\.[^@\s<>\"']{2,}$")
_PHONE = re.compile(r"^[0-9+\-(). ]{2,32}$")
_ADDRESS_ID_IN_TEXT = re.compile(r"\s*\(" + MSG["address_id"] + r" ([A-Za-z0-9_-]{1,64})\)$")
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")


# --- OpenAPI declarations: what the routes really answer (checked by tests/security/test_fuzz_openapi.py) --
_ERRORS_SCHEMA = {"type": "array", "items": {"type": "object", "required": ["code", "description"], "properties": {
    "code": {"type": "integer"}, "description": {"type": "string"}}}}
_ERROR_TEXT = {400: "잘못된 요청", 403: "api_key 없음/틀림 또는 접수 기능 꺼짐", 404: "없는 서비스·요청·형식·관할",
               413: "본문이 너무 큼", 429: "요청이 너무 많음", 503: "일시 장애 (Retry-After 초 후 다시)"}


def _declared(ok: dict[str, Any], *codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for an Open311 route: JSON or XML bodies, errors in the spec's ``errors`` shape."""
    out: dict[int | str, dict[str, Any]] = {
        200: {"description": "성공 (.json 또는 .xml)",
              "content": {"application/json": {"schema": ok}, "text/xml": {"schema": {"type": "string"}}}},
        **errors(422)}
    for code in codes:
        out[code] = {"description": _ERROR_TEXT[code], "content": {
            "application/json": {"schema": _ERRORS_SCHEMA}, "text/xml": {"schema": {"type": "string"}}}}
        if code in (429, 503):
            out[code]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return out


_LIST = {"type": "array", "items": {"type": "object"}}
_QUERY = {"name": "jurisdiction_id", "in": "query", "required": False, "schema": {"type": "string"}}
_FEED_QUERY = [_QUERY] + [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                          for name in ("service_request_id", "service_code", "start_date", "end_date", "status")]
_POST_FIELDS = {
    "api_key": {"type": "string"}, "jurisdiction_id": {"type": "string"}, "service_code": {"type": "string"},
    "lat": {"type": "number"}, "long": {"type": "number"}, "address_string": {"type": "string"},
    "address_id": {"type": "string"}, "email": {"type": "string"}, "device_id": {"type": "string"},
    "account_id": {"type": "string"}, "first_name": {"type": "string"}, "last_name": {"type": "string"},
    "phone": {"type": "string"}, "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
    "media_url": {"type": "string"}, "attribute[HAZARD]": {"type": "string", "enum": ["yes", "no"]}}
_POST_BODY = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["api_key", "service_code"], "properties": _POST_FIELDS}}}}}


class Open311Error(Exception):
    """An answer in the spec's error shape: HTTP ``status`` and a ``description`` for the user."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# --- the service list ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Service:
    code: str
    name: str  # Korean category label
    description: str  # the team's duty
    group: str  # the department
    team: str  # "" for the automatically routed service
    keywords: str
    hazard: bool  # has the HAZARD attribute (metadata = true)

    def listing(self) -> dict[str, Any]:
        return {"service_code": self.code, "service_name": self.name, "description": self.description,
                "metadata": self.hazard, "type": "realtime", "keywords": self.keywords,
                "group": self.group}

    def definition(self) -> dict[str, Any]:
        attributes = [{
            "variable": True, "code": HAZARD_CODE, "datatype": "singlevaluelist", "required": False,
            "datatype_description": MSG["hazard_datatype"], "order": 1,
            "description": MSG["hazard_description"],
            "values": [{"key": "yes", "name": MSG["hazard_yes"]}, {"key": "no", "name": MSG["hazard_no"]}],
        }] if self.hazard else []
        return {"service_code": self.code, "attributes": attributes}


@dataclass(frozen=True, slots=True)
class Catalogue:
    services: tuple[Service, ...]

    @property
    def by_code(self) -> dict[str, Service]:
        return {s.code: s for s in self.services}

    def for_team(self, team: str) -> Service | None:
        return next((s for s in self.services if s.team and s.team == team), None)


def team_code(team: str) -> str:
    return TEAM_CODES.get(team) or "team-" + hashlib.sha1(team.encode()).hexdigest()[:8]


def _keywords(team: Team, limit: int = 8) -> str:
    """The category words, then the team's strongest keywords (comma separated, no duplicates)."""
    words = [w.strip() for label in (team.category, *(c for c, _ in team.categories))
             for w in re.split(r"[·/,()]", label)]
    words += [term.label for term, weight in sorted(team.keywords, key=lambda kw: -kw[1]) if weight > 0]
    unique = dict.fromkeys(w.replace(",", " ").strip() for w in words)
    return ", ".join([w for w in unique if w][:limit])


def build_catalogue(table: RoutingTable) -> Catalogue:
    """One service per team of the routing table (in the table's order), then ``other``."""
    services = [Service(code=team_code(team.name), name=team.category, description=" ".join(team.description.split()),
                        group=team.department, team=team.name, keywords=_keywords(team),
                        hazard=team.name in HAZARD_TEAMS)
                for team in table.teams.values()]
    services.append(Service(code=AUTO_CODE, name=MSG["other_name"], description=MSG["other_description"],
                            group=MSG["other_group"], team="", keywords=MSG["other_keywords"], hazard=True))
    return Catalogue(tuple(services))


_cache: dict[str, tuple[RoutingTable, Catalogue]] = {}


def catalogue_for(router: Any) -> Catalogue:
    """The catalogue of the table the running router uses (``TableRouter.table``), otherwise of the
    bundled ``assistant/complaints/routing.yaml``."""
    table = getattr(router, "table", None)
    if not isinstance(table, RoutingTable):
        if "bundled" not in _cache:
            bundled = load_table()
            _cache["bundled"] = (bundled, build_catalogue(bundled))
        return _cache["bundled"][1]
    cached = _cache.get("router")
    if cached is None or cached[0] is not table:
        cached = _cache["router"] = (table, build_catalogue(table))
    return cached[1]


# --- rendering -----------------------------------------------------------------------------------
_SINGULAR = {"services": "service", "service_requests": "request", "errors": "error",
             "attributes": "attribute", "values": "value"}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _XML_BAD.sub("", str(value))


def _fill(parent: ET.Element, data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        child = ET.SubElement(parent, key)
        if isinstance(value, list):
            for item in value:
                _fill(ET.SubElement(child, _SINGULAR.get(key, "item")), item)
        elif isinstance(value, Mapping):
            _fill(child, value)
        else:
            child.text = _text(value)


def render(fmt: str, root: str, payload: list[dict[str, Any]] | dict[str, Any], status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    """JSON: the payload as is (a list, or an object for a service definition). XML: ``<root>`` with
    one ``<service>``/``<request>``/``<error>`` per list item, or the object's fields."""
    if fmt == "json":
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return Response(body, status_code=status, headers=headers, media_type="application/json; charset=utf-8")
    element = ET.Element(root)
    if isinstance(payload, list):
        for item in payload:
            _fill(ET.SubElement(element, _SINGULAR[root]), item)
    else:
        _fill(element, payload)
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="utf-8",
                                                                     xml_declaration=False)
    return Response(body, status_code=status, headers=headers, media_type="text/xml; charset=utf-8")


def error_response(fmt: str, status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    return render(fmt, "errors", [{"code": status, "description": description}], status, headers)


def w3(value: dt.datetime | None) -> str | None:
    """W3C datetime in Korean time, e.g. ``2026-11-23T10:00:00+09:00``."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(SEOUL).isoformat(timespec="seconds")


def parse_w3(name: str, raw: str) -> dt.datetime:
    """A w3 datetime with a time zone (``Z`` or ``±hh:mm``); a bare date means 00:00 Korean time."""
    value = raw.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return dt.datetime.fromisoformat(value).replace(tzinfo=SEOUL)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})", value):
            raise ValueError(value)
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a w3 datetime with a time zone, "
                                f"e.g. 2026-01-01T00:00:00+09:00") from None
    return parsed


# --- helpers for input ---------------------------------------------------------------------------
def _clean(value: str) -> str:
    return _INPUT_BAD.sub("", unicodedata.normalize("NFC", value)).strip()


async def read_form(request: Request, limit: int) -> dict[str, list[str]]:
    """The form fields of a POST (``application/x-www-form-urlencoded``, UTF-8), then the query
    string's fields for names the form lacks (the swagger file puts them in the query)."""
    mime, _, params = request.headers.get("content-type", "").partition(";")
    if mime.strip() and mime.strip().lower() != "application/x-www-form-urlencoded":
        raise Open311Error(400, "POST body must be application/x-www-form-urlencoded")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", params, re.I)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        raise Open311Error(400, "the form must be encoded in UTF-8")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Open311Error(413, f"request body larger than {limit} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=200)
        query = parse_qsl(request.url.query, keep_blank_values=True, errors="strict", max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise Open311Error(400, "the form could not be read as UTF-8 url-encoded fields") from None
    fields: dict[str, list[str]] = {}
    for key, value in pairs:
        fields.setdefault(key, []).append(value)
    from_query: dict[str, list[str]] = {}
    for key, value in query:
        if key not in fields:
            from_query.setdefault(key, []).append(value)
    return fields | from_query


def _first(fields: Mapping[str, list[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return _clean(values[0])


def attributes(fields: Mapping[str, list[str]]) -> dict[str, str]:
    """``attribute[CODE]=v`` (and ``attribute[CODE][]=v``) as ``{CODE: v}`` (first value; codes upper-cased)."""
    found: dict[str, str] = {}
    for key, values in fields.items():
        m = _ATTRIBUTE.fullmatch(key)
        if m and values:
            found.setdefault(m.group(1).strip().upper(), _clean(values[0]).lower())
    return found


def _csv(values: Iterable[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def _coordinate(name: str, raw: str, bound: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number (WGS84 degrees)") from None
    if not math.isfinite(value) or not -bound <= value <= bound:
        raise Open311Error(400, f"{name} must be between -{bound:g} and {bound:g}")
    return value


def _person_name(first: str, last: str) -> str:
    if first and last and re.fullmatch(r"[가-힣]+", first + last):
        return (last + first)[:64]  # Korean order: family name first, no space
    return " ".join(p for p in (first, last) if p)[:64]


# --- request views -------------------------------------------------------------------------------
def _notice(team: str, expected: dt.datetime | None, urgent: bool, duplicate_of: str | None) -> str:
    """What the city will do; ``expected`` is None once the request is closed."""
    if expected is None:
        return MSG["notice_closed"].format(team=team)
    text = MSG["notice"].format(team=team, due=expected.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M"))
    if urgent:
        text += MSG["notice_urgent"]
    if duplicate_of:
        text += MSG["notice_duplicate"].format(original=duplicate_of)
    return text


def request_view(c: Mapping[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    """A complaint as a spec ``request``; phone, e-mail and name are never included."""
    service = catalogue.for_team(str(c.get("team") or "")) or catalogue.by_code.get(str(c.get("service_code")))
    closed = c["status"] in CLOSED
    notes = mask_pii(str(c.get("status_notes") or ""))
    address = str(c.get("address") or "")
    address_id = None
    found = _ADDRESS_ID_IN_TEXT.search(address)
    if found:
        address_id, address = found.group(1), address[:found.start()]
    # a location sent through Open311 is published as given (minus numbers that are personal data);
    # a chat or phone address may be a citizen's home, so it is masked whole
    address = mask_pii(address, keep_addresses=c.get("channel") == "open311")
    return {
        "service_request_id": c["id"],
        "status": "closed" if closed else "open",
        "status_notes": f"{c['status']}: {notes}" if notes else str(c["status"]),
        "service_name": service.name if service and service.team else str(c.get("category") or ""),
        "service_code": service.code if service else (str(c.get("service_code") or "") or None),
        "description": mask_pii(str(c.get("description") or "")),
        "agency_responsible": str(c.get("team") or "") or None,
        "service_notice": _notice(str(c.get("team") or ""), None if closed else c.get("expected_at"),
                                  bool(c.get("urgent")), c.get("duplicate_of")),
        "requested_datetime": w3(c.get("created_at")),
        "updated_datetime": w3((c.get("closed_at") if closed else None) or c.get("updated_at")),
        "expected_datetime": w3(c.get("expected_at")),
        "address": address or None,
        "address_id": address_id,
        "zipcode": None,
        "lat": c.get("lat"),
        "long": c.get("lon"),
        "media_url": str(c.get("media_url") or "") or None,
    }


# --- the router ----------------------------------------------------------------------------------
def open311_router(state: dict[str, Any], settings: Settings) -> APIRouter:
    """Routes under ``/open311/v2``; ``state`` (``complaints``, ``router``, ``ready``) is read per request."""
    router = APIRouter(prefix="/open311/v2", tags=["open311"])
    conf = settings.open311
    limit = settings.server.max_body_bytes

    def catalogue() -> Catalogue:
        return catalogue_for(state.get("router"))

    def store() -> Any:
        if not state.get("ready") or state.get("complaints") is None:
            raise AssistantError("complaint store not ready")
        return state["complaints"]

    def check_jurisdiction(value: str) -> None:
        given = value.strip().lower().removeprefix("www.")
        if given and given != conf.jurisdiction_id.lower().removeprefix("www."):
            raise Open311Error(404, f"jurisdiction_id not found: this endpoint serves {conf.jurisdiction_id}")

    async def guarded(raw_fmt: str, work: Callable[[str], Awaitable[Response]]) -> Response:
        fmt = raw_fmt.lower()
        if fmt not in FORMATS:
            return error_response("xml", 404, f"unknown format '{_XML_BAD.sub('', raw_fmt[:20])}': use .xml or .json")
        try:
            return await work(fmt)
        except Open311Error as exc:
            return error_response(fmt, exc.status, exc.description)
        except AssistantError as exc:
            log.warning("open311 backend unavailable: %s", describe_failure(exc))
            return error_response(fmt, 503, "service temporarily unavailable, please retry shortly",
                                  {"Retry-After": "5"})
        except Exception:
            log.exception("open311 request failed")
            return error_response(fmt, 400, "general service error: the request could not be processed")

    # --- services ---------------------------------------------------------------------------------
    @router.get("/services.{fmt}", responses=_declared(_LIST, 400, 404),
                openapi_extra={"parameters": [_QUERY]})
    async def list_services(request: Request, fmt: str) -> Response:
        async def work(f: str) -> Response:
            check_jurisdiction(request.query_params.get("jurisdiction_id", ""))
            return render(f, "services", [s.listing() for s in catalogue().services])
        return await guarded(fmt, work)

    @router.get("/services/{service_code}.{fmt}", responses=_declared({"type": "object"}, 400, 404),
                openapi_extra={"parameters": [_QUERY]})
    async def service_definition(request: Request, service_code: str, fmt: str) -> Response:
        async def work(f: str) -> Response:
            check_jurisdiction(request.query_params.get("jurisdiction_id", ""))
            service = catalogue().by_code.get(service_code)
            if service is None:
                raise Open311Error(404, f"service_code not found: {service_code[:64]}")
            return render(f, "service_definition", service.definition())
        return await guarded(fmt, work)

    # --- requests ---------------------------------------------------------------------------------
    @router.post("/requests.{fmt}", responses=_declared(_LIST, 400, 403, 404, 413, 429, 503),
                 openapi_extra=_POST_BODY)
    async def create_request(request: Request, fmt: str) -> Response:
        async def work(f: str) -> Response:
            fields = await read_form(request, limit)
            check_jurisdiction(_first(fields, "jurisdiction_id"))
            key = (fields.get("api_key") or [""])[0]
            if not conf.api_keys:
                raise Open311Error(403, "creating service requests is disabled on this server (no api_key issued)")
            if not key or not any(hmac.compare_digest(key.encode(), k.encode()) for k in conf.api_keys):
                raise Open311Error(403, "invalid or missing api_key -- can't proceed with create_request")
            new = await run_in_threadpool(intake, fields)
            filed = await run_in_threadpool(store().file, new)
            c = filed.complaint
            log.info("open311 request filed", extra={"fields": {"id": c["id"], "team": c["team"],
                                                              "urgent": bool(c["urgent"])}})
            notice = _notice(str(c["team"]), c.get("expected_at"), bool(c["urgent"]), filed.duplicate_of)
            return render(f, "service_requests", [{"service_request_id": c["id"], "service_notice": notice,
                                                   "account_id": None}])
        return await guarded(fmt, work)

    def intake(fields: dict[str, list[str]]) -> NewComplaint:
        """Validate the form and decide the team (runs in a worker thread: the router may be slow)."""
        code = _first(fields, "service_code")
        if not code:
            raise Open311Error(400, "service_code was not provided")
        cat = catalogue()
        service = cat.by_code.get(code)
        if service is None:
            raise Open311Error(404, f"service_code not found: {code[:64]}")
        lat_raw, long_raw = _first(fields, "lat"), _first(fields, "long")
        address = _first(fields, "address_string")
        address_id = _first(fields, "address_id")
        lat = lon = None
        if lat_raw or long_raw:
            if not (lat_raw and long_raw):
                raise Open311Error(400, "lat and long must be sent together")
            lat, lon = _coordinate("lat", lat_raw, 90.0), _coordinate("long", long_raw, 180.0)
        if lat is None and not address and not address_id:
            raise Open311Error(400, "a location is required: lat & long, address_string or address_id")
        if address_id:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", address_id):
                raise Open311Error(400, "address_id must be 1-64 letters, digits, '-' or '_'")
            address = f"{address} ({MSG['address_id']} {address_id})".strip()
        if len(address) > 300:
            raise Open311Error(400, "address_string is longer than 300 characters")
        description = _first(fields, "description")
        if not description:
            raise Open311Error(400, "description was not provided")
        if len(description) > MAX_DESCRIPTION:
            raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
        email, phone = _first(fields, "email"), _first(fields, "phone")
        if email and (len(email) > 200 or not _EMAIL.fullmatch(email)):
            raise Open311Error(400, "email is not a valid e-mail address")
        if phone and not _PHONE.fullmatch(phone):
            raise Open311Error(400, "phone is not a valid phone number")
        media_url = _first(fields, "media_url")
        parts = urlsplit(media_url) if media_url else None
        if parts is not None and (len(media_url) > 500 or parts.scheme not in ("http", "https") or not parts.netloc):
            raise Open311Error(400, "media_url must be an http(s) URL of at most 500 characters")
        hazard = attributes(fields).get(HAZARD_CODE, "")
        if hazard and (not service.hazard or hazard not in ("yes", "no")):
            if service.hazard:
                raise Open311Error(400, f"attribute[{HAZARD_CODE}] must be 'yes' or 'no'")
            hazard = ""
        try:
            route = state["router"].route(description) if state.get("router") is not None else None
        except ValueError:
            raise Open311Error(400, "description has no words to read") from None
        if service.team:
            team, department, category = service.team, service.group, service.name
            confidence = 1.0
            reason = f"Open311 service_code {service.code}"
            if route is not None:
                reason += f"; 자동분류 {route.team} ({route.reason})"
        elif route is not None:
            team, department, category = route.team, route.department, route.category
            confidence, reason = float(route.confidence), f"Open311 {AUTO_CODE}: {route.reason}"
            routed = cat.for_team(team)
            code = routed.code if routed else AUTO_CODE
        else:
            raise AssistantError("router not ready")
        urgent = bool(route is not None and route.urgent) or hazard == "yes"
        if hazard == "yes":
            reason += f"; 시민이 위험 있음으로 표시({HAZARD_CODE})"
        return NewComplaint(
            description=description, category=category, department=department, team=team, urgent=urgent,
            confidence=confidence, route_reason=reason[:1000], address=address, lat=lat, lon=lon,
            phone=phone, name=_person_name(_first(fields, "first_name"), _first(fields, "last_name")),
            email=email, media_url=media_url, channel="open311", service_code=code)

    @router.get("/requests.{fmt}", responses=_declared(_LIST, 400, 404, 503),
                openapi_extra={"parameters": _FEED_QUERY})
    async def list_requests(request: Request, fmt: str) -> Response:
        async def work(f: str) -> Response:
            q = request.query_params
            check_jurisdiction(q.get("jurisdiction_id", ""))
            cat = catalogue()
            ids = _csv(q.getlist("service_request_id"))
            if ids:
                if len(ids) > MAX_IDS:
                    raise Open311Error(400, f"at most {MAX_IDS} service_request_id values at once")
                rows = await run_in_threadpool(by_ids, ids)
            else:
                rows = await run_in_threadpool(feed, q, cat)
            return render(f, "service_requests", [request_view(c, cat) for c in rows])
        return await guarded(fmt, work)

    def by_ids(ids: list[str]) -> list[dict[str, Any]]:
        complaints = store()
        rows: list[dict[str, Any]] = []
        for cid in dict.fromkeys(i.upper() for i in ids if _ID.fullmatch(i)):
            try:
                rows.append(complaints.get(cid))
            except NotFound:
                continue
        return rows

    def feed(q: QueryParams, cat: Catalogue) -> list[dict[str, Any]]:
        statuses = {s.lower() for s in _csv(q.getlist("status"))}
        if statuses - {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both (comma separated)")
        start_raw, end_raw = q.get("start_date", "").strip(), q.get("end_date", "").strip()
        start = parse_w3("start_date", start_raw) if start_raw else None
        end = parse_w3("end_date", end_raw) if end_raw else None
        if start is None:
            end = end or dt.datetime.now(dt.UTC)
            start = end - WINDOW
        elif end is None:
            end = start + WINDOW
        if end < start:
            raise Open311Error(400, "end_date is before start_date")
        if end - start > WINDOW:
            raise Open311Error(400, "start_date and end_date may not span more than 90 days")
        teams: list[str | None] = [None]
        codes = _csv(q.getlist("service_code"))
        if codes:
            unknown = [c for c in codes if c not in cat.by_code]
            if unknown:
                raise Open311Error(404, f"service_code not found: {unknown[0][:64]}")
            teams = list(dict.fromkeys(cat.by_code[c].team for c in codes if cat.by_code[c].team))
            if not teams:
                return []
        complaints = store()
        found: dict[str, dict[str, Any]] = {}
        for team in teams:  # newest first; each team needs at most MAX_RESULTS matches
            matched = 0
            for page in range(SCAN_PAGES):
                rows = complaints.search(team=team, since=start, limit=MAX_RESULTS, offset=page * MAX_RESULTS)
                for c in rows:
                    state_ = "closed" if c["status"] in CLOSED else "open"
                    if c["created_at"] > end or (statuses and state_ not in statuses) or matched >= MAX_RESULTS:
                        continue
                    found[c["id"]] = c
                    matched += 1
                if len(rows) < MAX_RESULTS or matched >= MAX_RESULTS:
                    break
        ordered = sorted(found.values(), key=lambda c: c["created_at"], reverse=True)
        return ordered[:MAX_RESULTS]

    @router.get("/requests/{service_request_id}.{fmt}", responses=_declared(_LIST, 400, 404, 503),
                openapi_extra={"parameters": [_QUERY]})
    async def get_request(request: Request, service_request_id: str, fmt: str) -> Response:
        async def work(f: str) -> Response:
            check_jurisdiction(request.query_params.get("jurisdiction_id", ""))
            rows = await run_in_threadpool(by_ids, [service_request_id])
            if not rows:
                raise Open311Error(404, f"service_request_id not found: {_XML_BAD.sub('', service_request_id[:64])}")
            return render(f, "service_requests", [request_view(rows[0], catalogue())])
        return await guarded(fmt, work)

    @router.get("/tokens/{token}.{fmt}", responses=_declared(_LIST, 400, 404, 503),
                openapi_extra={"parameters": [_QUERY]})
    async def get_token(request: Request, token: str, fmt: str) -> Response:
        async def work(f: str) -> Response:
            check_jurisdiction(request.query_params.get("jurisdiction_id", ""))
            rows = await run_in_threadpool(by_ids, [token])
            if not rows:
                raise Open311Error(404, f"token not found: {_XML_BAD.sub('', token[:64])}")
            return render(f, "service_requests", [{"service_request_id": rows[0]["id"], "token": token}])
        return await guarded(fmt, work)

    @router.api_route("/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
    async def not_found(rest: str) -> Response:
        fmt = rest.rsplit(".", 1)[-1].lower() if "." in rest else "xml"
        return error_response(fmt if fmt in FORMATS else "xml", 404, "no such Open311 resource")

    return router
