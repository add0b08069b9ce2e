"""Scale-out: two real API worker processes sharing PostgreSQL (complaints, audit, jobs) and Redis
(sessions, rate limits). A complaint dialogue alternates its turns between them and the complaint is
visible from both; the status check works on either; a client's rate limit is one budget across
workers. Each worker is ``python -m assistant serve`` configured only by environment variables."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_URL, _reachable, pg_schema_url
from tests.integration.appproc import AppProcess, Citizen, running, write_mini_corpus

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMPLAINT = ["보도블록이 깨져서 위험해요", "별내동 별내3로 {n} 앞", "어제부터", "네",
             "010-2345-{n:04d}", "네"]


@pytest.fixture(scope="module")
def shared_pg() -> Iterator[str]:
    """A private schema on the shared PostgreSQL for this module's processes."""
    yield from pg_schema_url()


@pytest.fixture(scope="module")
def workers(shared_pg: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppProcess, AppProcess]]:
    if not _reachable("127.0.0.1", 6379):
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    work = tmp_path_factory.mktemp("scale-out")
    corpus = write_mini_corpus(work / "corpus")
    env = {"ASSISTANT_DATABASE_URL": shared_pg, "ASSISTANT_REDIS_URL": REDIS_URL,
           # one budget per client address, shared by the workers through Redis
           "ASSISTANT_CHAT__RATE_PER_S": "0.2", "ASSISTANT_CHAT__BURST": "12",
           "ASSISTANT_OPEN311__API_KEYS": '["scale-key"]'}
    a = AppProcess("a", work, corpus, env)
    b = AppProcess("b", work, corpus, env)
    with running([a, b]):
        yield a, b


def new_citizen() -> Citizen:
    return Citizen(f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}")


def test_workers_are_separate_processes_sharing_state(workers: tuple[AppProcess, AppProcess]) -> None:
    a, b = workers
    assert a.proc is not None and b.proc is not None and a.proc.pid != b.proc.pid
    for app in (a, b):
        ready = httpx.get(f"{app.url}/readyz", timeout=5).json()
        assert ready == {"ready": True, "checks": {"models": True, "sessions": True, "database": True}}


def test_complaint_dialogue_alternates_between_workers(workers: tuple[AppProcess, AppProcess]) -> None:
    a, b = workers
    n = random.randint(1000, 9999)
    citizen = new_citizen()
    replies = []
    for i, line in enumerate(COMPLAINT):
        r = citizen.say((a, b)[i % 2], line.format(n=n))
        assert r.status_code == 200, r.text
        replies.append(r.json())
    assert replies[0]["intent"] == "complaint"
    assert "장소" in replies[0]["reply"]  # B continues what A started, and so on
    done = replies[-1]
    complaint = done["complaint"]
    assert complaint["id"].startswith("NYJ-") and complaint["id"] in done["reply"]
    # visible from both workers: Open311 reads PostgreSQL
    for app in (a, b):
        got = httpx.get(f"{app.url}/open311/v2/requests/{complaint['id']}.json", timeout=10)
        assert got.status_code == 200, got.text
        assert got.json()[0]["service_request_id"] == complaint["id"]
        assert got.json()[0]["agency_responsible"] == complaint["team"]
    # the citizen checks the status in a new conversation, alternating workers again
    checker = new_citizen()
    r = checker.say(b, f"{complaint['id']} 처리 상황 알려 주세요")
    assert r.status_code == 200 and r.json()["intent"] == "complaint_status"
    r = checker.say(a, f"{n:04d}")
    assert r.status_code == 200, r.text
    status = r.json()
    assert status["complaint"]["id"] == complaint["id"] and status["complaint"]["status"] == "접수"


def test_many_conversations_spread_over_both_workers(workers: tuple[AppProcess, AppProcess]) -> None:
    """Several citizens, every turn on a random worker: each conversation stays coherent."""
    a, b = workers
    rng = random.Random(7)
    citizens = [(new_citizen(), rng.randint(1000, 9999)) for _ in range(4)]
    ids = set()
    for step in range(len(COMPLAINT)):
        for citizen, n in citizens:
            r = citizen.say(rng.choice((a, b)), COMPLAINT[step].format(n=n))
            assert r.status_code == 200, r.text
            if step == len(COMPLAINT) - 1:
                ids.add(r.json()["complaint"]["id"])
    assert len(ids) == len(citizens)  # one receipt each, none lost or doubled


def test_rate_limit_is_one_budget_across_workers(workers: tuple[AppProcess, AppProcess]) -> None:
    """Burst 12 per client address: 8 requests on A then 8 on B from one address -> B refuses some,
    which B alone (8 < 12) would not have done."""
    a, b = workers
    citizen = new_citizen()
    codes_a = [citizen.say(a, "안녕하세요").status_code for _ in range(8)]
    codes_b = [citizen.say(b, "안녕하세요").status_code for _ in range(8)]
    assert codes_a == [200] * 8
    assert 429 in codes_b, codes_b  # B alone would have allowed all 8
    refused = httpx.post(f"{b.url}/api/chat", json={"message": "안녕하세요"}, timeout=10,
                         headers={"x-forwarded-for": citizen.ip})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "잠시 후 다시" in refused.json()["message"]
    # another address is not affected
    assert new_citizen().say(b, "안녕하세요").status_code == 200


def test_session_survives_in_redis_not_in_process(workers: tuple[AppProcess, AppProcess], tmp_path: Path) -> None:
    """A third worker started later takes over a conversation begun on A: nothing lived in A's memory."""
    a, b = workers
    citizen = new_citizen()
    assert citizen.say(a, "보도블록이 깨져서 위험해요").status_code == 200
    assert citizen.say(b, "진접읍 해밀예당1로 20").status_code == 200
    c = AppProcess("c", tmp_path, Path(a.env["ASSISTANT_KNOWLEDGE__CORPUS_DIR"]),
                   {k: v for k, v in a.env.items() if k.startswith("ASSISTANT_") and "DATA_DIR" not in k})
    with running([c]):
        r = citizen.say(c, "건너뛰기")
        assert r.status_code == 200 and "동의" in r.json()["reply"], r.json()
