"""Result sentences generated from the numbers: what a case shows, in plain words.

Every sentence here is computed from a :class:`s2rlib.law.trial_stats.CaseFit`: the paired gain at the
largest n with its corrected 90% interval (:class:`s2rlib.law.trial_stats.Gain`), the law's status in
words (:class:`s2rlib.law.fit_status.FitStatus`), and alpha and C as every table shows them:
:func:`shown_parameters` is the one place that decides, per fit status, which of D, alpha and C
are printed as numbers (C as an upper bound when the floor is unresolved, alpha as a one-sided limit
at a search bound) and which words replace the rest. The verdict on the gain follows only from its
interval: *lowers* when the whole interval is below zero, *raises* when it is above, *no
detectable effect* when it includes zero. :mod:`s2rlib.book.claim_check` is the other direction: it checks a
sentence (generated or hand-written) against the numbers it stands on, and ``tests/test_claims.py``
runs it over the generator and over README.md and book/ (its names stay importable from here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from s2rlib.book import equal_m
from s2rlib.book.formatting import (DASH, fmt, fmt_ci, fmt_diff, fmt_n, fmt_signed, join_words, signed_pct, trials_words,
                                    units_after)
from s2rlib.book.law_checks import extrapolation_sentence, forms_sentence
from s2rlib.law.fit_status import CI_LEVEL, MIN_POINTS, FitStatus
from s2rlib.law.trial_stats import CaseFit, Gain
from s2rlib._core.constants import ALL_M
from s2rlib.law.fit_status import ALPHA_BOUNDS, alpha_bounds_reached
from s2rlib.book.case_results import case_words

#: statuses under which the data show no fall with n: the book shows the constant, never a law
CONSTANT_STATUSES = (FitStatus.constant_preferred, FitStatus.no_decrease)
NOT_IDENTIFIED = "not identified"
NO_TREND = "no fall with n"
NO_LAW = "no law fitted"
SHAPE_REJECTED = "form rejected by the goodness-of-fit test"
#: a one-sided alpha limit whose open side covers more than this share of the log search range says nothing
#: (e.g. "alpha ≥ 0.016" where the search runs to 3): it is printed as "not identified"
VACUOUS_SHARE = 0.5
ESTIMATE, BOUND, WORDS = "estimate", "bound", "words"

#: Every status a fit or a derived number can carry (:class:`s2rlib.law.fit_status.FitStatus`,
#: :class:`s2rlib.law.derived.DerivedStatus`) in a short plain phrase: what the reading path (the landing
#: page, the summary, the case chapters, "Data or compute?") prints instead of the code. The codes stay in
#: the method chapter's status table (:data:`STATUS_TABLE`, which each phrase links to), in the appendices
#: and in the downloadable CSVs.
STATUS_WORDS: dict[str, str] = {
    "ok": "law identified",
    "misfit": "shape rejected by the data",
    "shape_unresolved": "falls, shape not identified",
    "constant_preferred": "no detectable fall with n",
    "no_decrease": "no fall with n",
    "alpha_at_bound": "exponent at its search bound",
    "C_at_bound": "no floor resolved",
    "unidentified": "law not pinned down",
    "too_few_points": "too few database sizes",
    "failed": "fit failed",
    "n0_at_bound": "scale at its search bound",
    "unreachable": "target below the floor",
    "already_reached": "target already reached",
    "unusable_fit": "law without numbers",
    "bad_target": "target not a number",
    "bad_input": "input not a positive number",
}
#: the label of the method chapter's status table (book/method.md)
STATUS_TABLE = "status-table"


def status_words(code) -> str:
    """A status code (a :class:`~s2rlib.law.fit_status.FitStatus` member or its value) as a short plain
    phrase (:data:`STATUS_WORDS`); an unknown code is returned as it is."""
    key = str(getattr(code, "value", code))
    return STATUS_WORDS.get(key, key)


def status_table(statuses) -> pd.DataFrame:
    """The method chapter's table of a status enum (:class:`~s2rlib.law.fit_status.FitStatus` or
    :class:`~s2rlib.law.derived.DerivedStatus`): the code, the words the reading path prints for it, its
    meaning and how to read the numbers (book/method.md holds it between its markers; a test keeps them equal)."""
    return pd.DataFrame([{"status": f"`{s.value}`", "in the book's words": status_words(s), "meaning": s.meaning,
                          "how to read the numbers": s.reading} for s in statuses])


def status_link(code) -> str:
    """:func:`status_words` as a MyST cross-reference to the method chapter's status table."""
    return f"{{ref}}`{status_words(code)} <{STATUS_TABLE}>`"


