"""Citizen-facing Korean text of the dialogue (``messages/dialogue.yaml``)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


@lru_cache(maxsize=1)
def _messages() -> dict[str, Any]:
    text = resources.files("assistant").joinpath("messages/dialogue.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text) or {}
    return data


def msg(key: str) -> str:
    return str(_messages()[key]).strip()


def quick(key: str) -> tuple[str, ...]:
    return tuple(str(x) for x in _messages()["quick"][key])
