"""지방재정365 open API: ``Lofin365BudgetBackend`` (세부사업별 세출현황, service ``QWGJK`` by default).

``GET {base}/{SERVICE}?Key=&Type=json&pIndex=&pSize=&fyr=&laf_cd=&exe_ymd=`` answers
``{"<SERVICE>": [{"head": [{"list_total_count": n}, {"RESULT": {"CODE": "INFO-000", …}}]}, {"row": […]}]}``
or, with no data or an error, ``{"RESULT": {"CODE": …, "MESSAGE": …}}``. ``INFO-000`` ok; ``INFO-200`` no data
(not an error); ``ERROR-337`` daily call limit (transient: retried with backoff, then a polite answer);
``ERROR-500/600/601`` server errors (transient); other ``ERROR-*`` are request/key problems. Pages are
fetched until a short page. ``base`` defaults to ``https://www.lofin365.go.kr/lf/hub``; 남양주시 is
``laf_cd`` 4136000.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx

from .base import DataSource, as_list, text
from .budget import Execution, row_to_execution
from .client import ApiClient, json_body
from .errors import BackendRejected, BackendUnavailable, BadResponse, RateLimited

DEFAULT_BASE_URL = "https://www.lofin365.go.kr/lf/hub"
KST = dt.timezone(dt.timedelta(hours=9))


class Lofin365BudgetBackend:
    source = DataSource("지방재정365", "https://www.lofin365.go.kr")

    def __init__(self, client: ApiClient, api_key: str, laf_cd: str = "4136000", service: str = "QWGJK",
                 page_size: int = 1000, max_pages: int = 20,
                 today: Callable[[], dt.date] | None = None) -> None:
        self.client = client
        self.api_key = api_key
        self.laf_cd = laf_cd
        self.service = service
        self.page_size = page_size
        self.max_pages = max_pages
        self.today = today or (lambda: dt.datetime.now(KST).date())

    def executions(self, deadline: float | None = None) -> tuple[Execution, ...]:
        day = self.today() - dt.timedelta(days=1)  # the latest complete day of execution records
        as_of = day.isoformat()
        out: list[Execution] = []
        for page in range(1, self.max_pages + 1):
            rows = self.client.get(self.service, {
                "Key": self.api_key, "Type": "json", "pIndex": page, "pSize": self.page_size,
                "fyr": day.year, "laf_cd": self.laf_cd, "exe_ymd": day.strftime("%Y%m%d")},
                self._rows, deadline=deadline)
            out.extend(row_to_execution(r, as_of) for r in rows if isinstance(r, dict))
            if len(rows) < self.page_size:
                break
        return tuple(out)

    def _rows(self, response: httpx.Response) -> list[Any]:
        data = json_body(response, "budget")
        if not isinstance(data, dict):
            raise BadResponse("body is not an object", "budget")
        if "RESULT" in data:
            _check(data["RESULT"])
            return []
        parts = data.get(self.service)
        if not isinstance(parts, list):
            raise BadResponse(f"no {self.service} in body", "budget")
        rows: list[Any] = []
        for part in parts:
            if not isinstance(part, dict):
                continue
            for h in as_list(part.get("head")):
                if isinstance(h, dict) and "RESULT" in h:
                    _check(h["RESULT"])
            rows.extend(as_list(part.get("row")))
        return rows


def _check(result: Any) -> None:
    code = text(result.get("CODE")) if isinstance(result, dict) else ""
    message = text(result.get("MESSAGE")) if isinstance(result, dict) else ""
    if code in ("INFO-000", "INFO-200"):
        return
    if code == "ERROR-337":
        raise RateLimited(f"{code} {message}", "budget")
    if code in ("ERROR-500", "ERROR-600", "ERROR-601"):
        raise BackendUnavailable(f"{code} {message}", "budget")
    raise BackendRejected(f"{code or 'no code'} {message}", "budget")