#: Which of (D, alpha, C) every table prints under each fit status, and the words that replace the
#: rest: ESTIMATE is the number with its interval (C becomes the upper bound "< x" whenever its floor
#: is unresolved, :meth:`s2rlib.law.scaling.Fit.floor_unresolved`); BOUND is one-sided (C "< x"; alpha
#: "≥ x" when its interval reaches the upper search bound, "≤ x" when it reaches the lower one, "not
#: identified" when it reaches both); any other entry is the words printed instead of a number.
#: ``alpha_at_bound`` depends on which bound alpha reaches (:class:`s2rlib.law.fit_status.FitStatus`): at
#: the upper one C is the level of the plateau and keeps its interval; at the lower one D and C trade off.
PARAMETER_RULES: dict[str, tuple[str, str, str]] = {
    "ok": (ESTIMATE, ESTIMATE, ESTIMATE),
    "C_at_bound": (ESTIMATE, ESTIMATE, BOUND),
    "alpha_at_bound (upper)": (NOT_IDENTIFIED, BOUND, ESTIMATE),
    "alpha_at_bound (lower)": (NOT_IDENTIFIED, BOUND, NOT_IDENTIFIED),
    "constant_preferred": (NO_TREND, NO_TREND, NOT_IDENTIFIED),
    "no_decrease": (NO_TREND, NO_TREND, NOT_IDENTIFIED),
    "unidentified": (NOT_IDENTIFIED,) * 3,
    "shape_unresolved": (NOT_IDENTIFIED,) * 3,
    "misfit": (SHAPE_REJECTED,) * 3,
    "too_few_points": (NO_LAW,) * 3,
    "failed": (NO_LAW,) * 3,
}


def shows_constant(fit) -> bool:
    """Whether a fit's status says the error does not fall with n (a constant fits as well)."""
    return fit.status in CONSTANT_STATUSES


@dataclass(frozen=True)
class Shown:
    """One parameter of the law as every table shows it (:func:`shown_parameters`).

    ``value`` is the estimate cell (``0.123``, ``< 0.17``, ``≥ 0.016``, ``not identified``, ``no
    trend``), ``interval`` the interval cell (``[0.1, 0.2]``, ``upper bound only``, ``–``), ``note``
    why a bound is one-sided in a few words and ``detail`` at more length; ``number`` is the printed
    number (the estimate or the bound; NaN for words), for columns derived from it."""

    name: str
    kind: str  # ESTIMATE, BOUND or WORDS
    value: str
    interval: str
    note: str = ""
    detail: str = ""
    number: float = math.nan

    @property
    def printed(self) -> bool:
        """Whether a number (an estimate or a one-sided bound) is printed."""
        return self.kind != WORDS

    def cell(self, units: str = "") -> str:
        """Value and interval in one cell: ``0.12 [0.1, 0.15]``, ``< 0.17 (no floor resolved)``, ``no fall with n``."""
        if self.kind == ESTIMATE:
            return f"{self.value} {self.interval}{units}" if self.interval != DASH else f"{self.value}{units}"
        if self.kind == BOUND:
            return f"{self.value}{units} ({self.note})" if self.note else f"{self.value}{units}"
        return self.value

    def clause(self, units: str = "") -> str:
        """In a sentence: ``alpha = 0.12 [0.1, 0.15]``, ``C < 0.17 eV (no floor resolved)``, ``C: not identified``."""
        if self.kind == ESTIMATE:
            return f"{self.name} = {self.cell(units)}"
        if self.kind == BOUND:
            return f"{self.name} {self.cell(units)}"
        return f"{self.name}: {self.value}"


