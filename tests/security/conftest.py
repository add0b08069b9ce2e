"""Shared set-up of the security suite: the real app (``create_app``) over the mini corpus with the
deterministic hashing embedder, with every protected feature switched on (staff login, export token,
Open311 keys, Twilio signatures), so each test exercises the production guards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.auth import hash_password
from assistant.settings import (
    AdminSettings,
    ChatSettings,
    KnowledgeSettings,
    Open311Settings,
    Settings,
    TwilioSettings,
)
from channels.app import create_app
from tests.conftest import MINI_DOC

ADMIN_USER, ADMIN_PASSWORD = "kim", "kim-비밀번호-1"
ADMIN_TOKEN = "export-token-Zq1"
OPEN311_KEY = "open311-key-Zq1"
TWILIO_TOKEN = "twilio-auth-token-Zq1"
PUBLIC_BASE = "https://assistant.example.kr"


def security_settings(data_dir: Path, corpus_dir: Path, **overrides: Any) -> Settings:
    """Settings of the app under attack: every guard on, rate limits lifted unless ``chat`` is given."""
    values: dict[str, Any] = dict(
        data_dir=data_dir,
        knowledge=KnowledgeSettings(corpus_dir=corpus_dir, embedder="hashing"),
        admin=AdminSettings(token=ADMIN_TOKEN, secret_key="security-suite-key",
                            users={ADMIN_USER: hash_password(ADMIN_PASSWORD, iterations=1000)}),
        open311=Open311Settings(api_keys=[OPEN311_KEY]),
        twilio=TwilioSettings(auth_token=TWILIO_TOKEN, public_base_url=PUBLIC_BASE),
        chat=ChatSettings(rate_per_s=1000.0, burst=100_000),
    )
    values.update(overrides)
    return Settings(**values)


def write_corpus(folder: Path, extra: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mini-plan.md").write_text(MINI_DOC, encoding="utf-8")
    for name, text in (extra or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture()
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = security_settings(tmp_path / "data", write_corpus(tmp_path / "corpus"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client
