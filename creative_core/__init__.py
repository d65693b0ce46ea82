"""creative_core: the neuro-inspired creative decoder (Das et al., IBM Research) as a small pure-PyTorch library.

dataset -> trained VAE -> activation profile of one decoder layer -> samples under a decoding scheme -> D_r.
No Django here: the platform's apps call this library; it also runs alone (`python -m creative_core`).
"""

from ._version import __version__
from .activations import ActivationProfile, profile
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .datasets import DATASETS, load_dataset, training_images
from .errors import Cancelled, CheckpointError, DataError
from .fetch import default_data_root, fetch_data, verify_data
from .images import image_grid, to_png_bytes
from .layers import hidden_layer_names, layer_size, resolve_layer
from .metrics import OptimisedDr, dr_amortised, dr_optimised
from .models import MLPVAE, ConvVAE, build_model
from .reconstruct import reconstruct
from .sampling import Samples, generate
from .schemes import ALL_SCHEME_NAMES, SCHEME_NAMES, Scheme, check_schemes, make_scheme, scheme_defaults
from .surrogates import SURROGATE_NAMES, SurrogateScorer, surrogate_recipe
from .training import Trained, train

__all__ = [
    "__version__", "SCHEME_NAMES", "ALL_SCHEME_NAMES", "DATASETS", "default_data_root", "fetch_data", "verify_data", "load_dataset",
    "training_images", "make_scheme", "scheme_defaults", "Scheme", "train", "Trained", "profile",
    "ActivationProfile", "save_checkpoint", "load_checkpoint", "Checkpoint", "generate", "Samples", "dr_amortised",
    "dr_optimised", "OptimisedDr", "to_png_bytes", "image_grid", "Cancelled", "CheckpointError", "DataError",
    "MLPVAE", "ConvVAE", "build_model", "hidden_layer_names", "resolve_layer", "layer_size", "check_schemes",
    "reconstruct", "SURROGATE_NAMES", "SurrogateScorer", "surrogate_recipe",
]
