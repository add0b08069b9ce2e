"""Budget execution: the ``BudgetBackend`` protocol, its data type, project matching and the sample backend.

The plan documents' budget figures (소요예산) are answered by the knowledge index; this adds execution
figures (예산현액, 지출액, 집행률) per detailed project (세부사업) from 지방재정365 (``Lofin365BudgetBackend``
in adapters/lofin.py) or, offline, from the bundled made-up ``data/sample_budget.yaml`` (labelled
예시 데이터). Amounts are kept exactly as the source gives them (원); the rate is spent / budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

import yaml

from .base import DataSource, opt_int, text


@dataclass(frozen=True, slots=True)
class Execution:
    project: str  # 세부사업명 (dbiz_nm)
    department: str
    budget: int | None  # 예산현액 (원)
    spent: int | None  # 지출액 (원)
    as_of: str  # 집행 기준일 YYYY-MM-DD

    @property
    def rate(self) -> float | None:
        if not self.budget or self.spent is None:
            return None
        return round(100 * self.spent / self.budget, 1)


class BudgetBackend(Protocol):
    """Execution figures of the city's detailed projects for the current fiscal year."""

    source: DataSource

    def executions(self, deadline: float | None = None) -> tuple[Execution, ...]:
        """Every detailed project's execution row (cached by the implementation)."""
        ...


_GENERIC = re.compile(
    r"사업비?|예산|집행률?|현황|실적|금액|올해|지금까지|지금|현재|남양주시?|시에서|얼마나?|몇\s*(프로|퍼센트|%)?|"
    r"프로|퍼센트|썼어요|썼나요|썼는지|썼|쓴|남았어요|남았나요|남은|남았|됐어요|되었나요|했어요|했나요|"
    r"알려\s*(줘|주세요)|인가요|예요|이에요|나요|어요|요|좀|\s")


def match_projects(rows: tuple[Execution, ...], query: str) -> list[Execution]:
    """Rows whose 세부사업명 contains the query's words (spaces ignored), best match first."""
    words = [w for w in re.findall(r"[가-힣A-Za-z0-9]{2,}", _GENERIC.sub(" ", query))]
    if not words:
        return []
    scored = []
    for row in rows:
        name = re.sub(r"\s+", "", row.project)
        hit = sum(len(w) for w in words if w in name)
        total = sum(len(w) for w in words)
        if hit and hit / total >= 0.6:
            scored.append((hit / total, -len(name), row))
    scored.sort(key=lambda t: (-t[0], -t[1]))
    return [row for _, _, row in scored]


def row_to_execution(row: dict[str, Any], as_of: str) -> Execution:
    return Execution(text(row.get("dbiz_nm")), text(row.get("dept_nm") or row.get("dept_hg_nm")),
                     opt_int(row.get("bdg_cash_amt")), opt_int(row.get("ep_amt")),
                     text(row.get("exe_ymd")) or as_of)


@lru_cache(maxsize=1)
def _sample() -> dict[str, Any]:
    raw = resources.files("assistant.adapters").joinpath("data/sample_budget.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(raw) or {}
    return data


class SampleBudgetBackend:
    source = DataSource("예시 데이터(실제 집행 실적 아님)", "https://www.lofin365.go.kr", sample=True)

    def executions(self, deadline: float | None = None) -> tuple[Execution, ...]:
        data = _sample()
        return tuple(row_to_execution(r, text(data.get("as_of"))) for r in data.get("rows", []))