def _rule(status, alpha_reached: tuple[bool, bool]) -> tuple[str, str, str]:
    key = str(getattr(status, "value", status))
    if key == FitStatus.alpha_at_bound.value:
        key += " (upper)" if alpha_reached == (False, True) else " (lower)"
    return PARAMETER_RULES.get(key, (NOT_IDENTIFIED,) * 3)  # an unknown status never prints a number


def _vacuous_alpha(limit: float, upper: bool) -> bool:
    """Whether a one-sided limit on alpha leaves more than :data:`VACUOUS_SHARE` of the log search range open."""
    lo, hi = ALPHA_BOUNDS
    if not (np.isfinite(limit) and limit > 0):
        return True
    open_part = math.log(hi / limit) if upper else math.log(limit / lo)
    return open_part > VACUOUS_SHARE * math.log(hi / lo)


def _plateau_rule(rule: tuple[str, str, str], status, plateau: bool) -> tuple[str, str, str]:
    """A plateau C identified by its interval (``plateau``) is printed whatever alpha does, except where the
    status says the error does not fall or the form is rejected."""
    key = str(getattr(status, "value", status))
    if plateau and key in ("alpha_at_bound", "unidentified", "C_at_bound"):
        return (rule[0], rule[1], ESTIMATE)
    return rule


def shown_parameters(status, estimates: Mapping[str, float], intervals: Mapping[str, tuple[float, float]], *,
                     floor_unresolved: bool = False, floor_why: str = "", level: float = CI_LEVEL,
                     plateau: bool = False, floor_ceiling: float = math.nan) -> dict[str, Shown]:
    """How every table shows D, alpha and C of a fit with ``status`` (:data:`PARAMETER_RULES`).

    ``estimates`` and ``intervals`` map ``"D"``, ``"alpha"``, ``"C"`` to the fitted value and its
    interval at ``level``; ``floor_unresolved`` says that C is only bounded from above (``floor_why``:
    why, in words). :func:`fit_parameters` fills them from a :class:`s2rlib.law.scaling.Fit`.
    ``plateau`` says that C is identified as a level even where alpha is not (the finite-R(0) form,
    :meth:`s2rlib.law.finite.FiniteFit.floor_resolved`). No vacuous bound is printed: ``C < x`` only where x
    lies below ``floor_ceiling`` (the lower end of the interval of the lowest measured mean: a larger
    bound says no more than the measurements), a one-sided alpha only where it closes at least half of the
    log search range (:data:`VACUOUS_SHARE`).
    """
    pct = f"{int(round(level * 100))}%"
    a, (a_lo, a_hi) = float(estimates.get("alpha", math.nan)), intervals.get("alpha", (math.nan, math.nan))
    reached = alpha_bounds_reached(a, a_lo, a_hi)
    out = {}
    for name, rule in zip(("D", "alpha", "C"), _plateau_rule(_rule(status, reached), status, plateau)):
        x = float(estimates.get(name, math.nan))
        lo, hi = intervals.get(name, (math.nan, math.nan))
        if rule == ESTIMATE and name == "C" and floor_unresolved and not plateau:
            rule = BOUND
        if rule == BOUND and name == "C" and np.isfinite(floor_ceiling) and np.isfinite(hi) and hi >= floor_ceiling:
            out[name] = Shown(name, WORDS, "no floor resolved", DASH,
                              detail=f"its {pct} upper end {fmt(hi)} is not below the lowest measured error")
            continue
        if rule == ESTIMATE:
            out[name] = Shown(name, ESTIMATE, fmt(x), fmt_ci(lo, hi), number=x)
        elif rule == BOUND and name == "C":
            why = floor_why or "no floor resolved"
            if np.isfinite(hi) and hi <= 0:  # every draw puts C at its bound: "C < 0" would say nothing true
                why = f"C = 0 in the fit and throughout its {pct} interval"
            out[name] = (Shown(name, BOUND, f"< {fmt(hi)}", "upper bound only", "no floor resolved", why, float(hi))
                         if np.isfinite(hi) and hi > 0 else Shown(name, WORDS, "no floor resolved", DASH, detail=why))
        elif rule == BOUND and name == "alpha" and reached in ((False, True), (True, False)) and not _vacuous_alpha(
                (a_lo if reached[1] else a_hi) if np.isfinite(a_lo) and np.isfinite(a_hi) else a, reached[1]):
            upper = reached[1]
            limit = (a_lo if upper else a_hi) if np.isfinite(a_lo) and np.isfinite(a_hi) else a
            note = f"its {pct} interval reaches the search bound {fmt(ALPHA_BOUNDS[1 if upper else 0])}"
            out[name] = Shown(name, BOUND, f"{'≥' if upper else '≤'} {fmt(limit)}",
                              "lower limit only" if upper else "upper limit only", note, note, float(limit))
        else:
            words = NOT_IDENTIFIED if rule in (ESTIMATE, BOUND) else rule
            out[name] = Shown(name, WORDS, words, DASH)
    return out


