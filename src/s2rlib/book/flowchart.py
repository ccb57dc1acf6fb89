"""The method chapter's flowchart: the method as a reader follows it, in boxes and arrows.

database -> draw n -> pretrain -> fine-tune on m -> test -> fit; drawn in the book's figure size and
font (:mod:`s2rlib.book.plotting`) and written to ``book/figures/method-flowchart.svg`` by
``python book/make_static.py``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyBboxPatch

from s2rlib.book.plotting import DISPLAY_WIDTH_IN, MIN_FONT_PT

#: the method as a reader follows it: (key, x, y, text, colour) of each box, in axes units
_FLOW_BOXES = (
    ("sim", 0.15, 0.84, "simulation database\n(DFT, MD, COSMO-RS)", "#dbe9f6"),
    ("draw", 0.50, 0.84, "draw n samples\n(nested across n)", "#dbe9f6"),
    ("pre", 0.85, 0.84, "pretrain the network\non the n simulations", "#dbe9f6"),
    ("exp", 0.15, 0.50, "experiments\n(hundreds to\nthousands)", "#fde7d3"),
    ("split", 0.50, 0.50, "split by material:\nm to train on,\n20% held out", "#fde7d3"),
    ("fine", 0.85, 0.50, "fine-tune on the\nm experiments", "#fde7d3"),
    ("test", 0.50, 0.14, "test error (MAE) on\nheld-out experiments", "#e3f1e0"),
    ("fit", 0.15, 0.14, "fit R(n) = D n$^{-α}$ + C\nover every n and\nJ trials", "#e3f1e0"),
)
_FLOW_ARROWS = (("sim", "draw", ""), ("draw", "pre", ""), ("pre", "fine", "pretrained\nweights"),
                ("exp", "split", ""), ("split", "fine", ""), ("split", "test", "test set"),
                ("fine", "test", ""), ("test", "fit", ""))


def method_flowchart():
    """The method for a reader: database -> draw n -> pretrain -> fine-tune on m -> test -> fit.

    The figure of the method chapter (``book/figures/method-flowchart.svg``, written by
    ``python book/make_static.py``). Returns the Figure.
    """
    fig, ax = plt.subplots(figsize=(DISPLAY_WIDTH_IN, 4.6), layout="constrained")
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    w, h = 0.27, 0.21
    centre = {}
    for key, x, y, text, colour in _FLOW_BOXES:
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.0,rounding_size=0.02",
                                    fc=colour, ec="0.35", lw=1.0))
        ax.text(x, y, text, ha="center", va="center", fontsize=MIN_FONT_PT, linespacing=1.25)
        centre[key] = (x, y)

    def edge(a, b):
        (xa, ya), (xb, yb) = centre[a], centre[b]
        if ya == yb:  # same row: from the side of one box to the side of the next
            s = np.sign(xb - xa)
            return (xa + s * w / 2, ya), (xb - s * w / 2, yb)
        if xa == xb:  # same column
            s = np.sign(yb - ya)
            return (xa, ya + s * h / 2), (xb, yb - s * h / 2)
        return (xa, ya - h / 2), (xb + w / 2 if xb < xa else xb - w / 2, yb)  # down, then sideways

    for a, b, label in _FLOW_ARROWS:
        start, end = edge(a, b)
        style = "angle,angleA=-90,angleB=180,rad=0" if start[0] != end[0] and start[1] != end[1] else None
        ax.annotate("", xy=end, xytext=start,
                    arrowprops=dict(arrowstyle="-|>", color="0.25", lw=1.3, shrinkA=2, shrinkB=2,
                                    **({"connectionstyle": style} if style else {})))
        if label:
            mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
            if start[0] == end[0]:
                ax.text(mx + 0.012, my, label, ha="left", va="center", fontsize=MIN_FONT_PT, color="0.2")
            elif start[1] != end[1]:
                ax.text(start[0] + 0.012, (start[1] + end[1]) / 2 + 0.02, label, ha="left", va="center",
                        fontsize=MIN_FONT_PT, color="0.2")
            else:
                ax.text(mx, my + 0.015, label, ha="center", va="bottom", fontsize=MIN_FONT_PT, color="0.2")
    return fig


__all__ = ["method_flowchart"]
