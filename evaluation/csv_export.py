"""CSV downloads of a report: the summary table, the consensus per image, and one row per label.

Each file is one plain table with a header row; the rule and its parameters travel in columns of
their own (comment lines would break plain csv readers). Cells that a spreadsheet would run as a
formula are defused with a leading quote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from .reports import LABELS, Report

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str | int | float:
    """A cell a spreadsheet will show as text: strings starting with = + - @ tab or CR get a leading quote.

    Numbers are written as numbers (a negative number is data, not a formula), so readers get them back.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    text = str(value)
    # A cell that already starts with the quote gets one more, so `unquote` can always undo this.
    return "'" + text if text.startswith((*FORMULA_STARTS, "'")) else text


def unquote(cell: str) -> str:
    """The original text of a cell written by `safe_cell` (for readers that need ids back exactly).

    Image ids are random url-safe strings, so one in 64 starts with "-" and is written with a quote.
    """
    return cell[1:] if cell.startswith("'") and cell[1:].startswith((*FORMULA_STARTS, "'")) else cell


def render(rows: Iterable[Iterable]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue()


def _rule(report: Report) -> list:
    s = report.settings
    return [report.threshold, report.annotators_per_image, s.tie_policy, s.inconclusive, s.max_attention_fail_rate,
            s.min_attention_checks]


RULE_HEADER = ["threshold", "annotators_per_image", "tie_policy", "inconclusive", "max_attention_fail_rate",
               "min_attention_checks"]
PROVENANCE_HEADER = ["campaign_id", "model_id", "job_id", "job_seed", "pool_seed"]


def _provenance(report: Report) -> list:
    return [report.campaign.pk, report.model_id, report.job_id, report.job_seed, report.pool_seed]


def summary_rows(report: Report) -> list[list]:
    header = ["scheme", "images", "consensus_images", "no_consensus", "ties", "incomplete", "unlabelled"]
    for i, _ in enumerate(LABELS, start=1):
        header += [f"L{i}_count", f"L{i}_fraction", f"L{i}_low", f"L{i}_high"]
    header += ["dr_n", "dr_amortised_mean", "dr_optimised_mean", "fleiss_kappa", "fleiss_kappa_low", "fleiss_kappa_high",
               "krippendorff_alpha", "krippendorff_alpha_low", "krippendorff_alpha_high"]
    header += [f"ds_L{i}_fraction" for i in range(1, len(LABELS) + 1)]
    header += ["l1_vs_low_active_p_fisher", "l1_vs_low_active_p_holm"]
    header += RULE_HEADER + PROVENANCE_HEADER + ["excluded_annotators"]
    tests = {t.baseline: t for t in report.tests}
    rows: list[list] = [header]
    for row in [*report.schemes, report.overall]:
        f = row.fractions
        out: list = [row.scheme, f.n_images, f.n_consensus, f.n_no_consensus, f.n_ties, f.n_incomplete, row.n_unlabelled]
        for count, fraction, interval in zip(f.counts, f.fractions, f.intervals, strict=True):
            out += [count, fraction, interval.low if interval else None, interval.high if interval else None]
        kappa_ci, alpha_ci = row.agreement_intervals.fleiss_kappa, row.agreement_intervals.krippendorff_alpha
        out += [row.dr_n, row.dr_amortised, row.dr_optimised]
        out += [row.fleiss_kappa, kappa_ci.low if kappa_ci else None, kappa_ci.high if kappa_ci else None]
        out += [row.krippendorff_alpha, alpha_ci.low if alpha_ci else None, alpha_ci.high if alpha_ci else None]
        out += list(row.ds_fractions)
        test = tests.get(row.scheme)
        out += [test.p_value if test else None, test.p_holm if test else None]
        out += _rule(report) + _provenance(report) + [" ".join(report.excluded)]
        rows.append(out)
    return rows


def consensus_rows(report: Report) -> list[list]:
    header = ["image_id", "scheme", *[f"votes_L{i}" for i in range(1, len(LABELS) + 1)], "votes", "consensus", "tie"]
    header += ["ds_label", "ds_probability", "dr_amortised", "dr_optimised", *RULE_HEADER, *PROVENANCE_HEADER]
    rows: list[list] = [header]
    rule = _rule(report) + _provenance(report)
    for image in report.images:
        rows.append(
            [image.public_id, image.scheme, *image.votes, sum(image.votes), image.consensus, image.tie,
             image.ds_label, image.ds_probability, image.dr_amortised, image.dr_optimised, *rule]
        )
    return rows


def label_rows(report: Report) -> list[list]:
    rows: list[list] = [["image_id", "scheme", "annotator", "label", "time_spent_ms", "created_at", "excluded"]]
    for label in report.labels:
        rows.append(
            [label.public_id, label.scheme, label.pseudonym, label.label, label.time_spent_ms,
             label.created_at.isoformat(), label.excluded]
        )
    return rows



def annotator_rows(report: Report) -> list[list]:
    rows: list[list] = [[
        "annotator", "labels", "median_time_ms", "agree", "on_consensus", "agreement", "agree_others",
        "on_others_consensus", "agreement_others", "attention_seen", "attention_failed", "excluded", *RULE_HEADER,
    ]]
    rule = _rule(report)
    for a in report.annotators:
        rows.append(
            [a.pseudonym, a.n_labels, a.median_time_ms, a.n_agree, a.n_on_consensus, a.agreement, a.n_agree_others,
             a.n_on_others_consensus, a.agreement_others, a.attention_seen, a.attention_failed, a.excluded, *rule]
        )
    return rows


# The files a report can be downloaded as, by the name used in URLs, file names and the command.
KINDS = {"summary": summary_rows, "consensus": consensus_rows, "labels": label_rows, "annotators": annotator_rows}
