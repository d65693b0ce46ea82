"""CSV downloads of a report: the summary table, the consensus per image, and one row per label.

Each file is one plain table with a header row; the rule and its parameters travel in columns of
their own (comment lines would break plain csv readers). Cells that a spreadsheet would run as a
formula are defused with a leading quote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from .reports import LABELS, METRICS, Report

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


def _interval(interval) -> list:
    return [interval.low if interval else None, interval.high if interval else None]


AUC_HEADER = ["metric", "target", "auc", "auc_low", "auc_high", "auc_boot_low", "auc_boot_high", "auc_images",
              "auc_positives", "within_auc", "within_auc_low", "within_auc_high", "within_auc_images",
              "within_auc_positives"]
# The primary hypothesis (the last rows, scheme = all like the surrogate rows: the schemes are in `hypothesis` and
# `comparison`): one row with analysis = hypothesis (the claim, its test, how the family is combined, every p-value
# and the verdict), then one row per registered comparison with analysis = hypothesis_comparison.
HYPOTHESIS_HEADER = ["hypothesis", "hypothesis_endpoint", "hypothesis_test", "hypothesis_direction",
                     "hypothesis_family", "hypothesis_alpha", "comparison", "comparison_target_value",
                     "comparison_value", "comparison_p_value", "comparison_p_adjusted", "comparison_in_direction",
                     "comparison_passes", "verdict", "verdict_reason"]
SUMMARY_HEADER = (
    # Intervals: `_low`/`_high` cross images and annotators (evaluation.intervals: the ones to read); `_wilson_`
    # treats images as independent and ignores annotators; `_boot_` is the two-way percentile bootstrap (over-covers).
    ["analysis", "scheme", "images", "consensus_images", "no_consensus", "no_consensus_share", "no_consensus_share_low",
     "no_consensus_share_high", "no_consensus_share_boot_low", "no_consensus_share_boot_high",
     "several_reach_threshold", "tied_for_most", "incomplete", "unlabelled"]
    + [f"L{i}_{what}" for i in range(1, len(LABELS) + 1) for what in ("count", "fraction", "low", "high",
                                                                         "wilson_low", "wilson_high",
                                                                         "boot_low", "boot_high")]
    + ["l1_vote_share", "dr_n", "dr_amortised_mean", "dr_optimised_mean",
       "fleiss_kappa", "fleiss_kappa_low", "fleiss_kappa_high", "fleiss_kappa_images", "fleiss_kappa_votes",
       "fleiss_kappa_note", "krippendorff_alpha", "krippendorff_alpha_low", "krippendorff_alpha_high",
       "krippendorff_alpha_images", "krippendorff_alpha_votes", "agreement_headline"]
    + [f"ds_L{i}_fraction" for i in range(1, len(LABELS) + 1)]
    + [f"ds_all_L{i}_fraction" for i in range(1, len(LABELS) + 1)]
    + ["ds_iterations", "ds_converged", "ds_ties"]
    + ["l1_vs_low_active_p_fisher", "l1_vs_low_active_p_holm", "l1_difference_low", "l1_difference_high",
       "l1_difference_boot_low", "l1_difference_boot_high",
       "l1_share_vs_low_active_p_permutation", "l1_share_vs_low_active_p_holm"]
    + [f"chance_L{i}" for i in range(1, len(LABELS) + 1)] + ["chance_none"]
    + RULE_HEADER + ["registered_at"] + PROVENANCE_HEADER + ["excluded_annotators"]
    # Who the exclusion rule left out, who the researcher excluded by hand, and whether the row applies the latter.
    + ["excluded_by_rule", "excluded_by_hand", "manual_exclusions"]
    # Surrogate metrics: their mean over the scheme's labelled images (primary rows), and one row per metric and
    # consensus class (analysis = surrogate, scheme = all) with its AUC over the images that have a consensus.
    + [f"{name}_{what}" for name, _ in METRICS for what in ("pool_mean", "pool_n")]
    + AUC_HEADER
    + HYPOTHESIS_HEADER
)


def summary_rows(report: Report) -> list[list]:
    """The primary analysis (analysis = primary, every column), then one row per scheme and other setting
    (analysis = sensitivity: its tie policy and inconclusive in the rule columns, the L1 figures and the tests), the
    surrogate metrics' AUCs (analysis = surrogate) and last the primary hypothesis and its verdict."""
    rows: list[list] = [SUMMARY_HEADER]
    width = len(SUMMARY_HEADER)
    col = {name: i for i, name in enumerate(SUMMARY_HEADER)}
    tests = {t.baseline: t for t in report.tests}
    share_tests = {t.baseline: t for t in report.share_tests}
    chance = [*report.chance.labels, report.chance.none]
    registered = report.settings.registered_at.isoformat() if report.settings.registered_at else None
    # The rule (with when it was registered), the provenance and the exclusions: the same columns on every row.
    rest = _provenance(report) + [" ".join(report.excluded), " ".join(report.excluded_by_rule),
                                  " ".join(report.excluded_by_hand), "applied"]
    tail = _rule(report) + [registered] + rest
    for row in [*report.schemes, report.overall]:
        f, a, boot = row.fractions, row.agreement, row.bootstrap
        out: list = ["primary", row.scheme, f.n_images, f.n_consensus, f.n_no_consensus, row.no_consensus_share,
                     *_interval(row.no_consensus_interval), *_interval(boot.no_consensus), f.n_several, f.n_tied_top,
                     f.n_incomplete, row.n_unlabelled]
        for count, fraction, interval, wilson, boot_interval in zip(f.counts, f.fractions, row.intervals, f.intervals,
                                                                    boot.fractions, strict=True):
            out += [count, fraction, *_interval(interval), *_interval(wilson), *_interval(boot_interval)]
        out += [row.l1_share, row.dr_n, row.dr_amortised, row.dr_optimised]
        out += [a.kappa, *_interval(boot.kappa if a.kappa is not None else None), a.kappa_images, a.kappa_votes,
                a.kappa_note, a.alpha, *_interval(boot.alpha if a.alpha is not None else None), a.alpha_images,
                a.alpha_votes, a.headline]
        out += list(row.ds_fractions) + list(row.ds_all_fractions) + [row.ds_iterations, row.ds_converged, row.ds_ties]
        test, share = tests.get(row.scheme), share_tests.get(row.scheme)
        out += [test.p_value if test else None, test.p_holm if test else None,
                *_interval(report.differences.get(row.scheme)), *_interval(report.boot_differences.get(row.scheme)),
                share.p_value if share else None, share.p_holm if share else None]
        out += chance + tail
        for name, _ in METRICS:
            out += list(row.metric_means.get(name, (None, None)))
        out += [None] * (len(AUC_HEADER) + len(HYPOTHESIS_HEADER))
        rows.append(out)
    s = report.settings
    for setting in report.sensitivity:
        if setting.primary:
            continue
        tests = {t.baseline: t for t in setting.tests}
        share_tests = {t.baseline: t for t in setting.share_tests}
        for scheme, (n_images, n_cons, l1, fraction) in setting.schemes.items():
            out = [None] * width
            out[col["analysis"]], out[col["scheme"]] = "sensitivity", scheme
            out[col["images"]], out[col["consensus_images"]], out[col["no_consensus"]] = n_images, n_cons, n_images - n_cons
            out[col["no_consensus_share"]] = (n_images - n_cons) / n_images if n_images else None
            out[col["L1_count"]], out[col["L1_fraction"]] = l1, fraction
            test, share = tests.get(scheme), share_tests.get(scheme)
            if test:
                out[col["l1_vs_low_active_p_fisher"]], out[col["l1_vs_low_active_p_holm"]] = test.p_value, test.p_holm
            if share:
                out[col["l1_share_vs_low_active_p_permutation"]] = share.p_value
                out[col["l1_share_vs_low_active_p_holm"]] = share.p_holm
            own = [s.threshold, report.annotators_per_image, setting.tie_policy, setting.inconclusive,
                   s.max_attention_fail_rate, s.min_attention_checks, registered, *rest]
            if not setting.manual_exclusions:
                own[-4:] = [" ".join(report.excluded_by_rule), " ".join(report.excluded_by_rule), "", "not applied"]
            out[col["threshold"]:col["threshold"] + len(own)] = own
            rows.append(out)
    for m in report.metric_aucs:
        out = [None] * width
        out[col["analysis"]], out[col["scheme"]] = "surrogate", "all"
        out[col["metric"]:col["metric"] + len(AUC_HEADER)] = [
            m.metric, m.target, m.auc, *_interval(m.interval), *_interval(m.boot_interval), m.n_images, m.n_positive,
            m.within_auc, *_interval(m.within_interval), m.within_n_images, m.within_n_positive]
        out[col["threshold"]:col["threshold"] + len(tail)] = tail
        rows.append(out)
    return rows + hypothesis_rows(report, width, col, tail)


