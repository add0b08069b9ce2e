"""Types shared by every adapter: where data comes from (``DataSource``) and the lenient field readers
that absorb real-world quirks of public APIs (a single item sent as an object instead of a list, empty
values as ``""``, numbers sent as strings and strings as numbers, ``-1`` meaning "unknown")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class DataSource:
    """Who publishes the data, shown to the citizen with every answer."""

    name: str  # Korean, e.g. "경기도 버스정보"
    url: str  # the public page a citizen can check, e.g. https://www.gbis.go.kr
    sample: bool = False  # True for the bundled offline sample data (labelled 예시 데이터 in answers)


def as_list(value: Any) -> list[Any]:
    """``[...]`` -> list, ``{...}`` (a single item) -> [item], ``""``/``None`` -> []."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    return [value]


def text(value: Any) -> str:
    """Any scalar as a trimmed string (route names arrive as numbers: ``1`` -> ``"1"``)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def opt_int(value: Any, minimum: int = 0) -> int | None:
    """An integer, or None for ``""``, ``None``, garbage and values below ``minimum`` (``-1`` = unknown)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        n = int(float(str(value).replace(",", "").strip()))
    except ValueError:
        return None
    return n if n >= minimum else None


def opt_float(value: Any) -> float | None:
    try:
        return float(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None
