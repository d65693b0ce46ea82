"""The Dawid-Skene sensitivity check recovers the truth better than the vote when some annotators are noise."""

import numpy as np

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