def _display_ci(fit, level: float = CI_LEVEL) -> dict[str, tuple[float, float]]:
    """The intervals of D, alpha, C as displays read them: C's is (0, 0) when its upper end sits at C's
    bound 0 within the fit's zero level (:meth:`s2rlib.law.scaling.Fit.C_upper`), so that it reads "no floor
    resolved", never "C < 0" or "C < 1e-06"."""
    nan = (math.nan, math.nan)
    if not fit.usable:
        return {k: nan for k in ("D", "alpha", "C")}
    ci = fit.ci(level)
    if fit.floor_unresolved(level) and np.isfinite(ci["C"][1]) and not np.isfinite(fit.C_upper(level)):
        ci = {**ci, "C": (0.0, 0.0)}
    return ci


def fit_parameters(fit, level: float = CI_LEVEL) -> dict[str, Shown]:
    """:func:`shown_parameters` of a :class:`s2rlib.law.scaling.Fit`: how every table shows its D, alpha and C."""
    ci = _display_ci(fit, level)
    unresolved = fit.floor_unresolved(level)
    return shown_parameters(fit.status, {k: getattr(fit, k) for k in ("D", "alpha", "C")}, ci,
                            floor_unresolved=unresolved, floor_why=fit.floor_reason(level) if unresolved else "",
                            level=level)


#: the two forms in words, as every table names them
#: the two forms as MyST math (generated prose and tables never print a law as plain text)
FORM_WORDS = {"law": r"$D\,n^{-\alpha} + C$", "finite": r"$C + (R_0 - C)(1 + n/n_s)^{-\alpha}$"}


def finite_parameters(ff, level: float = CI_LEVEL, floor_ceiling: float = math.nan) -> dict[str, Shown]:
    """:func:`shown_parameters` of a :class:`s2rlib.law.finite.FiniteFit` (its alpha and C; D is not a
    parameter of this form): C as an estimate wherever its plateau is identified."""
    if not ff.usable:
        return shown_parameters(ff.status, {}, {}, level=level)
    ci = ff.ci(level)
    resolved = ff.floor_resolved(level)
    return shown_parameters(ff.status, {"D": math.nan, "alpha": ff.alpha, "C": ff.C}, ci,
                            floor_unresolved=not resolved, plateau=resolved, floor_ceiling=floor_ceiling,
                            floor_why="" if resolved else "no floor resolved", level=level)


def form_parameters(cf: CaseFit, level: float = CI_LEVEL) -> dict[str, Shown]:
    """alpha and C of the form a case's row reports (:attr:`s2rlib.law.trial_stats.CaseFit.chosen`), as
    every table shows them, with no bound on C above the lowest measured error."""
    ceiling = cf.floor_ceiling(level)
    if cf.chosen == "finite":
        return finite_parameters(cf.finite, level, ceiling)
    f = cf.fit
    ci = _display_ci(f, level)
    unresolved = f.floor_unresolved(level) if f.usable else False
    return shown_parameters(f.status, {k: getattr(f, k) for k in ("D", "alpha", "C")}, ci,
                            floor_unresolved=unresolved, floor_why=f.floor_reason(level) if unresolved else "",
                            level=level, floor_ceiling=ceiling)


