"""Training: the batched-ensemble network, the Sim2Real protocol (pretrain, fine-tune, evaluate), run parameters.

* :mod:`s2rlib.training.models` — :class:`EnsembleMLP` and :class:`EnsembleAdam`;
* :mod:`s2rlib.training.transfer` — :class:`Recipe`, :class:`Candidate`, :func:`run_trials` (one grid point);
* :mod:`s2rlib.training.pretrain_cache` — pretrained networks kept on disk, one per (n, trial draw);
* :mod:`s2rlib.training.pretrain` — pretraining to convergence (early stopping on the source side);
* :mod:`s2rlib.training.metrics` — what one trial scores, and the simulation baseline beside it;
* :mod:`s2rlib.training.params` — a notebook's parameters checked before any training starts.
"""

from s2rlib.training.models import EnsembleAdam, EnsembleMLP
from s2rlib.training.params import check_against_data, validate_params, validate_recipe
from s2rlib.training.transfer import Candidate, Recipe, run_trials

__all__ = ["Candidate", "EnsembleAdam", "EnsembleMLP", "Recipe", "check_against_data", "run_trials",
           "validate_params", "validate_recipe"]