def _p_values(comparisons, adjusted: bool) -> str:
    return "; ".join(f"{c.baseline}: {'' if p is None else repr(float(p))}"
                     for c in comparisons for p in [c.p_adjusted if adjusted else c.p_value])


def hypothesis_rows(report: Report, width: int, col: dict[str, int], tail: list) -> list[list]:
    """The verdict row of the primary hypothesis (analysis = hypothesis) and one row per registered comparison
    (analysis = hypothesis_comparison): the figures `hypothesis.decide` judged, as the report shows them."""
    from .hypothesis import TESTS, statement
    from .models import Endpoint

    s, verdict = report.settings, report.verdict
    claim = [statement(s), s.endpoint, TESTS[Endpoint(s.endpoint)], s.direction, s.family, s.alpha]
    start = col["hypothesis"]
    out = [None] * width
    out[col["analysis"]], out[col["scheme"]] = "hypothesis", "all"  # the schemes are in its own columns
    out[start:start + len(claim)] = claim
    comparisons = verdict.comparisons if verdict else []
    out[col["comparison"]] = ", ".join(s.comparisons)
    out[col["comparison_p_value"]] = _p_values(comparisons, adjusted=False) or None
    out[col["comparison_p_adjusted"]] = _p_values(comparisons, adjusted=True) or None
    out[col["verdict"]] = verdict.word if verdict else "not computed"
    out[col["verdict_reason"]] = verdict.why if verdict else None
    out[col["threshold"]:col["threshold"] + len(tail)] = tail
    rows = [out]
    for c in comparisons:
        row = [None] * width
        row[col["analysis"]], row[col["scheme"]] = "hypothesis_comparison", "all"
        row[start:start + len(claim)] = claim
        row[col["comparison"]:col["verdict"]] = [c.baseline, c.target_value, c.baseline_value, c.p_value,
                                                 c.p_adjusted, c.in_direction, c.passes]
        row[col["threshold"]:col["threshold"] + len(tail)] = tail
        rows.append(row)
    return rows


