"""The participants who came by a campaign's study link: one row each, for the researcher who pays or rejects them
on the panel. Attention checks are judged by the report's exclusion rule, so "excluded" here is the report's."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from annotation.models import Campaign, Label, Participant
from annotation.panel import ATTENTION_EXPECTED, attention_rule

from .collection import is_fast, shown_time, speeder_floor_ms
from .reports import pseudonym


@dataclass
class ParticipantRow:
    annotator: str  # the pseudonym of labels.csv and annotators.csv ("" before the account exists)
    participant_id: str
    study_id: str
    session_id: str
    started_at: datetime
    finished_at: datetime | None
    labels: int  # attention checks included (they count towards the quota)
    median_time_ms: float | None  # over generated images, as the report's: the server's time, or the browser's if smaller
    attention_seen: int
    attention_failed: int
    outcome: str
    code_given: str
    excluded: bool  # by the report's attention rule, or by the researcher
    excluded_by_researcher: bool
    fast_labels: int = 0  # labels (checks included) faster than the speeder floor
    n_timed: int = 0

    @property
    def labels_without_checks(self) -> int:
        return self.labels - self.attention_seen

    @property
    def fast_share(self) -> float | None:
        return self.fast_labels / self.n_timed if self.n_timed else None

    @property
    def median_time_s(self) -> float | None:
        return None if self.median_time_ms is None else self.median_time_ms / 1000


def participant_table(campaign: Campaign) -> list[ParticipantRow]:
    participants = list(Participant.objects.filter(campaign=campaign).order_by("started_at", "pk"))
    users = [p.user_id for p in participants if p.user_id is not None]
    times: dict[int, list[int]] = {uid: [] for uid in users}
    counts = dict.fromkeys(users, 0)
    seen = dict.fromkeys(users, 0)
    failed = dict.fromkeys(users, 0)
    fast, timed = dict.fromkeys(users, 0), dict.fromkeys(users, 0)
    floor = speeder_floor_ms()
    rows = Label.objects.filter(campaign=campaign, annotator_id__in=users).annotate(shown_ms=shown_time()).values_list(
        "annotator_id", "value", "shown_ms", "item__sample_id")
    for uid, value, ms, sample_id in rows:
        counts[uid] += 1
        timed[uid] += ms is not None
        fast[uid] += is_fast(ms, floor)
        if ms is not None and sample_id is not None:  # the report's median: generated images only
            times[uid].append(ms)
        if sample_id is None:
            seen[uid] += 1
            failed[uid] += value != ATTENTION_EXPECTED
    min_checks, max_rate = attention_rule(campaign)
    table = []
    for p in participants:
        uid = p.user_id
        n_seen, n_failed = seen.get(uid, 0), failed.get(uid, 0)
        by_rule = n_seen >= min_checks and n_seen > 0 and n_failed / n_seen > max_rate
        table.append(ParticipantRow(
            annotator=pseudonym(campaign.pk, uid) if uid is not None else "", participant_id=p.participant_id, study_id=p.study_id, session_id=p.session_id, started_at=p.started_at,
            finished_at=p.finished_at, labels=counts.get(uid, 0),
            median_time_ms=float(statistics.median(times[uid])) if times.get(uid) else None,
            attention_seen=n_seen, attention_failed=n_failed, outcome=p.outcome, code_given=p.code_given,
            excluded=by_rule or p.excluded, excluded_by_researcher=p.excluded, fast_labels=fast.get(uid, 0),
            n_timed=timed.get(uid, 0)))
    return table


# annotator: the key of labels.csv and annotators.csv. The two label counts say whether attention checks are in them.
HEADER = ["annotator", "participant_id", "study_id", "session_id", "started_at", "finished_at", "labels_with_checks",
          "labels_without_checks", "median_time_ms", "attention_seen", "attention_failed", "fast_labels", "fast_share",
          "speeder_floor_ms", "outcome", "completion_code", "excluded", "excluded_by_researcher", "campaign_id",
          "min_attention_checks", "max_attention_fail_rate"]


def participant_rows(campaign: Campaign) -> list[list]:
    min_checks, max_rate = attention_rule(campaign)
    rows: list[list] = [HEADER]
    for r in participant_table(campaign):
        rows.append([r.annotator, r.participant_id, r.study_id, r.session_id, r.started_at.isoformat(),
                     r.finished_at.isoformat() if r.finished_at else None, r.labels, r.labels_without_checks,
                     r.median_time_ms, r.attention_seen, r.attention_failed, r.fast_labels, r.fast_share,
                     speeder_floor_ms(), r.outcome, r.code_given, r.excluded, r.excluded_by_researcher, campaign.pk,
                     min_checks, max_rate])
    return rows


def summary(campaign: Campaign) -> dict[str, int]:
    """Counts for the study dashboard's one line."""
    qs = Participant.objects.filter(campaign=campaign)
    return {
        "started": qs.exclude(user=None).count(),
        "finished": qs.exclude(user=None).exclude(finished_at=None).count(),
        "failed_checks": qs.filter(outcome="failed_checks").count(),
        "no_work": qs.filter(outcome="no_work").count(),
    }
