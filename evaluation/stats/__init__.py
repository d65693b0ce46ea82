"""Pure statistics of a labeling campaign: vote tables in, numbers out. No Django here.

One module per concern, each naming its references at the top: `consensus` (the threshold rule, label fractions,
the chance baseline), `agreement` (Fleiss' kappa, Krippendorff's alpha, leave-one-out agreement), `significance`
(Fisher's exact test, the permutation test, Holm), `resampling` (the two-way bootstrap), `crowd` (Dawid-Skene) and
`aucs` (surrogate metrics against the consensus). Every name is also here, as `evaluation.stats.<name>`.
"""

from .agreement import (
    MIN_KAPPA_IMAGES,
    Agreement,
    agreement,
    fleiss_kappa,
    krippendorff_alpha,
    leave_one_out_agreement,
)
from .aucs import auc
from .consensus import (
    N_LABELS,
    NO_CONSENSUS,
    TIE_POLICY_TEXT,
    ChanceBaseline,
    Consensus,
    Interval,
    LabelFractions,
    TiePolicy,
    as_vote_table,
    chance_baseline,
    chance_consensus,
    chance_reach_probability,
    consensus,
    label_fractions,
    vote_table,
    wilson_interval,
)
from .crowd import (
    DS_EPS,
    DS_MAX_ITER,
    DS_PRIOR_RIGHT,
    DS_PRIOR_WRONG,
    DS_TIE,
    DS_TOL,
    DawidSkene,
    dawid_skene,
    ds_prior,
    ds_shares,
)
from .resampling import GroupBootstrap, TwoWayBootstrap, percentile_interval, two_way_bootstrap
from .significance import (
    PERMUTATIONS,
    ProportionTest,
    ShareTest,
    fisher_l1_tests,
    holm,
    l1_share_tests,
    permutation_p_value,
)

__all__ = [
    "DS_EPS", "DS_MAX_ITER", "DS_PRIOR_RIGHT", "DS_PRIOR_WRONG", "DS_TIE", "DS_TOL", "MIN_KAPPA_IMAGES", "N_LABELS",
    "NO_CONSENSUS", "PERMUTATIONS", "TIE_POLICY_TEXT", "Agreement", "ChanceBaseline", "Consensus", "DawidSkene",
    "GroupBootstrap", "Interval", "LabelFractions", "ProportionTest", "ShareTest", "TiePolicy", "TwoWayBootstrap",
    "agreement", "as_vote_table", "auc", "chance_baseline", "chance_consensus", "chance_reach_probability",
    "consensus", "dawid_skene", "ds_prior", "ds_shares", "fisher_l1_tests", "fleiss_kappa", "holm",
    "krippendorff_alpha", "l1_share_tests", "label_fractions", "leave_one_out_agreement", "percentile_interval",
    "permutation_p_value", "two_way_bootstrap", "vote_table", "wilson_interval",
]
