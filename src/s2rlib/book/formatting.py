"""One number format for the whole book: every table and figure label goes through these functions.

Rules (what a reader sees):

* measured values and fitted parameters: 3 significant figures (:func:`fmt`); numbers derived
  from a law (required database sizes, marginal gains, ratios, percentages) to 2 (:data:`DERIVED_SIG`);
* a number that rounds to zero is written ``0``, never ``-0`` or ``−0``; minus signs are ``−``;
* very large or very small numbers are written ``1.2×10⁷`` (never ``1.2e+07``);
* sample sizes are integers with thousands separators (``106,113``); a sample size *derived* from
  a law is rounded to 2 significant figures (``888,838`` -> ``890,000``), and from 10⁸ on it is
  written ``1.2×10⁸``;
* percentages are rounded to 2 significant figures and never written in scientific notation:
  below 0.1% they read ``< 0.1%``;
* recipe codes become words (``full_lr1e-3`` -> ``whole network, learning rate 0.001``).

:mod:`s2rlib.book` re-exports these names, so ``report.fmt`` keeps working.
"""

from __future__ import annotations

import math
import re
from s2rlib._core.units import pretty_units

DASH = "–"
MINUS = "−"
#: significant figures of numbers derived from a fitted law
DERIVED_SIG = 2
#: from here on a derived sample size is written in scientific notation
N_SCI_FROM = 1e8
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _float(x) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def round_sig(x: float, sig: int) -> float:
    """``x`` rounded to ``sig`` significant figures (0, NaN and infinities unchanged)."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, sig - 1 - int(math.floor(math.log10(abs(x)))))


def _minus(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def _sci(x: float, sig: int) -> str:
    mant, exp = f"{x:.{sig - 1}e}".split("e")
    return _minus(f"{mant}×10{str(int(exp)).translate(_SUPERSCRIPT)}")


def fmt(x, sig: int = 3, zeros: bool | None = None) -> str:
    """A number for a table: ``sig`` significant figures, ``–`` for NaN/None, ``∞`` for infinity.

    Every number that is not a whole number shows all ``sig`` figures, trailing zeros included, so the
    digits shown say how precise it is and both ends of an interval read alike (0.09999 is "0.100",
    never "0.1"; 0.25 is "0.250"); a whole number stays short (2.0 is "2") unless ``zeros`` is True
    (:func:`fmt_ci` asks for it when the other end of the interval has decimals: "[1.00, 1.50]").

    >>> fmt(0.123456), fmt(-0.0), fmt(-0.0001), fmt(1234567.0), fmt(3.8e-08), fmt(0.09999), fmt(0.25)
    ('0.123', '0', '−0.000100', '1.23×10⁶', '3.80×10⁻⁸', '0.100', '0.250')
    """
    v = _float(x)
    if v is None:
        return DASH if x is None else str(x)
    if math.isnan(v):
        return DASH
    if math.isinf(v):
        return "∞" if v > 0 else MINUS + "∞"
    if v == 0:
        return "0"
    if abs(v) < 1e-12:  # numerically zero
        return "0"
    rounded = round_sig(v, sig)  # the threshold reads the rounded value: 0.000997 at 2 figures is 0.0010
    if abs(rounded) >= 10 ** (sig + 2) or abs(rounded) < 10 ** -(sig + 1):
        return _sci(v, sig)
    if rounded == 0:
        return "0"
    whole = v == int(v) if zeros is None else not zeros
    keep_zeros = "#" if not whole and abs(rounded) < 10 ** (sig - 1) else ""  # 0.09999 -> 0.100
    v = rounded
    text = f"{v:{keep_zeros}.{sig}g}".rstrip(".") if abs(v) < 10**sig else f"{v:,.0f}"
    if "e" in text:  # e.g. 1e+03 from .3g at exactly 10**sig
        text = f"{v:,.0f}"
    return _minus(text)


def fmt_derived(x) -> str:
    """A number derived from a fitted law: :data:`DERIVED_SIG` significant figures."""
    return fmt(x, DERIVED_SIG)


def fmt_n(n, sig: int | None = None) -> str:
    """A sample size: an integer with thousands separators (``∞``/``–`` as :func:`fmt`).

    With ``sig`` (a size derived from a law) it is rounded to ``sig`` significant figures, and
    written ``1.2×10⁸`` from :data:`N_SCI_FROM` on: ``fmt_n(888838, 2) == '890,000'``.
    """
    v = _float(n)
    if v is None:
        return str(n)
    if not math.isfinite(v):
        return fmt(v)
    if sig is not None:
        v = round_sig(v, sig)
        if abs(v) >= N_SCI_FROM:
            return _sci(v, sig)
    elif abs(v) >= 1e12:
        return _sci(v, 3)
    return _minus(f"{int(round(v)):,}")


def fmt_ci(lo, hi, sig: int = 3, n: bool = False) -> str:
    """An interval ``[lo, hi]`` (``–`` when either end is missing).

    With ``n`` the ends are derived sample sizes (``sig`` significant figures, as :func:`fmt_n`).
    """
    a, b = _float(lo), _float(hi)
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return DASH
    if n:
        return f"[{fmt_n(a, sig)}, {fmt_n(b, sig)}]"
    ends = [fmt(a, sig), fmt(b, sig)]
    if any("." in e for e in ends):  # both ends read alike: [1.00, 1.50], never [1, 1.50]
        ends = [fmt(x, sig, zeros=True) if "." not in e and "×" not in e else e for x, e in zip((a, b), ends)]
    return f"[{ends[0]}, {ends[1]}]"


def fmt_signed(x, sig: int = 3) -> str:
    """As :func:`fmt`, with an explicit ``+`` on positive numbers (zero has no sign)."""
    s = fmt(x, sig)
    v = _float(x)
    if v is not None and v > 0 and s not in ("0", DASH):
        return "+" + s
    return s


def fmt_diff(mean: float, lo: float, hi: float) -> tuple[str, str]:
    """A paired difference and its interval, all three with the decimals that the interval's
    half-width resolves (two significant digits of it): ``("+0.0001", "[−0.0084, +0.0086]")``."""
    if not math.isfinite(mean):
        return DASH, DASH
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return fmt_signed(mean), fmt_ci(lo, hi)
    dec = min(max(0, 1 - math.floor(math.log10((hi - lo) / 2))), 6)  # a zero-width interval: 6 decimals at most

    def f(x):
        d = dec
        if x != 0 and float(f"{x:.{d}f}") == 0:  # a bound that is not 0 never prints as "−0.000":
            d = -math.floor(math.log10(abs(x)))  # its first significant digit shows which side of 0
        return f"{x:+.{d}f}".replace("-", "−") if x != 0 else f"{0:.{d}f}"

    return f(mean), f"[{f(lo)}, {f(hi)}]"


def fmt_diff_cell(mean: float, lo: float, hi: float) -> str:
    """:func:`fmt_diff` in one table cell, ``+0.016 [+0.012, +0.021]``; a dash without a value."""
    m, ci = fmt_diff(mean, lo, hi)
    return DASH if m == DASH else f"{m} {ci}"


def signed_pct(x: float) -> str:
    """A signed percentage for a gain in % of a baseline: whole percent from 9.5% on, one decimal below.

    >>> signed_pct(-60.2), signed_pct(3.04), signed_pct(-2.06)
    ('−60%', '+3.0%', '−2.1%')
    """
    s = f"{x:+.0f}%" if abs(x) >= 9.5 else f"{x:+.1f}%"
    return s.replace("-", "−")


def fmt_pct(x, sig: int = DERIVED_SIG, signed: bool = False) -> str:
    """A percentage (``x`` already in percent): ``sig`` significant figures, never ``-0%`` or ``1e-08%``.

    >>> fmt_pct(-12.345), fmt_pct(3.8e-08), fmt_pct(-0.01), fmt_pct(5, signed=True)
    ('−12%', '< 0.1%', '> −0.1%', '+5.0%')
    """
    v = _float(x)
    if v is None or math.isnan(v):
        return DASH
    if math.isinf(v):
        return fmt(v) + "%"
    if v == 0:
        return "0%"
    if abs(v) < 0.1:
        return "< 0.1%" if v > 0 else f"> {MINUS}0.1%"
    r = round_sig(v, sig)
    text = f"{r:,.{max(0, sig - 1 - int(math.floor(math.log10(abs(r)))))}f}"
    text = _minus(text)
    if signed and v > 0:
        text = "+" + text
    return text + "%"


def fmt_pct_ci(lo, hi, sig: int = DERIVED_SIG) -> str:
    """An interval of percentages, ``[−12%, 3.4%]``."""
    a, b = _float(lo), _float(hi)
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return DASH
    return f"[{fmt_pct(a, sig)}, {fmt_pct(b, sig)}]"


def code(text) -> str:
    """Text in code font (Markdown)."""
    return f"`{text}`"


def units_after(units: str) -> str:
    """`` eV`` after a number in a sentence; nothing for a dimensionless property."""
    return "" if not units or units == "dimensionless" else f" {pretty_units(units)}"


def units_suffix(units: str) -> str:
    """`` (eV)`` after a column name; nothing for a dimensionless property."""
    return "" if not units or units == "dimensionless" else f" ({pretty_units(units)})"


_NUM = r"[0-9.]+(?:[eE][+-]?[0-9]+)?"
#: the forms of a fine-tuning candidate's code (``transfer.Candidate.name``; the recipe study's candidates,
#: ``selected_recipe`` in a results table): each names its learning rates and L2-SP weight
_RECIPE_CODES = (
    re.compile(rf"^full_lr(?P<lr>{_NUM})$"),
    re.compile(rf"^head_lr(?P<head>{_NUM})$"),
    re.compile(rf"^body(?P<body>{_NUM})_head(?P<head>{_NUM})$"),
    re.compile(rf"^l2sp(?P<l2sp>{_NUM})_lr(?P<lr>{_NUM})$"),
)


def _plain(number) -> str:
    try:
        return f"{float(number):.10f}".rstrip("0").rstrip(".")
    except ValueError:
        return str(number)


def recipe_rates(name) -> dict[str, float] | None:
    """A fine-tuning candidate's code read back into what it trains: ``{"body_lr", "head_lr", "l2sp"}``
    (the fields of :class:`s2rlib.training.transfer.Candidate`); None for a code of no known form.

    ``full_lr1e-3`` -> body and head at 0.001; ``head_lr1e-3`` -> body 0 (frozen), head 0.001;
    ``body1e-4_head1e-3`` -> body 0.0001, head 0.001; ``l2sp1e-3_lr3e-4`` -> both 0.0003, L2-SP 0.001.
    """
    for pattern in _RECIPE_CODES:
        if m := pattern.match(str(name)):
            g = {k: float(v) for k, v in m.groupdict().items()}
            lr = g.get("lr")
            return {"body_lr": g.get("body", 0.0 if lr is None else lr), "head_lr": g.get("head", lr),
                    "l2sp": g.get("l2sp", 0.0)}
    return None


def _rates_words(body_lr: float, head_lr: float, l2sp: float = 0.0) -> str:
    """What a fine-tuning candidate trains, in words, from its learning rates and L2-SP weight."""
    body, head = _plain(body_lr), _plain(head_lr)
    if body_lr == 0:
        text = f"last layer only, learning rate {head}"
    elif body_lr == head_lr:
        text = f"whole network, learning rate {head}"
    else:
        text = f"slow body: learning rate {body} for the body, {head} for the last layer"
    return text + (f", pulled toward the pretrained weights (L2-SP {_plain(l2sp)})" if l2sp else "")


def recipe_words(name) -> str:
    """A fine-tuning candidate's code in words (the one vocabulary of the book's tables):
    ``full_lr1e-3`` -> ``whole network, learning rate 0.001``,
    ``body1e-4_head1e-3`` -> ``slow body: learning rate 0.0001 for the body, 0.001 for the last layer``.

    Codes of other forms are returned unchanged (in code font), so a new recipe is never hidden.
    """
    rates = recipe_rates(name)
    return code(name) if rates is None else _rates_words(**rates)


__all__ = ["DASH", "MINUS", "DERIVED_SIG", "round_sig", "fmt", "fmt_derived", "fmt_n", "fmt_ci", "fmt_signed",
           "fmt_pct", "fmt_pct_ci", "code", "units_suffix", "recipe_rates", "recipe_words"]


def join_words(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def trials_words(k) -> str:
    """``k`` trials in words: "1 trial", "20 trials"."""
    return f"{k} trial" if str(k) == "1" else f"{k} trials"
