"""What a fit of ``R(n) = D n^-alpha + C`` identifies: the search bounds, the status vocabulary, the verdict.

:class:`FitStatus` names what the data identify and carries its own explanation (the method chapter's
status table is generated from it); :func:`s2rlib.law.scaling.classify` gives a fitted law with interval draws its full
status: AIC against a constant and a pure power law (:mod:`s2rlib.law.aic`), then the 90% intervals against
the search bounds. The fit itself, its draws and :class:`s2rlib.law.scaling.Fit` are in :mod:`s2rlib.law.scaling`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy import stats


MIN_POINTS = 4  # distinct n > 0 a law of three parameters needs
ALPHA_BOUNDS = (1e-3, 3.0)
CI_LEVEL = 0.90
AIC_MARGIN = 2.0  # the law must beat a constant and a pure power law by at least this much AIC
#: share of the draws without a decrease above which the fall is not identified: (1 - CI_LEVEL)/2 = 5%, i.e.
#: the 90% interval of D (or of R0 - C) reaches 0 exactly when more than this share of draws has no fall
UNIDENTIFIED_FRACTION = (1 - CI_LEVEL) / 2
GOF_LEVEL = 0.05  # a form whose weighted chi^2 has a p-value below this does not fit the trial means
_BOUND_TOL = 0.01  # a value within 1% (of the log search range) of a bound is "at" the bound


class ExplainedStatus(StrEnum):
    """A status that carries its own explanation: members are ``(value, meaning, reading)``."""

    def __new__(cls, value: str, meaning: str = "", reading: str = ""):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.meaning = meaning
        obj.reading = reading
        return obj


class FitStatus(ExplainedStatus):
    """What a fit of ``R(n) = D n^-alpha + C`` identifies; each member explains itself in words.

    ``meaning`` says what happened, ``reading`` how to read the numbers. ``ok`` is the only status
    under which the book prints numbers derived from the law (required n, marginal value, ESS).
    Which of D, alpha and C a table prints under each status, and the words that replace the others,
    is decided in one place, :func:`s2rlib.book.findings.shown_parameters`, following ``reading``.

    ``alpha_at_bound`` and C: the interval draws that put alpha at its bound put D and C elsewhere.
    At the upper bound (a step: the error falls onto a plateau within the first step in n) C is the
    plateau's level; its interval stays where it is when the bound on alpha is raised, while D's upper
    end grows without limit (D ~ n_min^alpha). When the interval only reaches 3 from an interior
    estimate (a slow fall with no floor and a fast fall onto a floor fit about equally well), C's
    interval covers both and can reach 0; C is then
    reported as ``C < x``, as for ``C_at_bound``. At the lower bound the law is
    (D + C) - D alpha ln n over the measured n: only D + C and D alpha are pinned, and neither D nor
    C is identified. ``tests/test_law_display.py`` checks both on synthetic curves.
    """

    ok = ("ok",
          "the form fits the trial means (goodness-of-fit p-value ≥ 0.05), beats a constant and the same form "
          "without a floor by at least 2 in AIC (on the trial means with their corrected covariance), and no "
          "90% interval of its parameters touches a search bound",
          "its parameters are estimates; numbers derived from the law are printed")
    misfit = ("misfit",
              "the form does not fit the trial means: the χ² of its weighted fit (on the means with their "
              "corrected covariance) has a p-value below 0.05",
              "the data reject this shape: its parameters describe no law, and nothing is derived from it")
    shape_unresolved = ("shape_unresolved",
                        "the paired gain at the largest n shows that the error falls, but over the fitted points "
                        "a constant fits the trial means as well as the form (AIC not lower by 2)",
                        "the fall is measured (the gain), its shape is not: alpha and C are not identified")
    constant_preferred = ("constant_preferred",
                          "a constant fits the trial means as well as the form (AIC of the form not lower by 2) and "
                          "the paired gain at the largest n does not exclude 0: these data show no detectable fall "
                          "of the error with n",
                          "read no scaling into the curve: D and alpha describe no fall with n, C is not identified")
    no_decrease = ("no_decrease", "D = 0: the error does not fall with n (flat or increasing)",
                   "these data give no evidence that more simulations help: D and alpha describe no fall with n, C is "
                   "not identified")
    alpha_at_bound = ("alpha_at_bound",
                      "alpha, or its 90% interval, reaches its search bound (0.001 or 3), or, for the finite-R(0) "
                      "form, n_s's reaches its own (1/100 of the smallest n > 0, 100 times the largest n): over "
                      "the measured n the curve is too flat or too steep to pin the exponent",
                      "alpha is a one-sided limit (≥ x at the bound 3, ≤ x at 0.001); D is not identified. At 3 "
                      "either the error falls onto a plateau within the first step in n, and C, its level, keeps its "
                      "interval, or a slow fall with no floor and a fast fall onto one fit about equally well, and C's "
                      "interval covers both (C < x when it reaches 0 or a pure power law fits as well); at 0.001 the law is about (D + C) − D alpha ln n, so D and C "
                      "trade off and C is not identified either")
    C_at_bound = ("C_at_bound",
                  "no floor is resolved: C = 0, its 90% interval reaches 0, or the same form without a floor "
                  "(C = 0: for the paper's law a pure power law) fits as well (AIC not lower by 2)",
                  "C is reported as an upper bound, C < x; the transfer gap is not measured")
    unidentified = ("unidentified",
                    "the law's point estimate has an interior optimum, but more than 5% of the interval draws "
                    "find no decrease, so the 90% interval of D reaches 0: the trials do not pin the law down",
                    "D, alpha and C are not identified")
    too_few_points = ("too_few_points", f"fewer than {MIN_POINTS} distinct n > 0 with finite positive errors (5 "
                      "distinct n ≥ 0 for the finite-R(0) form)",
                      "no law is fitted")
    failed = ("failed", "the optimiser failed", "no law")
    n0_at_bound = ("n0_at_bound",
                   "(exponential saturation only) the scale n0 sits at its search bound, 100 times beyond the "
                   "measured n", "the form degenerates to a constant or a line over the measured n")

    @classmethod
    def table(cls) -> pd.DataFrame:
        """The status table of the method chapter, generated from the members."""
        return pd.DataFrame([{"status": f"`{s.value}`", "meaning": s.meaning, "how to read the numbers": s.reading}
                             for s in cls])


@dataclass(frozen=True)
class GoodnessOfFit:
    """The chi^2 test of a weighted fit: ``chi2 = r' W r`` on ``dof`` = points - parameters, and
    ``p_value`` = P(chi^2_dof >= chi2) (NaN without a degree of freedom)."""

    chi2: float
    dof: int
    p_value: float

    @property
    def fits(self) -> bool:
        """Whether the test does not reject the form at :data:`GOF_LEVEL` (True where it cannot be run)."""
        return not (np.isfinite(self.p_value) and self.p_value < GOF_LEVEL)


def goodness_of_fit(chi2: float, dof: int) -> GoodnessOfFit:
    """The chi^2 test of a fit with ``dof`` degrees of freedom. ``chi2`` is ``r' W r`` with ``W`` the
    debiased precision of the trial means (:func:`s2rlib.law.aic.precision`), so that it follows a chi^2
    distribution with ``dof`` degrees of freedom when the form is right and the corrected covariance is."""
    ok = dof >= 1 and np.isfinite(chi2)
    return GoodnessOfFit(float(chi2), int(dof), float(stats.chi2.sf(chi2, dof)) if ok else float("nan"))


def alpha_bounds_reached(*alphas: float, bounds=ALPHA_BOUNDS) -> tuple[bool, bool]:
    """Whether any of ``alphas`` (an exponent, the ends of its interval; NaN is skipped) is at the lower
    and at the upper search bound: within 1% of the log search range."""
    lo, hi = bounds
    span = math.log(hi / lo)
    a = np.asarray([x for x in alphas if np.isfinite(x) and x > 0], dtype=float)
    return (bool((np.log(a / lo) < _BOUND_TOL * span).any()), bool((np.log(hi / a) < _BOUND_TOL * span).any()))


def at_alpha_bound(alpha: float, bounds=ALPHA_BOUNDS) -> bool:
    """Whether one exponent is at either search bound (:func:`alpha_bounds_reached`)."""
    return any(alpha_bounds_reached(alpha, bounds=bounds))
