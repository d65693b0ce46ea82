"""A campaign's report: gather its labels from the database, run the statistics, return plain data.

Attention-check items (training images, expected "not novel or creative") never enter the consensus;
they decide only which annotators are excluded. Excluded annotators' labels are left out of every
figure except their own row in the annotator table and the long-format CSV (which flags them).

`build` is the pipeline (`build_report`), `figures` computes its rows from the vote tables, `rows` and `report` are
the plain data it returns, `common` the order of labels and schemes, the metrics and the seeds.
"""

from .build import build_report
from .common import (
    ATTENTION_EXPECTED,
    ATTENTION_SCHEME,
    AUC_TARGETS,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    GALLERY_SIZE,
    INCONCLUSIVE,
    LABEL_INDEX,
    LABEL_NAMES,
    LABELS,
    METRICS,
    PERMUTATION_SEED,
    SCHEME_ORDER,
    TARGET_SCHEME,
    attention_kind,
    ordered_schemes,
    pseudonym,
    scheme_dr,
)
from .figures import _metric_aucs
from .report import Report
from .rows import (
    AnnotatorRow,
    GalleryImage,
    GalleryRow,
    ImageRow,
    LabelRow,
    ManualExclusion,
    MetricAUC,
    SchemeRow,
    SensitivityRow,
)

__all__ = [
    "ATTENTION_EXPECTED", "ATTENTION_SCHEME", "AUC_TARGETS", "BOOTSTRAP_RESAMPLES", "BOOTSTRAP_SEED", "GALLERY_SIZE",
    "INCONCLUSIVE", "LABELS", "LABEL_INDEX", "LABEL_NAMES", "METRICS", "PERMUTATION_SEED", "SCHEME_ORDER",
    "TARGET_SCHEME", "AnnotatorRow", "GalleryImage", "GalleryRow", "ImageRow", "LabelRow", "ManualExclusion",
    "MetricAUC", "Report", "SchemeRow", "SensitivityRow", "_metric_aucs", "attention_kind", "build_report",
    "ordered_schemes", "pseudonym", "scheme_dr",
]
