"""Complaint tracking on SQLite and on real PostgreSQL (when reachable): receipt numbers, deadlines,
duplicates, lifecycle with audit trail, no lost update, citizen lookup, call-back jobs."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.complaints.deadlines import add_working_days, add_working_hours, due_at, due_state
from assistant.complaints.store import ComplaintStore, Conflict, NewComplaint, NotFound, normalise_address
from assistant.hours import SEOUL, OfficeHours
from assistant.storage import Database

MON_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SEOUL)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ComplaintStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'c.db'}"
    else:
        from tests.conftest import _reachable

        if not _reachable("127.0.0.1", 5432):
            pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
        url = request.getfixturevalue("pg_url")
    db = Database(url)
    db.create_schema()
    yield ComplaintStore(db)
    db.engine.dispose()


def pothole(**kw: object) -> NewComplaint:
    base = dict(description="도로에 포트홀이 크게 패였어요", category="도로·시설 보수", department="시민시장담당관",
                team="현장기동팀", kind="생활불편", address="남양주시 별내3로 308 앞", phone="010-1234-5678")
    base.update(kw)
    return NewComplaint(**base)  # type: ignore[arg-type]


def test_receipt_is_committed_with_deadline_and_audit(store: ComplaintStore) -> None:
    filed = store.file(pothole(), now=MON_10)
    c = filed.complaint
    assert filed.duplicate_of is None
    assert c["id"] == "NYJ-20261123-0001" and c["status"] == "접수" and c["team"] == "현장기동팀"
    assert c["expected_at"] == add_working_days(MON_10, 7, OfficeHours())
    second = store.file(pothole(address="진접읍 해밀예당1로 12", description="가로등 고장"), now=MON_10)
    assert second.complaint["id"] == "NYJ-20261123-0002"
    assert [e["action"] for e in store.history(c["id"])] == ["접수"]
    assert store.jobs(c["id"])[0]["kind"] == "pending"


def test_urgent_is_due_in_three_working_hours(store: ComplaintStore) -> None:
    c = store.file(pothole(urgent=True), now=dt.datetime(2026, 11, 23, 17, 0, tzinfo=SEOUL)).complaint
    assert c["kind"] == "즉시"
    assert c["expected_at"].astimezone(SEOUL) == dt.datetime(2026, 11, 24, 11, 0, tzinfo=SEOUL)


def test_repeat_report_links_to_the_open_one(store: ComplaintStore) -> None:
    first = store.file(pothole(), now=MON_10).complaint
    again = store.file(pothole(address="남양주시 별내3로 308앞", description="포트홀 아직도 그대로예요"),
                       now=MON_10 + dt.timedelta(days=2))
    assert again.duplicate_of == first["id"]
    assert store.get(first["id"])["repeat_count"] == 1
    elsewhere = store.file(pothole(address="다산중앙로 1"), now=MON_10)
    assert elsewhere.duplicate_of is None
    assert store.stats()["repeats"] == 1


def test_lifecycle_transitions_and_audit(store: ComplaintStore) -> None:
    cid = store.file(pothole(), now=MON_10).complaint["id"]
    c = store.change(cid, "agent-1", team="바로처리팀", department="시민시장담당관")
    assert c["status"] == "배정" and c["team"] == "바로처리팀"
    c = store.change(cid, "agent-1", status="처리중", note="현장 확인")
    c = store.change(cid, "agent-2", status="처리완료", note="보수 완료")
    assert c["status"] == "처리완료" and c["closed_at"] is not None and c["due_state"] == "done"
    with pytest.raises(Conflict):
        store.change(cid, "agent-2", status="접수")
    actions = [(e["from_status"], e["to_status"]) for e in store.history(cid)]
    assert actions[-1] == ("처리중", "처리완료") and len(actions) == 4
    assert any(j["kind"] == "satisfaction" for j in store.jobs(cid))
    with pytest.raises(NotFound):
        store.change("NYJ-20000101-9999", "x", status="처리중")


def test_no_lost_update(store: ComplaintStore) -> None:
    cid = store.file(pothole(), now=MON_10).complaint["id"]
    version = store.get(cid)["version"]
    store.change(cid, "agent-1", note="첫 번째", expected_version=version)
    with pytest.raises(Conflict):
        store.change(cid, "agent-2", note="두 번째", expected_version=version)
    results: list[str] = []

    def worker(name: str) -> None:
        try:
            store.change(cid, name, note=name, expected_version=version + 1)
            results.append("ok")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and results.count("conflict") == 3


def test_citizen_lookup_needs_receipt_and_phone_digits(store: ComplaintStore) -> None:
    cid = store.file(pothole(), now=MON_10).complaint["id"]
    assert store.lookup(cid.lower(), "5678")["id"] == cid  # type: ignore[index]
    assert store.lookup(cid, "0000") is None
    assert store.lookup(cid, "") is None
    assert store.lookup("NYJ-20000101-0001", "5678") is None


def test_callback_jobs_are_claimed_once(store: ComplaintStore) -> None:
    for i in range(6):
        store.file(pothole(address=f"다산로 {i}", description=f"민원 {i}"), now=MON_10)
    later = MON_10 + dt.timedelta(days=10)
    claimed: list[int] = []
    lock = threading.Lock()

    def claim(name: str) -> None:
        got = store.claim_due_jobs(name, now=later, limit=4)
        with lock:
            claimed.extend(j["id"] for j in got)

    threads = [threading.Thread(target=claim, args=(f"worker-{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == len(set(claimed))  # never claimed twice
    if store.db.engine.dialect.name == "postgresql":
        assert len(claimed) == 6  # SKIP LOCKED: concurrent workers take different rows at once
    claimed += [j["id"] for j in store.claim_due_jobs("sweeper", now=later, limit=10)]
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 6
    assert store.claim_due_jobs("late", now=later) == []
    store.finish_job(claimed[0], ok=False, result="SMS 실패", retry_in=dt.timedelta(hours=1), now=later)
    assert store.claim_due_jobs("retry", now=later + dt.timedelta(hours=2))


def test_deadline_arithmetic() -> None:
    office = OfficeHours()
    # Friday 17:00 + 3 working hours = Monday 11:00
    fri = dt.datetime(2026, 11, 20, 17, 0, tzinfo=SEOUL)
    assert add_working_hours(fri, 3, office) == dt.datetime(2026, 11, 23, 11, 0, tzinfo=SEOUL)
    # 14 working days across 추석 2026 (9/24-9/26) and 개천절/한글날
    assert due_at("건의", dt.datetime(2026, 9, 21, 10, 0, tzinfo=SEOUL), office).date() == dt.date(2026, 10, 15)
    now = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SEOUL)
    assert due_state(now - dt.timedelta(minutes=1), now, False) == "overdue"
    assert due_state(now + dt.timedelta(hours=5), now, False) == "near_due"
    assert due_state(now + dt.timedelta(days=5), now, False) == "on_time"


def test_address_normalisation() -> None:
    assert normalise_address("경기도 남양주시 별내3로 308") == normalise_address("별내3로308")
    assert normalise_address("금곡동 123-45번지") == normalise_address("금곡동 12345")
