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
