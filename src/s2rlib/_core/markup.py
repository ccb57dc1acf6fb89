"""User text made safe for the book: MyST/Markdown and HTML see it as text, never as markup.

A case file of one's own (or one shared by a colleague) puts its title, property, units and
descriptions into generated pages, notebooks and tables. :func:`literal` turns such a string into
Markdown that renders as exactly that text: every ASCII punctuation character is backslash-escaped
(CommonMark lets any of them be escaped, and an escaped character is never markup: no code fence,
directive, role, math, comment, emphasis, link or raw HTML can start), and line breaks become
spaces (a title or a table cell is one line). :func:`check_line` refuses what no escaping makes
readable: a non-string, an empty string, control characters.
"""

from __future__ import annotations

import re
import string

from s2rlib._core.errors import ParameterError

_PUNCT = re.compile("([" + re.escape(string.punctuation) + "])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def literal(text: str) -> str:
    """``text`` as Markdown that MyST renders as this very text (one line, every ASCII punctuation escaped)."""
    return _PUNCT.sub(r"\\\1", " ".join(str(text).split()))


def check_line(value, key: str, location: str, *, lines: bool = False) -> str:
    """``value`` if it is a non-empty string without control characters (a newline only with ``lines``);
    else a ParameterError naming the key and the file."""
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(f"{location}: {key}={value!r}: expected a non-empty string")
    bad = _CONTROL.search(value) or (None if lines else re.search(r"[\r\n\t]", value))
    if bad:
        raise ParameterError(f"{location}: {key}={value!r}: a control character or line break "
                             f"({bad.group()!r}) at position {bad.start()}; expected one line of text")
    return value
