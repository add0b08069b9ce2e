"""The call-back worker: claims due jobs and carries them out.

- ``satisfaction`` (a day after completion): an SMS asking whether the problem is really solved
  (reply or call the call center); without a phone number or SMS it goes to the agents' queue.
- ``pending`` (a complaint still open after N days): the agents' call-back queue, so delayed
  complaints are followed up ("지연민원 제로화").
Several workers may run at once: ``ComplaintStore.claim_due_jobs`` hands each job to one of them.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from ..notify import NotifyError, SmsSender
from .store import CLOSED, ComplaintStore

log = logging.getLogger(__name__)

SATISFACTION_SMS = ("[남양주시] 접수번호 {id} 민원 처리가 완료되었습니다. 불편이 해결되지 않았다면 이 번호로 "
                    "'미해결'이라고 답장하시거나 남양주시 민원콜센터로 연락해 주세요.")


@dataclass
class CallbackWorker:
    store: ComplaintStore
    sms: SmsSender | None
    name: str = "worker"
    retry_in: dt.timedelta = dt.timedelta(minutes=30)
    max_attempts: int = 3

    def run_once(self, now: dt.datetime | None = None, limit: int = 20) -> dict[str, int]:
        counts = {"sms": 0, "agent": 0, "skipped": 0, "failed": 0}
        for job in self.store.claim_due_jobs(self.name, now=now, limit=limit):
            c = self.store.get(job["complaint_id"])
            if job["kind"] == "pending" and c["status"] in CLOSED:
                self.store.finish_job(job["id"], True, "이미 처리 완료되어 생략")
                counts["skipped"] += 1
                continue
            if job["kind"] == "satisfaction" and job["channel"] == "sms" and c["phone"] and self.sms:
                try:
                    sid = self.sms.send(c["phone"], SATISFACTION_SMS.format(id=c["id"]))
                    self.store.finish_job(job["id"], True, f"SMS {sid}")
                    counts["sms"] += 1
                except NotifyError as exc:
                    retry = self.retry_in if exc.transient and job["attempts"] < self.max_attempts else None
                    self.store.finish_job(job["id"], False, str(exc), retry_in=retry, now=now)
                    counts["failed"] += 1
                continue
            self.store.finish_job(job["id"], True, "상담원 콜백 목록", status="agent")
            counts["agent"] += 1
        if any(counts.values()):
            log.info("call-back jobs", extra={"fields": counts})
        return counts