def consensus_rows(report: Report) -> list[list]:
    header = ["image_id", "scheme", *[f"votes_L{i}" for i in range(1, len(LABELS) + 1)], "votes", "consensus",
              "several_reach_threshold", "tied_for_most"]
    # Every surrogate metric stored with the image's sample (D_r first, as before).
    metrics = ["dr_amortised", "dr_optimised", *[n for n, _ in METRICS if n not in ("dr_amortised", "dr_optimised")]]
    header += ["ds_label", "ds_probability", *metrics, *RULE_HEADER, *PROVENANCE_HEADER]
    rows: list[list] = [header]
    rule = _rule(report) + _provenance(report)
    for image in report.images:
        values = {"dr_amortised": image.dr_amortised, "dr_optimised": image.dr_optimised, **image.metrics}
        rows.append(
            [image.public_id, image.scheme, *image.votes, sum(image.votes), image.consensus, image.several, image.tied_top,
             image.ds_label, image.ds_probability, *[values.get(n) for n in metrics], *rule]
        )
    return rows


def label_rows(report: Report) -> list[list]:
    # time_ms: the time shown to researchers (the server's interval, or the browser's when smaller);
    # position: the label's place in the annotator's sequence (1 = first, attention checks included).
    rows: list[list] = [["image_id", "scheme", "annotator", "label", "time_ms", "server_time_ms", "time_spent_ms",
                         "position", "created_at", "excluded"]]
    for label in report.labels:
        rows.append(
            [label.public_id, label.scheme, label.pseudonym, label.label, label.time_spent_ms, label.server_time_ms,
             label.client_time_ms, label.position, label.created_at.isoformat(), label.excluded]
        )
    return rows



def annotator_rows(report: Report) -> list[list]:
    # The annotator column is the key of labels.csv and participants.csv; median_time_ms is over generated images,
    # fast_labels over every label (checks included) faster than speeder_floor_ms.
    rows: list[list] = [[
        "annotator", "labels_with_checks", "labels_without_checks", "median_time_ms", "agree", "on_consensus",
        "agreement", "agree_others", "on_others_consensus", "agreement_others", "attention_seen", "attention_failed",
        "fast_labels", "fast_share", "speeder_floor_ms", "excluded", *RULE_HEADER,
    ]]
    rule = _rule(report)
    for a in report.annotators:
        rows.append(
            [a.pseudonym, a.n_with_checks, a.n_labels, a.median_time_ms, a.n_agree, a.n_on_consensus, a.agreement,
             a.n_agree_others, a.n_on_others_consensus, a.agreement_others, a.attention_seen, a.attention_failed,
             a.fast_labels, a.fast_share, report.speeder_floor_ms, a.excluded, *rule]
        )
    return rows


# The files a report can be downloaded as, by the name used in URLs, file names and the command.
KINDS = {"summary": summary_rows, "consensus": consensus_rows, "labels": label_rows, "annotators": annotator_rows}
