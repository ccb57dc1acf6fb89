"""How a fitted law is shown: the status in words and in a cell, and the law itself in words
(:func:`law_text`) and as MyST math (:func:`law_math`), both from one display decision
(:func:`law_parts`) that the law box, the figure legend and ``s2r fit`` share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2rlib.book import findings
from s2rlib.law import scaling
from s2rlib.law.fit_status import FitStatus
from s2rlib.book.formatting import fmt, units_after


def status_text(status) -> str:
    """A fit status in words (:class:`s2rlib.law.fit_status.FitStatus` carries its own explanation)."""
    try:
        return FitStatus(status).meaning
    except ValueError:
        return str(status)


def status_cell(status: str) -> str:
    """A fit status for a table cell: its plain words, linked to the method chapter's status table
    (:func:`s2rlib.book.findings.status_link`; the codes stay in that table and in the CSVs)."""
    return findings.status_link(status) if status else "missing"


def _constant_words(fit: scaling.Fit) -> str:
    return ("the best fit has D = 0: the error does not fall with n" if fit.status == FitStatus.no_decrease
            else "a constant fits the trial means as well as the law")


def _no_law_identified(fit: scaling.Fit, u: str) -> str | None:
    """Where the fit does not identify D (``alpha_at_bound``, ``unidentified``): no law is written out,
    only what every table prints (:func:`s2rlib.book.findings.fit_parameters`); None where D is identified."""
    shown = findings.fit_parameters(fit)
    if shown["D"].printed:
        return None
    return f"no law identified: {findings.law_clauses(shown, names=('alpha', 'C', 'D'), units=u)}"


#: a floor that is zero throughout its interval, in words (never "+ 0", never "C < 0")
NO_FLOOR = "no floor resolved"
ZERO_FLOOR = f"{NO_FLOOR}: C = 0 throughout its 90% interval"


@dataclass(frozen=True)
class LawParts:
    """What a display of a fitted law shows, decided once for the law box, the figure legend and
    ``s2r fit`` (:func:`law_parts`).

    ``kind`` is ``none`` (no law fitted), ``constant`` (the data show no fall with n: the constant
    ``value``), ``unidentified`` (D is not identified: ``words`` say what is printed) or ``law``
    (D n^-alpha plus a floor: ``floor`` = ``value`` for an estimate C, ``bound`` for ``C < value``,
    ``zero`` when C is 0 throughout its interval, ``unknown`` when C is not resolved and has no interval).
    """

    kind: str
    words: str = ""
    value: float = float("nan")
    D: float = float("nan")
    alpha: float = float("nan")
    floor: str = "value"


def law_parts(fit: scaling.Fit, units: str = "") -> LawParts:
    """The display decision for a fitted law (rules in :class:`LawParts`)."""
    if not fit.usable:
        return LawParts("none", words=f"no law ({fit.status})")
    if findings.shows_constant(fit) or fit.D <= 0:
        return LawParts("constant", words=_constant_words(fit), value=findings.fitted_constant(fit))
    unidentified = _no_law_identified(fit, units_after(units))
    if unidentified:
        return LawParts("unidentified", words=unidentified)
    if fit.floor_unresolved():
        hi = fit.C_upper()
        floor = "bound" if np.isfinite(hi) else "zero" if np.isfinite(fit.ci()["C"][1]) else "unknown"
        return LawParts("law", D=fit.D, alpha=fit.alpha, floor=floor, value=hi)
    return LawParts("law", D=fit.D, alpha=fit.alpha, value=fit.C)


def law_text(fit: scaling.Fit, units: str = "") -> str:
    """The fitted law in words, e.g. ``R(n) = 0.9 n^-0.45 + 0.08 eV/atom``.

    As every display of a law (:func:`law_parts`): a fit whose data show no fall with n
    (``constant_preferred``, ``no_decrease``) is the constant it reduces to, never ``D n^-alpha + C``;
    a floor that is not resolved is ``+ C, C < x``, or no floor at all when C is 0 throughout its
    interval; never ``+ 0``.
    """
    p, u = law_parts(fit, units), units_after(units)
    if p.kind == "none":
        return p.words
    if p.kind == "constant":
        return f"no scaling law: R(n) ≈ {fmt(p.value)}{u}, the mean over n > 0 ({p.words})"
    if p.kind == "unidentified":
        return p.words
    law = f"R(n) = {fmt(p.D)} n^-{fmt(p.alpha)}"
    return {"bound": f"{law} + C, C < {fmt(p.value)}{u}", "zero": f"{law}, {ZERO_FLOOR}",
            "unknown": f"{law} + C, {NO_FLOOR}"}.get(
        p.floor, f"{law} + {fmt(p.value)}{u}")


def _tex(x, sig: int = 3) -> str:
    text = fmt(x, sig).replace(",", "{,}").replace("−", "-")
    if "×10" in text:
        mant, exp = text.split("×10")
        exp = exp.translate(str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789"))
        text = f"{mant}\\times 10^{{{exp}}}"
    return text


def law_math(fit: scaling.Fit, units: str = "") -> str:
    """The fitted law as MyST inline math (``$R(n) = ...$``) followed by the units (rules of :func:`law_parts`)."""
    p, u = law_parts(fit, units), units_after(units)
    if p.kind == "none":
        return p.words
    if p.kind == "constant":
        return f"No scaling law: $R(n) \\approx {_tex(p.value)}${u}, the mean over n > 0 ({p.words})"
    if p.kind == "unidentified":
        return p.words[0].upper() + p.words[1:]
    law = f"R(n) = {_tex(p.D)}\\,n^{{-{_tex(p.alpha)}}}"
    return {"bound": f"${law} + C$ with $C < {_tex(p.value)}${u}", "zero": f"${law}$ ({ZERO_FLOOR})",
            "unknown": f"${law} + C$ ({NO_FLOOR})"}.get(
        p.floor, f"${law} + {_tex(p.value)}${u}")
