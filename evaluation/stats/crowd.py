"""Crowd models: Dawid-Skene's latent true label per image and confusion matrix per annotator.

References: Dawid, A. P. & Skene, A. M. (1979), "Maximum likelihood estimation of observer error-rates using the EM
algorithm", Applied Statistics 28(1), 20-28; Ustalov, D., Pavlichenko, N. & Tseitlin, B. (2023), "Learning from
crowds with Crowd-Kit", arXiv:2109.08584 (the implementation followed step for step, and compared in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .consensus import N_LABELS, NO_CONSENSUS


@dataclass(frozen=True)
class DawidSkene:
    posteriors: np.ndarray  # (images, 4)
    labels: np.ndarray  # (images,) argmax of the posteriors, NO_CONSENSUS for images without labels
    priors: np.ndarray  # (4,)
    confusion: np.ndarray  # (annotators, 4 true, 4 given)
    iterations: int
    converged: bool
    lower_bound: float | None  # the evidence lower bound per vote at the end (what the stopping rule watches)


DS_MAX_ITER = 100
DS_TOL = 1e-5
DS_EPS = 1e-10
# The report's prior on each annotator's confusion matrix: per true label, Dirichlet pseudo-votes, DS_PRIOR_RIGHT on
# that label and DS_PRIOR_WRONG spread evenly over the others (a prior mean of "right half the time", twice chance).
# Per scheme an annotator casts some 17 votes, about 4 per true label: 2 pseudo-votes per label weigh a third, so a
# matrix fitted from a handful of votes no longer makes every posterior near certain.
DS_PRIOR_RIGHT = 1.0
DS_PRIOR_WRONG = 1.0
# Posteriors this close to the largest are an exact tie: the image is shared equally among the tied labels.
DS_TIE = 1e-9


def ds_prior(n_labels: int, right: float = DS_PRIOR_RIGHT, wrong: float = DS_PRIOR_WRONG) -> np.ndarray:
    """Pseudo-votes (given, true) added to every annotator's confusion counts: `right` on the diagonal, `wrong`
    spread evenly over the other given labels of each true label (as crowd-kit's initial_error "addition")."""
    if n_labels == 1:
        return np.full((1, 1), right)
    return np.where(np.eye(n_labels, dtype=bool), right, wrong / (n_labels - 1))


def ds_shares(posteriors: np.ndarray, labelled: np.ndarray, tie: float = DS_TIE) -> tuple[np.ndarray, np.ndarray]:
    """Each labelled image's Dawid-Skene label as shares (images, 4): 1 for its most probable label, or split equally
    among labels whose posteriors tie for the largest (none goes to the lower label); and which images tied."""
    top = posteriors.max(axis=1, keepdims=True)
    tied_top = (posteriors >= top - tie) & labelled[:, None]
    n_top = tied_top.sum(axis=1)
    return np.where(n_top[:, None] > 0, tied_top / np.maximum(n_top, 1)[:, None], 0.0), n_top >= 2


def dawid_skene(
    items: np.ndarray,
    annotators: np.ndarray,
    labels: np.ndarray,
    n_items: int,
    n_annotators: int,
    *,
    max_iter: int = DS_MAX_ITER,
    tol: float = DS_TOL,
    prior: tuple[float, float] | None = None,
) -> DawidSkene:
    """Dawid & Skene (1979) EM, step for step as crowd-kit's `crowdkit.aggregation.DawidSkene` (1.4).

    Started from the vote shares (majority vote's probabilities); the class priors are the mean posterior; each
    annotator's confusion matrix is estimated from the posteriors with no smoothing (a cell with no evidence is
    clipped at 1e-10, as crowd-kit does); EM stops when the evidence lower bound per vote gains less than `tol`
    (1e-5), else after `max_iter` (100) iterations, which is reported as not converged. Only the labels given
    take part (a label nobody gave has posterior 0). The tests compare it with crowd-kit itself.

    `prior` (right, wrong): Dirichlet pseudo-votes (`ds_prior`) added to every annotator's confusion counts at each
    M-step (maximum a posteriori EM): a cell without evidence keeps its prior share instead of 1e-10.
    """
    items = np.asarray(items, dtype=np.int64)
    annotators = np.asarray(annotators, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    m = len(labels)
    empty = np.zeros((n_items, N_LABELS))
    if m == 0 or n_items == 0:
        return DawidSkene(empty, np.full(n_items, NO_CONSENSUS, dtype=np.int64), np.full(N_LABELS, 1 / N_LABELS),
                          np.zeros((n_annotators, N_LABELS, N_LABELS)), 0, True, None)
    used = np.flatnonzero(np.bincount(labels, minlength=N_LABELS))  # the label set, as crowd-kit's columns
    code = np.full(N_LABELS, -1)
    code[used] = np.arange(len(used))
    given = code[labels]
    c = len(used)
    has = np.bincount(items, minlength=n_items) > 0
    task = np.cumsum(has) - 1  # crowd-kit keeps only the images with labels
    t = task[items]
    n_tasks = int(has.sum())
    ones = np.ones(m)
    by_task = sparse.csr_matrix((ones, (t, np.arange(m))), shape=(n_tasks, m))
    pair = annotators * c + given
    by_pair = sparse.csr_matrix((ones, (pair, np.arange(m))), shape=(n_annotators * c, m))
    # The labels each annotator gave (with a prior: every label, which the pseudo-votes give them all).
    present = (np.bincount(pair, minlength=n_annotators * c).reshape(n_annotators, c) > 0) | (prior is not None)
    pseudo = np.zeros((c, c)) if prior is None else ds_prior(c, *prior)

    def m_step(post: np.ndarray) -> np.ndarray:
        """errors[a, given, true]: counts (plus the prior) clipped at EPS where the annotator gave that label (with a
        prior: every label), normalised per true label."""
        counts = np.asarray(by_pair @ post[t]).reshape(n_annotators, c, c) + pseudo[None]
        counts = np.where(present[:, :, None], np.clip(counts, DS_EPS, None), 0.0)
        return counts / counts.sum(axis=1, keepdims=True)

    with np.errstate(divide="ignore", invalid="ignore"):
        post = np.asarray(by_task @ np.eye(c)[given])
        post /= post.sum(axis=1, keepdims=True)
        priors = post.mean(axis=0)
        errors = m_step(post)
        bound, iterations, converged = -np.inf, 0, False
        for _ in range(max_iter):
            iterations += 1
            log_err = np.log(errors[annotators, given, :])  # (votes, true)
            log_prior = np.log(np.clip(priors, DS_EPS, None))
            log_post = log_prior + np.asarray(by_task @ log_err)
            log_post -= log_post.max(axis=1, keepdims=True)
            post = np.exp(log_post)
            post /= post.sum(axis=1, keepdims=True)
            priors = post.mean(axis=0)
            errors = m_step(post)
            # crowd-kit's evidence lower bound, per vote: E[log p(votes, truth)] + entropy of the posteriors.
            joint = (post[t] * (np.log(errors[annotators, given, :]) + np.log(np.clip(priors, DS_EPS, None)))).sum()
            clipped = np.clip(post, DS_EPS, None)
            new_bound = float(joint - (np.log(clipped) * clipped).sum()) / m
            if new_bound - bound < tol:
                converged = True
                bound = new_bound
                break
            bound = new_bound
    return _on_every_label(post, priors, errors, has, used, (iterations, converged, bound))


def _on_every_label(post: np.ndarray, priors: np.ndarray, errors: np.ndarray, has: np.ndarray, used: np.ndarray,
                    fit: tuple[int, bool, float]) -> DawidSkene:
    """A fit over the labelled images and the labels given, spread back over every image and all four labels."""
    n_annotators = len(errors)
    full_post = np.zeros((len(has), N_LABELS))
    full_post[np.ix_(has, used)] = post
    full_priors = np.zeros(N_LABELS)
    full_priors[used] = priors
    confusion = np.zeros((n_annotators, N_LABELS, N_LABELS))
    confusion[np.ix_(np.arange(n_annotators), used, used)] = errors.transpose(0, 2, 1)
    out = np.where(has, full_post.argmax(axis=1), NO_CONSENSUS)
    return DawidSkene(full_post, out.astype(np.int64), full_priors, confusion, *fit)