def law_clauses(shown: Mapping[str, Shown], names=("alpha", "C"), units: str = "") -> str:
    """The parameters ``names`` in words, printed numbers first: ``alpha = 0.3 [0.2, 0.4]; C < 0.1 eV (no
    floor resolved)``, ``no fall with n; C not identified``, ``alpha and C not identified``."""
    parts, words = [], {}
    for k in names:
        s = shown[k]
        if s.printed:
            parts.append(s.clause(units if k != "alpha" else ""))
        else:
            words.setdefault(s.value, []).append(k)
    for w, ks in words.items():  # "no fall with n" and "no law fitted" are about the whole law, not one parameter
        parts.append(f"{' and '.join(ks)} {w}" if w == NOT_IDENTIFIED else
                     NO_TREND if w == NO_TREND else w if w == NO_LAW else f"{' and '.join(ks)}: {w}")
    return "; ".join(parts)


def fitted_constant(fit) -> float:
    """The constant the book shows when the error does not fall with n: the mean of the trial means
    over the fitted n > 0 (the least-squares constant; for ``no_decrease`` the fit's own C)."""
    R = np.asarray(getattr(fit, "R", []), dtype=float)
    R = R[np.isfinite(R)]
    return float(R.mean()) if len(R) else float(getattr(fit, "C", math.nan))


def _pct(x: float) -> str:
    return f"{abs(x):.0f}%" if abs(x) >= 9.5 else f"{abs(x):.1f}%"


