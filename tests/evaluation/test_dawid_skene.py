"""The Dawid-Skene sensitivity check recovers the truth better than the vote when some annotators are noise."""

import numpy as np
import pytest

from evaluation.stats import NO_CONSENSUS, dawid_skene, vote_table


def simulate(seed: int, n_items: int = 300, good: int = 4, noisy: int = 5):
    rng = np.random.default_rng(seed)
    truth = rng.choice(4, size=n_items, p=[0.2, 0.3, 0.4, 0.1])
    items, annotators, labels = [], [], []
    for a in range(good + noisy):
        accuracy = 0.85 if a < good else 0.25  # 0.25: uniform guessing
        right = rng.random(n_items) < accuracy
        guess = rng.integers(0, 4, size=n_items)
        items.append(np.arange(n_items))
        annotators.append(np.full(n_items, a))
        labels.append(np.where(right, truth, guess))
    return truth, np.concatenate(items), np.concatenate(annotators), np.concatenate(labels), good + noisy


def test_it_beats_the_plain_vote_with_noisy_annotators():
    truth, items, annotators, labels, n_ann = simulate(0)
    result = dawid_skene(items, annotators, labels, len(truth), n_ann)
    plurality = vote_table(items, labels, len(truth)).argmax(axis=1)
    assert result.converged and result.iterations < 100
    assert (result.labels == truth).mean() > 0.95
    assert (result.labels == truth).mean() > (plurality == truth).mean()
    # Good annotators get a strong diagonal, guessers a flat one.
    assert np.diagonal(result.confusion[0]).min() > 0.7
    assert np.diagonal(result.confusion[-1]).max() < 0.5
    assert np.allclose(result.posteriors.sum(axis=1), 1)


def test_it_keeps_unanimous_labels_and_marks_unlabelled_images():
    items = np.array([0, 0, 0, 1, 1, 1])
    annotators = np.array([0, 1, 2, 0, 1, 2])
    labels = np.array([2, 2, 2, 0, 0, 0])
    result = dawid_skene(items, annotators, labels, n_items=3, n_annotators=3)
    assert result.labels.tolist() == [2, 0, NO_CONSENSUS]


# crowd-kit 1.4.2, `DawidSkene(n_iter=100, tol=1e-5).fit(df)` on these votes (image i, annotator j: VOTES[i][j]):
# iterations (len(loss_history_)), the last loss, the labels and the priors it gave.
CROWDKIT_VOTES = [[2, 3, 3, 0, 3], [3, 3, 1, 1, 1], [2, 2, 2, 2, 1], [0, 3, 3, 3, 1], [2, 1, 3, 3, 0], [3, 3, 0, 3, 3],
                  [3, 2, 2, 3, 2], [2, 1, 2, 2, 2], [0, 0, 1, 2, 2], [2, 2, 2, 2, 2], [1, 3, 1, 0, 1], [1, 3, 1, 2, 0]]
CROWDKIT_ITERATIONS = 5
CROWDKIT_LOSS = -1.8056918704314813
CROWDKIT_LABELS = [3, 1, 2, 3, 3, 3, 2, 2, 0, 2, 1, 1]
CROWDKIT_PRIORS = [0.083333, 0.25, 0.333333, 0.333333]


def crowdkit_input():
    rows = [(i, a, label) for i, votes in enumerate(CROWDKIT_VOTES) for a, label in enumerate(votes)]
    return (np.array(col) for col in zip(*rows, strict=True))


def test_it_matches_crowd_kit():
    items, annotators, labels = crowdkit_input()
    result = dawid_skene(items, annotators, labels, len(CROWDKIT_VOTES), 5)
    assert result.labels.tolist() == CROWDKIT_LABELS
    assert result.priors == pytest.approx(CROWDKIT_PRIORS, abs=1e-6)
    assert (result.iterations, result.converged) == (CROWDKIT_ITERATIONS, True)
    assert result.lower_bound == pytest.approx(CROWDKIT_LOSS, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_it_matches_crowd_kit_live(seed):
    """The same against the package itself where it is installed (a random design with missing votes)."""
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, 40)
    rows = [(i, a, truth[i] if rng.random() < 0.6 else rng.integers(0, 4))
            for i in range(40) for a in rng.choice(7, size=rng.integers(2, 7), replace=False)]
    items, annotators, labels = (np.array(col) for col in zip(*rows, strict=True))
    ours = dawid_skene(items, annotators, labels, 40, 7)
    ck = crowdkit.DawidSkene(n_iter=100, tol=1e-5).fit(pd.DataFrame({"task": items, "worker": annotators, "label": labels}))
    probas = ck.probas_.reindex(columns=range(4), fill_value=0.0).sort_index().to_numpy()
    assert ours.posteriors == pytest.approx(probas, abs=1e-8)
    assert ours.iterations == len(ck.loss_history_)


