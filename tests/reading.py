"""What a reader reads on a built page, and how much two pages repeat each other (issue 30, item 2).

* :func:`article_text` and :func:`paragraphs` read a page of the built HTML book: the text of its main
  article (headings, prose, tables, captions; not the code of the cells nor the theme's navigation).
* :func:`shared_words` counts the words of one page covered by word 8-grams (shingles) that occur in the
  other page too: a run of 8 or more identical words counts in full, a shorter run not at all, so numbers
  and case names that differ break a shared sentence into pieces.
* :func:`repeated_paragraphs` lists the paragraphs of at least 25 words that occur more than once along a
  reading path (after whitespace is normalised).

Used by tests/test_book.py (the HTML files) and tests/test_browser.py (the text Chromium renders).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

#: the shingle length and the limits of issue 30, item 2
SHINGLE = 8
MAX_SHARED_WORDS = 150
PARAGRAPH_WORDS = 25

_WORD = re.compile(r"[^\W_]+(?:['’.,\-][^\W_]+)*")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, without punctuation; a number keeps its digits together ("1,000",
    "0.12")."""
    return [w.lower() for w in _WORD.findall(text)]


def covered(a: list[str], b: list[str], k: int = SHINGLE) -> int:
    """How many word positions of ``a`` lie inside a ``k``-word shingle that also occurs in ``b``."""
    if len(a) < k or len(b) < k:
        return 0
    other = {tuple(b[i:i + k]) for i in range(len(b) - k + 1)}
    hit = [False] * len(a)
    for i in range(len(a) - k + 1):
        if tuple(a[i:i + k]) in other:
            hit[i:i + k] = [True] * k
    return sum(hit)


def shared_words(text_a: str, text_b: str, k: int = SHINGLE) -> int:
    """Identical words of two pages: the larger of the two sides' :func:`covered` counts."""
    a, b = words(text_a), words(text_b)
    return max(covered(a, b, k), covered(b, a, k))


def normalise(paragraph: str) -> str:
    return " ".join(paragraph.split())


def repeated_paragraphs(pages: dict[str, list[str]], min_words: int = PARAGRAPH_WORDS) -> dict[str, list[str]]:
    """Paragraphs of at least ``min_words`` words found more than once in ``pages`` (name -> paragraphs),
    each with the pages it appears on (a page twice when it repeats itself)."""
    where = defaultdict(list)
    for name, paras in pages.items():
        for p in paras:
            p = normalise(p)
            if len(words(p)) >= min_words:
                where[p].append(name)
    return {p: names for p, names in where.items() if len(names) > 1}


# ---- the built HTML

def _article(html: str):
    from bs4 import BeautifulSoup  # a dependency of the book's theme (pydata-sphinx-theme)

    soup = BeautifulSoup(html, "html.parser")
    art = soup.find("article") or soup.find("main") or soup.body
    for junk in art.select(".cell_input, script, style, .headerlink, .toggle-details__summary, button"):
        junk.decompose()
    return art


def article_text(page: Path | str) -> str:
    """The main article's text of a built page (``page`` a path or the HTML itself)."""
    html = Path(page).read_text(encoding="utf-8") if isinstance(page, Path) else page
    return _article(html).get_text(" ")


def paragraphs(page: Path | str) -> list[str]:
    """The paragraphs (``<p>``, and list items without one) of the main article of a built page, outside
    tables (a table repeats its cells' words by design: one row per case and m)."""
    html = Path(page).read_text(encoding="utf-8") if isinstance(page, Path) else page
    art = _article(html)
    out = [p.get_text(" ") for p in art.find_all("p") if p.find_parent("table") is None]
    out += [li.get_text(" ") for li in art.find_all("li") if li.find("p") is None and li.find_parent("table") is None]
    return [normalise(p) for p in out if p.strip()]


# ---- status codes (issue 30, item 1): the reading path prints a fit status in words, never its code

#: the codes of :class:`s2rlib.law.fit_status.FitStatus` and :class:`s2rlib.law.derived.DerivedStatus` that
#: no English sentence contains (an identifier with an underscore), found anywhere in a page's text
_SNAKE_CODES = ("C_at_bound", "alpha_at_bound", "constant_preferred", "no_decrease", "shape_unresolved",
                "too_few_points", "n0_at_bound", "already_reached", "unusable_fit", "bad_target", "bad_input")
#: codes that are English words too: counted in code font, or right after "status" ("status ok")
_WORD_CODES = ("ok", "misfit", "unidentified", "failed", "unreachable")
_SNAKE = re.compile(r"(?<![\w-])(" + "|".join(_SNAKE_CODES) + r")(?![\w-])")
_AFTER_STATUS = re.compile(r"\bstatus(?:es)?(?: is| are|:)? `?(" + "|".join(_WORD_CODES) + r")`?(?![\w-])")


def status_codes(page: Path | str) -> list[str]:
    """The status codes a reader sees in the main article of a built page: every code with an underscore
    anywhere in its text, a one-word code (``ok``, ``misfit``...) in code font or right after "status"."""
    html = Path(page).read_text(encoding="utf-8") if isinstance(page, Path) else page
    art = _article(html)
    found = [c.get_text().strip() for c in art.select("code") if c.get_text().strip() in _WORD_CODES]
    text = art.get_text(" ")
    found += _SNAKE.findall(text) + _AFTER_STATUS.findall(text)
    return found


# ---- numbers and math (issue 30, item 5): 2-3 significant digits, math as math, one unit spelling

#: a law, an exponent or a unit written as plain text where the book prints math (MyST ``$...$``) or g/cm³
PLAIN_MATH = re.compile(r"R\(n\) = D n\^|n\^-?(?:alpha|α)|\^-alpha|\bchi\^2|\bchi2\b|g/cm\^3|\(1 \+ n/n_s\)\^")
#: a decimal number (with a point or an exponent); integers, counts with thousands separators included, are
#: not decimals. Not inside a word, a version or a DOI (10.1038/...), nor a commit hash.
_DECIMAL = re.compile(r"(?<![\w.,/#:])[−+-]?(\d+\.\d+(?:e[+-]?\d+)?|\d+e[+-]?\d+)(?![\w.]|/)")


def significant_digits(number: str) -> int:
    """The significant digits a decimal is printed with: ``0.0776`` 3, ``21.99`` 4, ``1.893e+04`` 4, ``3683.000000`` 10."""
    mantissa = number.lower().lstrip("−+-").split("e")[0].replace(".", "")
    return len(mantissa.lstrip("0")) or 1


def long_decimals(text: str, max_digits: int = 3) -> list[str]:
    """The decimals of ``text`` printed with more than ``max_digits`` significant digits (math ``$...$`` left out:
    a MyST source's exponents and the like are the author's)."""
    text = re.sub(r"\$[^$\n]*\$", " ", text)
    return [m.group(0) for m in _DECIMAL.finditer(text) if significant_digits(m.group(1)) > max_digits]


def plain_math(text: str) -> list[str]:
    """Laws, exponents and units written as plain text (:data:`PLAIN_MATH`; MyST math ``$...$`` left out)."""
    return [m.group(0) for m in PLAIN_MATH.finditer(re.sub(r"\$[^$\n]*\$", " ", text))]
