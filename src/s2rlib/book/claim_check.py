"""Checking words against numbers: the phrases a result sentence may use only when the table supports them.

:func:`check_gain_sentence` reads one sentence about a paired gain (:class:`s2rlib.law.trial_stats.Gain`) and
lists the verdict words its interval does not support ("helps" when the interval includes zero).
:func:`check_claims` reads hand-written text (README, summary, exercises) against the fitted findings of
every case (:class:`s2rlib.book.findings.Finding`) and lists each phrase of :data:`CLAIM_RULES` that the
numbers do not support. The generated sentences of :mod:`s2rlib.book.findings` use the same
:data:`VERDICT_WORDS`, and ``tests/test_claims.py`` runs both checkers over the book.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from dataclasses import dataclass

import numpy as np

from s2rlib.law.fit_status import FitStatus
from s2rlib._core.constants import ALL_M

from s2rlib.law.trial_stats import Gain

#: words a gain sentence may use for each verdict (and that other verdicts must not use)
VERDICT_WORDS = {
    "lowers": ("lowers the error", "lowers the test error", "lowered the error", "lowered the test error", "helps",
               "helped", "improves", "improved"),
    "raises": ("raises the error", "raises the test error", "raised the error", "raised the test error",
               "negative transfer", "hurts", "hurt"),
    "no_effect": ("no detectable effect", "not detectable", "no detectable difference"),
}


def check_gain_sentence(sentence: str, gain: Gain) -> list[str]:
    """Problems with a sentence about a paired gain: words that its interval does not support."""
    text = sentence.lower()
    problems = []
    for verdict, words in VERDICT_WORDS.items():
        for w in words:
            if re.search(rf"(?<!no )\b{re.escape(w)}\b", text) and verdict != gain.verdict:
                problems.append(f"says {w!r} but the interval [{gain.lo:.4g}, {gain.hi:.4g}] means "
                                f"{gain.verdict!r}")
    return problems


@dataclass(frozen=True)
class ClaimRule:
    """A phrase that hand-written text may use only when the fitted numbers support it."""

    pattern: str
    holds: Callable[[Mapping[str, Any], Mapping[int, Any]], bool]
    why: str


CLAIM_RULES = (
    ClaimRule(r"(error|it) follows a power law with a floor",
              lambda f, m: bool(f) and all(x.status == FitStatus.ok for x in f.values()),
              "every main fit must have status `ok` (floor resolved)"),
    ClaimRule(r"larger exponent gains more",
              lambda f, m: sum(x.status == FitStatus.ok for x in f.values()) >= 2,
              "comparing exponents needs at least two identified laws"),
    ClaimRule(r"transfer gap is below what these data can see", lambda f, m: False,
              "a floor at its bound is an upper bound (C < x), not a statement about the gap"),
    ClaimRule(r"interior optimum: D, alpha and C are all identified", lambda f, m: False,
              "`ok` means more than an interior optimum (FitStatus.ok)"),
    ClaimRule(r"shrink, in general",
              lambda f, m: len(m) >= 2 and _decreasing([m[k].C for k in sorted(m, key=lambda k: (k == ALL_M, k))]),
              "the chi table must show C falling as m grows"),
    ClaimRule(r"pretraining (always )?helps",
              lambda f, m: bool(f) and all(x.verdict == "lowers" for x in f.values()),
              "every case's gain interval must lie below zero"),
    ClaimRule(r"\b(lowers|raises|reduces|cuts|improves|helps|hurts)( the( test)? error)? (a lot|a great deal|much|"
              r"greatly|substantially|considerably|dramatically|hugely|massively|strongly)\b", lambda f, m: False,
              "a size in words: write the measured change (the paired gain in % with its interval) instead"),
    ClaimRule(r"paired gain shrinks as \$?m\$? grows",
              lambda f, m: len(m) >= 2 and _decreasing([abs(m[k].relative[0]) for k in sorted(m, key=lambda k: (k == ALL_M, k))]),
              "the chi gains at the largest n, in % of the baseline, must fall in size at every larger m"),
)


def _decreasing(xs) -> bool:
    xs = [x for x in xs if np.isfinite(x)]
    return len(xs) >= 2 and all(b < a for a, b in zip(xs, xs[1:]))


def check_claims(text: str, main: Mapping[str, Any], chi_by_m: Mapping[int, Any] | None = None) -> list[str]:
    """Sentences of ``text`` that use a phrase of :data:`CLAIM_RULES` the numbers do not support."""
    problems = []
    flat = re.sub(r"\s+", " ", text)
    for rule in CLAIM_RULES:
        for hit in re.finditer(rule.pattern, flat, flags=re.IGNORECASE):
            if not rule.holds(main, chi_by_m or {}):
                problems.append(f"{flat[max(0, hit.start() - 60):hit.end() + 20]!r}: {rule.why}")
    return problems
