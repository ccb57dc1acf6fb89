"""Two sentences that test the law rather than state it: the extrapolation check (the law fitted without
the largest n, against the measurement there) and the best functional form by AIC when it is not the law.
:func:`s2rlib.book.findings.case_findings` adds them to a case's findings; a chapter's "How far to trust the
law" (:meth:`s2rlib.book.pages.CasePage.trust`) shows the first.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from s2rlib.law.fit_status import AIC_MARGIN
from s2rlib.book.formatting import fmt, fmt_ci, fmt_n, units_after


#: reduced-fit statuses under which the extrapolation check has no law to test
NO_LAW_TO_EXTRAPOLATE = ("no_decrease", "constant_preferred", "too_few_points", "failed", "bad_input", "unidentified")


def extrapolation_sentence(check, units: str = "") -> str:
    """The extrapolation check in one sentence (``check``: :class:`s2rlib.law.derived.ExtrapolationCheck`);
    "" when the reduced fit gives no interval or describes no fall. The interval is that of the fitted mean
    curve; a measurement beyond it by less than 1.645 corrected standard errors of the measured mean is "at the
    edge"."""
    if str(check.status) in NO_LAW_TO_EXTRAPOLATE or not (
            np.isfinite(check.lo) and np.isfinite(check.hi) and np.isfinite(check.measured)):
        return ""
    u = units_after(units)
    sem = check.measured_sem if np.isfinite(check.measured_sem) else 0.0
    beyond = max(check.lo - check.measured, check.measured - check.hi)  # > 0: outside the interval
    text = (f"Held out, the largest database tests the law: fitted up to n = {check.n_fit_max:,.0f}, it predicts "
            f"{fmt(check.predicted)}{u} {fmt_ci(check.lo, check.hi)} at n = {check.n_max:,.0f}; the measured error "
            f"is {fmt(check.measured)}{u} ± {fmt(sem, 2)} (corrected standard error)")
    if beyond <= 0:
        return text + ", inside that interval."
    if beyond <= 1.645 * sem:
        return text + ", at the edge of that interval."
    if check.measured < check.lo:
        return text + (f", below that interval: the error at the largest n is lower than the law fitted up to "
                       f"n = {check.n_fit_max:,.0f} predicts.")
    return text + (f", above that interval: the error at the largest n is higher than the law fitted up to "
                   f"n = {check.n_fit_max:,.0f} predicts.")


def better_form(forms: pd.DataFrame) -> tuple[pd.Series | None, float]:
    """The form that beats the law by AIC by at least :data:`s2rlib.law.fit_status.AIC_MARGIN` (its row of the
    frame of :func:`s2rlib.law.forms.compare_forms`) and the law's AIC minus its; ``(None, nan)`` when the
    law is best or within the margin, or no AIC is finite."""
    aic = pd.to_numeric(forms["aic"], errors="coerce")
    ok = forms[np.isfinite(aic)]
    law = ok[ok["form"] == "power law + floor"]
    if not len(ok) or not len(law):
        return None, math.nan
    best = ok.loc[aic[np.isfinite(aic)].idxmin()]
    gap = float(aic[law.index[0]] - aic[best.name])
    if best["form"] == "power law + floor" or gap < AIC_MARGIN + 1e-6:  # a law with C = 0 ties the pure form at 2
        return None, math.nan
    return best, gap


def shape_words(check, forms: pd.DataFrame | None) -> str:
    """Where the law's shape fails its two checks, in a few words for a summary cell: another form fits
    better by AIC (:func:`better_form`), the held-out largest n lies beyond the law's interval by more than
    1.645 corrected standard errors (:func:`extrapolation_sentence`'s "below"/"above"); "" when it passes
    both, or when the checks have no law to test."""
    parts = []
    if forms is not None:
        best, gap = better_form(forms)
        if best is not None:
            parts.append(f"{best['form']} fits better (AIC lower by {fmt(gap, 2)})")
    if check is not None and str(check.status) not in NO_LAW_TO_EXTRAPOLATE and np.isfinite(check.lo) \
            and np.isfinite(check.hi) and np.isfinite(check.measured):
        sem = check.measured_sem if np.isfinite(check.measured_sem) else 0.0
        if check.measured < check.lo - 1.645 * sem:
            parts.append("held out, the largest n is below the law's prediction")
        elif check.measured > check.hi + 1.645 * sem:
            parts.append("held out, the largest n is above the law's prediction")
    return "; ".join(parts)


def forms_sentence(forms: pd.DataFrame, units: str = "") -> str:
    """Which form fits the trial means best by AIC, when it is not the law (``forms``: the frame of
    :func:`s2rlib.law.forms.compare_forms`); "" when the law is best, no AIC is finite, or the best form wins
    by less than :data:`s2rlib.law.fit_status.AIC_MARGIN`. When the winner is the exponential saturation, what
    its scale n0 says against the largest n measured (``forms.attrs["n_max"]``) follows."""
    best, gap = better_form(forms)
    if best is None:
        return ""
    article = "an" if str(best["form"])[0] in "aeiou" else "a"
    text = (f"By AIC on the trial means (corrected covariance), {article} {best['form']} fits better than the law "
            f"(the law's AIC is higher by {fmt(gap, 2)}; the table of functional forms gives every form).")
    return text + _saturation_scale(best, forms.attrs.get("n_max", np.nan), units, forms.attrs.get("n_min", np.nan))


def _rate(x: float) -> str:
    return f"{x:.0%}" if x >= 0.005 else "under 1%"


def _saturation_scale(best, n_max: float, units: str, n_min: float = float("nan")) -> str:
    """For an exponential saturation C + D exp(-n/n0): where its scale n0 lies against the measured n.
    n0 and C are the point fit's (the forms table has no intervals), and the words say so."""
    values = best.get("values") if hasattr(best, "get") else None
    if best["form"] != "exponential saturation" or not isinstance(values, dict) or not np.isfinite(n_max):
        return ""
    n0, C = float(values.get("n0", np.nan)), float(values.get("C", np.nan))
    if not (np.isfinite(n0) and np.isfinite(C)):
        return ""
    u = units_after(units)
    rate = math.exp(-n_max / n0)  # the fall per added simulation at n_max, relative to that at n = 0
    level = f"{fmt(C)}{u}, a point fit without an interval"
    if n0 > n_max:
        return (f" Its scale n0 ≈ {fmt_n(n0, 2)} lies beyond the largest n measured ({fmt_n(n_max)}); in that form the "
                f"fall per added simulation has slowed only to {_rate(rate)} of its initial rate at the largest n, and "
                f"the level it would approach ({level}) is an extrapolation beyond the data.")
    if np.isfinite(n_min) and n0 < n_min:
        return (f" Its scale n0 ≈ {fmt_n(n0, 2)} is below the smallest n measured ({fmt_n(n_min)}); over the measured "
                f"range that form is effectively a constant at about {level}.")
    return (f" Its scale n0 ≈ {fmt_n(n0, 2)} is within the measured range (largest n {fmt_n(n_max)}); in that form "
            f"the error levels off at about {level}, within a few times n0 (at the largest n the fall per added "
            f"simulation is {_rate(rate)} of its initial rate).")