@dataclass(frozen=True)
class Finding:
    """What one case (one m) shows: the gain at the largest n and the law, as the tables report them."""

    case: str
    m_target: int
    units: str
    trials: int
    baseline: float
    gain: Gain
    status: FitStatus
    alpha: float
    alpha_lo: float
    alpha_hi: float
    C: float
    C_lo: float
    C_hi: float
    C_upper_only: bool
    form: str = "law"
    p_value: float = math.nan
    parameters: Mapping[str, Shown] | None = None  # as :func:`form_parameters` shows them
    #: the distinct n > 0 with a finite positive mean error: what a law is fitted to
    ns: tuple[int, ...] = ()

    @property
    def verdict(self) -> str:
        return self.gain.verdict

    @property
    def relative(self) -> tuple[float, float, float]:
        """Gain, lo, hi in percent of the baseline (NaN without a baseline)."""
        b = self.baseline
        if not (np.isfinite(b) and b):
            return (math.nan, math.nan, math.nan)
        return (100 * self.gain.mean / b, 100 * self.gain.lo / b, 100 * self.gain.hi / b)

    def where(self) -> str:
        m = "" if self.m_target == ALL_M else f" with m = {fmt_n(self.m_target)} experimental samples"
        return f"on n = {fmt_n(self.gain.n)} simulations{m}"

    def gain_sentence(self) -> str:
        """The paired gain at the largest n in words, with its corrected interval."""
        g = self.gain
        u = units_after(self.units)
        if not np.isfinite(g.mean):
            return "The paired gain cannot be computed: the grid lacks n = 0 or the largest n."
        rel, rlo, rhi = self.relative
        pct = f"{int(round(g.level * 100))}%"
        mean, ci = fmt_diff(g.mean, g.lo, g.hi)
        absolute = f"{mean}{u}, {pct} interval {ci}"
        tail = f"paired over {trials_words(g.trials)}"  # the page says once how the interval is corrected
        if self.verdict == "unknown":
            return (f"Pretraining {self.where()} changes the error by {fmt_signed(g.mean)}{u} "
                    f"(no interval: fewer than two trials).")
        if self.verdict == "lowers":
            size = (f" by {_pct(rel)} [{_pct(rhi)}, {_pct(rlo)}]" if np.isfinite(rel) else "")
            return f"Pretraining {self.where()} lowers the error{size} ({absolute}; {tail})."
        if self.verdict == "raises":
            size = (f" by {_pct(rel)} [{_pct(rlo)}, {_pct(rhi)}]" if np.isfinite(rel) else "")
            return f"Pretraining {self.where()} raises the error{size} ({absolute}; {tail})."
        size = f"{signed_pct(rel)} [{signed_pct(rlo)}, {signed_pct(rhi)}]" if np.isfinite(rel) else absolute
        return (f"Pretraining {self.where()} has no detectable effect on the error: {size} "
                f"({absolute}; the interval includes zero; {tail}).")

    def shown(self) -> dict[str, Shown]:
        """alpha and C as every table shows them under this status (:func:`shown_parameters`)."""
        if self.parameters is not None:
            return dict(self.parameters)
        return shown_parameters(self.status, {"alpha": self.alpha, "C": self.C},
                                {"alpha": (self.alpha_lo, self.alpha_hi), "C": (self.C_lo, self.C_hi)},
                                floor_unresolved=self.C_upper_only)

    def law_text(self) -> str:
        """alpha and C in words, as the tables show them (:func:`law_clauses`)."""
        return law_clauses(self.shown(), units=units_after(self.units))

    def _head(self) -> str:
        return {
            FitStatus.ok: "The scaling law is identified",
            FitStatus.constant_preferred: "The data show no scaling law",
            FitStatus.no_decrease: "The data show no scaling law",
            FitStatus.alpha_at_bound: "The scaling law is only partly identified",
            FitStatus.C_at_bound: "The scaling law has no resolved floor",
            FitStatus.unidentified: "The scaling law is not identified",
            FitStatus.misfit: "The data reject the law's shape",
            FitStatus.shape_unresolved: "The error falls with n, but the law's shape is not identified",
        }.get(self.status, "The scaling law")

    def _clauses(self) -> str:
        shown = self.shown()
        names = ("alpha",) if self.status == FitStatus.C_at_bound and not shown["C"].printed else ("alpha", "C")
        return law_clauses(shown, names=names, units=units_after(self.units))

    def law_sentence(self) -> str:
        """The law's status in words, with alpha and C as the tables report them."""
        st = self.status
        if st == FitStatus.too_few_points:
            return too_few_sentence(self.ns)
        if st == FitStatus.failed:
            return f"No law is fitted (status: {status_link(st)}; {st.meaning})."
        gof = f", goodness of fit p = {fmt(self.p_value, 2)}" if np.isfinite(self.p_value) else ""
        return (f"{self._head()} (form {FORM_WORDS.get(self.form, self.form)}{gof}; status: {status_link(st)}, "
                f"{st.meaning}); {self._clauses()}.")

    def law_brief(self, after_status: str = "") -> str:
        """:meth:`law_sentence` without the form and the status's meaning: ``The data show no scaling law:
        no fall with n; C not identified (status: no detectable fall with n).``, the status in words linked to
        the method chapter's status table (:func:`status_link`); ``after_status`` follows it inside the brackets."""
        status = f"status: {status_link(self.status)}" + (f", {after_status}" if after_status else "")
        if self.status == FitStatus.too_few_points:
            return too_few_sentence(self.ns)
        if self.status == FitStatus.failed:
            return f"No law is fitted ({status})."
        if self.status in CONSTANT_STATUSES:  # "no fall with n; C not identified" says the head again
            return f"{self._head()} ({status})."
        return f"{self._head()}: {self._clauses()} ({status})."

    def sentences(self) -> list[str]:
        return [self.gain_sentence(), self.law_sentence()]


def finding(cf: CaseFit, level: float = CI_LEVEL) -> Finding:
    """The :class:`Finding` of one fitted case: the gain, and the form its row reports
    (:attr:`s2rlib.law.trial_stats.CaseFit.chosen`) as :func:`form_parameters` shows it."""
    f = cf.chosen_fit
    ci = f.ci(level) if cf.chosen == "finite" else _display_ci(f, level)
    unresolved = (not f.floor_resolved(level)) if cf.chosen == "finite" else bool(f.floor_unresolved(level))
    return Finding(case=cf.case, m_target=int(cf.m_target), units=cf.units, trials=int(cf.trials),
                   baseline=float(cf.baseline), gain=cf.gain, status=FitStatus(f.status),
                   alpha=float(f.alpha), alpha_lo=ci["alpha"][0], alpha_hi=ci["alpha"][1],
                   C=float(f.C), C_lo=ci["C"][0], C_hi=ci["C"][1], C_upper_only=unresolved,
                   form=cf.chosen, p_value=float(f.p_value), parameters=form_parameters(cf, level),
                   ns=fitted_ns(cf))