@pytest.mark.parametrize("seed", [0, 1])
def test_it_smooths_the_confusion_matrices_as_crowd_kit_does_with_a_prior(seed):
    """The report's prior (pseudo-votes added at every M-step) against crowd-kit's EM with its initial_error
    "addition" made at every M-step: its E-step, start and stopping rule, and this prior."""
    from evaluation.stats import DS_PRIOR_RIGHT, DS_PRIOR_WRONG, ds_prior

    crowdkit = pytest.importorskip("crowdkit.aggregation")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, 30)
    rows = [(i, a, truth[i] if rng.random() < 0.6 else rng.integers(0, 4))
            for i in range(30) for a in rng.choice(7, size=rng.integers(2, 7), replace=False)]
    items, annotators, labels = (np.array(col) for col in zip(*rows, strict=True))
    ours = dawid_skene(items, annotators, labels, 30, 7, prior=(DS_PRIOR_RIGHT, DS_PRIOR_WRONG))
    used = sorted(set(labels.tolist()))
    pseudo = ds_prior(len(used))
    index = pd.MultiIndex.from_tuples([(a, g) for a in range(7) for g in used], names=["worker", "label"])
    initial = pd.DataFrame([pseudo[used.index(g)] for _, g in index], index=index, columns=used)


    class Smoothed(crowdkit.DawidSkene):
        """crowd-kit's EM with its "addition" of pseudo-counts at every M-step (1.4 adds them at the first only)."""

        def _m_step(self, data, probas, initial_error=None, initial_error_strategy=None):
            return crowdkit.DawidSkene._m_step(data, probas, initial, "addition")

    ck = Smoothed(n_iter=100, tol=1e-5).fit(pd.DataFrame({"task": items, "worker": annotators, "label": labels}))
    probas = ck.probas_.reindex(columns=range(4), fill_value=0.0).sort_index().to_numpy()
    assert ours.posteriors == pytest.approx(probas, abs=1e-8)
    assert ours.iterations == len(ck.loss_history_)


def test_its_prior_keeps_posteriors_from_a_few_votes_off_certainty():
    # One scheme of a small campaign: 60 images, 20 annotators, 9 per image (some 27 votes each), annotators who
    # lean: without a prior each one's 4 x 4 matrix is fitted from those votes and nearly every image is "certain".
    rng = np.random.default_rng(4)
    truth = rng.choice(4, 60, p=[0.3, 0.2, 0.4, 0.1])
    items = np.repeat(np.arange(60), 9)
    annotators = np.concatenate([rng.choice(20, 9, replace=False) for _ in range(60)])
    lean = rng.normal(0, 0.8, (20, 4))
    logits = 1.2 * np.eye(4)[truth[items]] + lean[annotators]
    labels = np.argmax(logits - np.log(-np.log(rng.random(logits.shape))), axis=1)
    plain = dawid_skene(items, annotators, labels, 60, 20)
    smoothed = dawid_skene(items, annotators, labels, 60, 20, prior=(1.0, 1.0))
    certain = {name: (fit.posteriors.max(axis=1) > 0.999).mean() for name, fit in (("plain", plain),
                                                                                    ("smoothed", smoothed))}
    assert certain["plain"] > 0.8
    assert certain["smoothed"] < certain["plain"] - 0.15
    # No cell of a smoothed matrix is left at the 1e-10 floor: each keeps at least part of its prior.
    assert smoothed.confusion[:, :, :].min() > 1e-3


def test_it_splits_an_exact_tie_between_the_tied_labels():
    from evaluation.stats import ds_shares

    posteriors = np.array([[0.5, 0.5, 0.0, 0.0], [0.2, 0.7, 0.1, 0.0], [0.0, 0.0, 0.0, 0.0]])
    shares, tied = ds_shares(posteriors, np.array([True, True, False]))
    assert shares.tolist() == [[0.5, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    assert tied.tolist() == [True, False, False]


def test_the_report_shares_a_tied_image_among_the_tied_labels(client, researcher, db):
    import csv
    import io

    from django.urls import reverse

    from evaluation.csv_export import unquote
    from evaluation.reports import build_report
    from tests.evaluation.builders import build_campaign, make_annotators
    from tests.factories import PASSWORD

    # One regular image, one L1 vote and one L2 vote from two annotators who labelled nothing else of the scheme:
    # the model cannot tell L1 from L2, and the image is no more L1 than L2.
    campaign, items = build_campaign({"regular": [[1, 1, 0, 0]], "low_active": [[9, 0, 0, 0], [0, 0, 9, 0]]},
                                     make_annotators(9))
    report = build_report(campaign)
    regular = next(r for r in report.schemes if r.scheme == "regular")
    assert regular.ds_ties == 1
    assert regular.ds_all_fractions[:2] == (0.5, 0.5)
    client.login(username=researcher.username, password=PASSWORD)
    response = client.get(reverse("evaluation:download", args=[campaign.pk, "consensus"]))
    rows = {unquote(r["image_id"]): r for r in csv.DictReader(io.StringIO(response.content.decode()))}
    assert rows[items["regular"][0].public_id]["ds_label"] == "tie"
    response = client.get(reverse("evaluation:download", args=[campaign.pk, "summary"]))
    summary = {r["scheme"]: r for r in csv.DictReader(io.StringIO(response.content.decode())) if r["analysis"] == "primary"}
    assert summary["regular"]["ds_ties"] == "1" and summary["low_active"]["ds_ties"] == "0"
    assert "Dirichlet prior" in dict(report.parameters())["Dawid-Skene"]


def test_the_share_over_every_labelled_image_counts_images_left_without_votes(db):
    from evaluation.reports import build_report
    from tests.evaluation.builders import build_campaign, make_annotators, set_report_settings

    # With inconclusive as an abstention the second image has no vote left: it is labelled all the same.
    campaign, _ = build_campaign({"low_active": [[9, 0, 0, 0], [0, 0, 0, 9]]}, make_annotators(9))
    set_report_settings(campaign, inconclusive="abstain")
    row = next(r for r in build_report(campaign).schemes if r.scheme == "low_active")
    assert row.fractions.n_images == 2
    assert row.ds_all_fractions == (0.5, 0.0, 0.0, 0.0)
