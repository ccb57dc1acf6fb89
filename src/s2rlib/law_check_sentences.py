"""Two sentences of "What this case shows" that test the law rather than state it: the extrapolation check
(the law fitted without the largest n, against the measurement there) and the best functional form by AIC
when it is not the law. :func:`s2rlib.findings.case_findings` adds them to a chapter's findings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .fit_status import AIC_MARGIN
from .formatting import fmt, fmt_ci, pretty_units


#: reduced-fit statuses under which the extrapolation check has no law to test
_NO_LAW_TO_EXTRAPOLATE = ("no_decrease", "constant_preferred", "too_few_points", "failed", "bad_input", "unidentified")


def extrapolation_sentence(check, units: str = "") -> str:
    """The extrapolation check in one sentence (``check``: :class:`s2rlib.insights.ExtrapolationCheck`);
    "" when the reduced fit gives no interval or describes no fall. The interval is that of the fitted mean
    curve; a measurement beyond it by less than 1.645 standard errors of the measured mean is "at the edge"."""
    if str(check.status) in _NO_LAW_TO_EXTRAPOLATE or not (
            np.isfinite(check.lo) and np.isfinite(check.hi) and np.isfinite(check.measured)):
        return ""
    u = "" if not units or units == "dimensionless" else f" {pretty_units(units)}"
    sem = check.measured_sem if np.isfinite(check.measured_sem) else 0.0
    beyond = max(check.lo - check.measured, check.measured - check.hi)  # > 0: outside the interval
    text = (f"Held out, the largest database tests the law: fitted up to n = {check.n_fit_max:,.0f}, it predicts "
            f"{fmt(check.predicted)}{u} {fmt_ci(check.lo, check.hi)} at n = {check.n_max:,.0f}; the measured error "
            f"is {fmt(check.measured)}{u} ± {fmt(sem, 2)} (standard error)")
    if beyond <= 0:
        return text + ", inside that interval."
    if beyond <= 1.645 * sem:
        return text + ", at the edge of that interval."
    if check.measured < check.lo:
        return text + (f", below that interval: the error at the largest n is lower than the law fitted up to "
                       f"n = {check.n_fit_max:,.0f} predicts.")
    return text + (f", above that interval: the error at the largest n is higher than the law fitted up to "
                   f"n = {check.n_fit_max:,.0f} predicts.")


def forms_sentence(forms: pd.DataFrame) -> str:
    """Which form fits the trial means best by AIC, when it is not the law (``forms``: the frame of
    :func:`s2rlib.law_forms.compare_forms`); "" when the law is best, no AIC is finite, or the best form wins
    by less than :data:`s2rlib.fit_status.AIC_MARGIN`."""
    aic = pd.to_numeric(forms["aic"], errors="coerce")
    ok = forms[np.isfinite(aic)]
    law = ok[ok["form"] == "power law + floor"]
    if not len(ok) or not len(law):
        return ""
    best = ok.loc[aic[np.isfinite(aic)].idxmin()]
    gap = float(aic[law.index[0]] - aic[best.name])
    if best["form"] == "power law + floor" or gap < AIC_MARGIN:
        return ""
    article = "an" if str(best["form"])[0] in "aeiou" else "a"
    return (f"By AIC on the trial means (corrected covariance), {article} {best['form']} fits better than the law "
            f"(the law's AIC is higher by {fmt(gap, 2)}; the table of functional forms gives every form).")