def fitted_ns(cf: CaseFit) -> tuple[int, ...]:
    """The distinct n > 0 whose mean error is finite and positive: the points a law is fitted to."""
    mean = cf.mean[cf.mean.index > 0]
    return tuple(int(n) for n, v in mean.items() if np.isfinite(v) and v > 0)


def too_few_sentence(ns) -> str:
    """Why no law is fitted to a grid with fewer than ``MIN_POINTS`` distinct n > 0, in plain words."""
    have = f"{len(ns)} ({'n = ' + join_words([fmt_n(n) for n in ns])})" if ns else "none"
    return (f"No law is fitted: a law $R(n) = D\\,n^{{-\\alpha}} + C$ needs at least {MIN_POINTS} distinct n > 0 (database sizes "
            f"with a measured error), and this grid has {have}. The baseline and the paired gain do not need "
            f"a law; run more database sizes to fit one.")


def case_findings(cf: CaseFit, fits_by_m: Mapping[int, CaseFit] | None = None, *, check=None,
                  forms: pd.DataFrame | None = None) -> list[str]:
    """A case's findings in sentences (checked by tests/test_claims.py; a chapter opens with its key result,
    :meth:`s2rlib.book.pages.CasePage.key_result`): the gain and the law at all data, the law's extrapolation
    check and the best form by AIC when given (``check``, ``forms``), and the gain at the smallest m if run."""
    main = finding(cf)
    out = main.sentences()
    falls = fit_parameters(cf.fit)["D"].printed and not shows_constant(cf.fit)  # a law is written out
    extra = [extrapolation_sentence(check, cf.units) if check is not None and falls else "",
             forms_sentence(forms, cf.units) if forms is not None else ""]
    out += [x for x in extra if x]
    if fits_by_m:
        ms = sorted(m for m in fits_by_m if m > 0)
        if ms:
            small = finding(fits_by_m[ms[0]])
            out.append(f"With the fewest experimental samples: {small.gain_sentence()}")
    return out


