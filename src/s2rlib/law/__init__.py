"""The scaling law: fits of ``R(n) = D n^-alpha + C``, their status and intervals, and what follows from them.

* :mod:`s2rlib.law.fit_status` — the status vocabulary and the search bounds;
* :mod:`s2rlib.law.aic` — AIC of the law against simpler forms on correlated trial means;
* :mod:`s2rlib.law.scaling` — the fit, its interval draws and its status (:func:`bootstrap_fit`);
* :mod:`s2rlib.law.trial_stats` — per-trial results to paired gains and a case's fit (:class:`CaseFit`);
* :mod:`s2rlib.law.forms` — competing functional forms for one curve;
* :mod:`s2rlib.law.derived` — derived quantities (required n, marginal gain, extrapolation check);
* :mod:`s2rlib.law.ess` — the equivalent sample size of the two-way design;
* :mod:`s2rlib.law.sensitivity` — protocol variants and their paired comparison;
* :mod:`s2rlib.law.simulation_baseline` — the network against the simulation itself;
* :mod:`s2rlib.law.fit_cache` — fits cached on disk, keyed by everything they depend on;
* :mod:`s2rlib.law.correlation` — the measured spread of J-trial means against the interval's factor.

Numbers and dataclasses only: every sentence about them lives in :mod:`s2rlib.book`.
"""

from s2rlib.law.fit_cache import fit_case
from s2rlib.law.fit_status import FitStatus
from s2rlib.law.scaling import Fit, bootstrap_fit, fit_law
from s2rlib.law.trial_stats import CaseFit, Gain, paired_gain, trial_matrix

__all__ = ["CaseFit", "Fit", "FitStatus", "Gain", "bootstrap_fit", "fit_case", "fit_law", "paired_gain", "trial_matrix"]
