"""Sphinx HTML math renderer ``mathml``: LaTeX -> MathML at build time, with docutils' converter.

The default renderer (MathJax) downloads a script from a CDN when a page is opened; this one
writes MathML into the HTML, which browsers display natively (Chromium since 109, Firefox,
Safari), so the book works offline. Select it with ``html_math_renderer = "mathml"``.
A formula docutils cannot convert is a build warning (an error under ``-W``), shown as code.
"""

from __future__ import annotations

from docutils import nodes
from docutils.utils.math import latex2mathml
from sphinx.locale import _
from sphinx.util import logging
from sphinx.util.math import get_node_equation_number

logger = logging.getLogger(__name__)


def _convert(self, node, latex: str, block: bool) -> str:
    try:
        return latex2mathml.tex2mathml(latex, as_block=block)
    except Exception as exc:  # noqa: BLE001 - any converter failure becomes a located warning
        logger.warning("cannot convert math to MathML (%s): %s", exc, latex, location=node)
        return f"<code>{self.encode(latex)}</code>"


def visit_math(self, node: nodes.math) -> None:
    self.body.append(self.starttag(node, "span", "", CLASS="math notranslate"))
    self.body.append(_convert(self, node, node.astext(), block=False))
    self.body.append("</span>")
    raise nodes.SkipNode


def visit_math_block(self, node: nodes.math_block) -> None:
    self.body.append(self.starttag(node, "div", CLASS="math notranslate"))
    if node.get("number"):
        number = get_node_equation_number(self, node)
        self.body.append(f'<span class="eqno">({number})')
        self.add_permalink_ref(node, _("Link to this equation"))
        self.body.append("</span>")
    latex = node.astext()
    if node.get("nowrap"):
        latex = latex.strip()
    self.body.append(_convert(self, node, latex, block=True))
    self.body.append("</div>\n")
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mathml", (visit_math, None), (visit_math_block, None))
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