def glance_table(fits: Mapping[str, CaseFit], states: Mapping | None = None,
                 shapes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Findings at a glance: per case (named in words), whether its table is final or provisional
    (``states``: :class:`s2rlib.book.case_results.GridState` by case, read from its rows), the gain at the
    largest n in words and numbers, and the law's status with alpha and C as every table shows them
    (:func:`shown_parameters`: numbers only where the status identifies them). Where alpha is printed
    and the law's shape fails a check (``shapes``: :func:`s2rlib.book.law_checks.shape_words` by
    case), the cell says so: an exponent of a curve that another form fits better describes the
    measured range, not a law to extrapolate.

    Five columns, so that the table fits the text column of the book."""
    rows = []
    for case, cf in fits.items():
        fd = finding(cf)
        rel, rlo, rhi = fd.relative
        words = {"lowers": "lowers the error", "raises": "raises the error",
                 "no_effect": "no detectable effect", "unknown": "unknown (one trial)"}[fd.verdict]
        law = f"{status_link(fd.status)}: {fd.law_text()}"
        shape = (shapes or {}).get(case, "")
        if shape and fd.shown()["alpha"].printed:
            law += f"; but {shape}"
        row = {"case": case_words(case, start=True)}
        if states is not None:
            st = states.get(case)
            row["results"] = st.tag() if st is not None else DASH
        row.update({
            "pretraining on the largest n": words,
            "gain vs no pretraining [90% CI]": (f"{signed_pct(rel)} [{signed_pct(rlo)}, {signed_pct(rhi)}] at "
                                                f"n = {fmt_n(fd.gain.n)}"
                                                if np.isfinite(rlo) else DASH),
            "scaling law": law,
        })
        rows.append(row)
    return pd.DataFrame(rows)


def conclusion(fits: Mapping[str, CaseFit], states: Mapping | None = None,
               tables: Mapping[str, pd.DataFrame] | None = None) -> str:
    """One paragraph over all cases, from the verdicts and statuses; a case whose table is provisional
    (``states``: :class:`s2rlib.book.case_results.GridState` by case) is marked so. With ``tables`` (the
    cases' results), the gains where experiments are scarce follow (:func:`s2rlib.book.equal_m.scarce_data_sentence`)."""
    fds = {c: finding(cf) for c, cf in fits.items()}
    if not fds:
        return "No case has results yet."

    def name(c: str) -> str:
        st = (states or {}).get(c)
        return case_words(c) + (" (provisional)" if st is not None and st.state == "provisional" else "")

    by = {v: [name(c) for c, fd in fds.items() if fd.verdict == v] for v in ("lowers", "raises", "no_effect")}
    parts = []
    if by["lowers"]:
        parts.append(f"pretraining on the largest database lowers the error detectably for {join_words(by['lowers'])}")
    if by["no_effect"]:
        parts.append(f"{'it has' if parts else 'pretraining on the largest database has'} no detectable effect "
                     f"for {join_words(by['no_effect'])}")
    if by["raises"]:
        parts.append(f"{'it raises' if parts else 'pretraining on the largest database raises'} the error for "
                     f"{join_words(by['raises'])}")
    text = "With all experimental data (m = all), " + "; ".join(parts) + " (paired gains with 90% intervals)."
    scarce = equal_m.scarce_data_sentence(tables) if tables else ""
    if scarce:
        text += " " + scarce
    ok = [name(c) for c, fd in fds.items() if fd.status == FitStatus.ok]
    if ok:
        text += f" The law $R(n) = D\\,n^{{-\\alpha}} + C$ is identified for {join_words(ok)}."
    else:
        text += (" For no case do the data identify the law $R(n) = D\\,n^{-\\alpha} + C$ (no case's status is "
                 f"{status_link(FitStatus.ok)}), so no exponent or floor is compared across cases.")
    return text


def describe_fit(cf: CaseFit) -> str:
    """The fit in plain text (``s2r fit``): the raw D, alpha, C with their intervals, each marked as the
    book's tables show it when the status does not identify it (:func:`s2rlib.book.findings.fit_parameters`)."""
    f = cf.fit
    ci = f.ci()
    lines = [f"{cf.case} (m = {'all' if cf.m_target == ALL_M else cf.m_target}, {trials_words(cf.trials)}): status {f.status}"]
    if f.usable:
        shown = fit_parameters(f)
        for k in ("D", "alpha", "C"):
            s = shown[k]
            if k == "C" and f.floor_unresolved():
                hi = f.C_upper()
                line = (f"  C     < {hi:.4g}  (90% upper bound; no floor resolved)" if np.isfinite(hi) else
                        "  C     = 0 in the fit and throughout its 90% interval (no floor resolved)"
                        if np.isfinite(ci["C"][1]) else "  C     no floor resolved (no interval)")
                mark = "" if s.printed else f"  (the tables show: {s.cell()})"
            else:
                line = f"  {k:5s} = {getattr(f, k):.4g}  90% CI [{ci[k][0]:.4g}, {ci[k][1]:.4g}]"
                mark = "" if s.kind == ESTIMATE else f"  (as fitted; the tables show: {s.cell()})"
            lines.append(line + mark)
    g = cf.gain
    if not np.isfinite(cf.baseline):
        lines.append("  no n = 0 rows: no baseline and no paired gain (run n = 0 with the same trials and seed)")
    elif not (np.isfinite(g.lo) and np.isfinite(g.hi)):
        lines.append(f"  n = 0 baseline: {cf.baseline:.4g}; paired gain at n = {g.n}: {g.mean:+.4g} "
                     f"(no interval: {'fewer than two trials' if cf.trials < 2 else 'too few paired trials'})")
    else:
        lines.append(f"  n = 0 baseline: {cf.baseline:.4g}; paired gain at n = {g.n}: {g.mean:+.4g} "
                     f"[{g.lo:+.4g}, {g.hi:+.4g}] (corrected t, n_test/n_pool = {g.ratio:.2f})")
    return "\n".join(lines)
