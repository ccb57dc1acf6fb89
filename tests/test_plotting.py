"""The book's figures work at display size: legible text, legends outside the data, statuses not in
legend labels, and the intervals their captions promise (s2rlib.book.plotting, synthetic results)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from scipy import stats  # noqa: E402

from s2rlib.law import fit_cache
from s2rlib.book import case_results
from s2rlib.book import two_way_plot
from s2rlib.book import flowchart  # noqa: E402
from s2rlib.book import plotting
from s2rlib.law.fit_status import CI_LEVEL  # noqa: E402
from synthetic import synthetic_table  # noqa: E402

STATUSES = ("ok", "alpha_at_bound", "C_at_bound", "no_decrease", "unidentified", "too_few_points", "failed")


@pytest.fixture(autouse=True)
def _no_fit_cache(monkeypatch):
    monkeypatch.setenv(fit_cache.FIT_CACHE_ENV, "off")


@pytest.fixture(scope="module")
def fits():
    import os

    os.environ[fit_cache.FIT_CACHE_ENV] = "off"
    out = {}
    for case in ("formation_enthalpy", "band_gap"):
        out[case] = fit_cache.fit_case(synthetic_table(case, trials=5), n_boot=100)
    # a flat case: the law is not 'ok', so its line must be dotted and its label free of the status
    flat = synthetic_table("polymer_density", trials=5, law=(1e-9, 0.5, 0.05, 0.05, 0.002))
    out["polymer_density"] = fit_cache.fit_case(flat, n_boot=100)
    return out


@pytest.fixture(scope="module")
def chi_fits():
    table = synthetic_table("chi", ms=(50, 100, 200, -1), trials=4)
    return case_results.fits_by_m(table, n_boot=50), case_results.effective_m(table)


def _figures(fits, chi_fits):
    by_m, m_all = chi_fits
    return {"scaling": plotting.scaling_figure(fits["formation_enthalpy"]),
            "flat": plotting.scaling_figure(fits["polymer_density"]),
            "summary": plotting.summary_figure(fits),
            "two_way": two_way_plot.two_way_figure(by_m, m_all=m_all),
            "flowchart": flowchart.method_flowchart()}


def _texts(fig):
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_figures_are_drawn_at_display_width_with_legible_text(fits, chi_fits):
    """Shown at natural size (DISPLAY_WIDTH_IN x DPI px fits the text column), every text >= 9 pt."""
    for name, fig in _figures(fits, chi_fits).items():
        fig.canvas.draw()
        width_px = fig.get_size_inches()[0] * fig.dpi
        assert width_px <= plotting.DISPLAY_WIDTH_IN * plotting.DPI + 1, (name, width_px)
        small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < 9]
        assert not small, (name, small)
        plotting.close(fig)


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_legends_sit_outside_every_axes(fits, chi_fits):
    for name, fig in _figures(fits, chi_fits).items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        if name != "flowchart":
            assert legends, name
        for leg in legends:
            box = leg.get_window_extent(renderer)
            for ax in fig.axes:
                if ax.axison:
                    assert not _overlaps(box, ax.get_window_extent(renderer)), (name, ax.get_title())
        plotting.close(fig)


def test_statuses_are_line_styles_not_legend_labels(fits, chi_fits):
    flat = fits["polymer_density"]
    assert flat.fit.status != "ok"
    for name, fig in _figures(fits, chi_fits).items():
        labels = [t.get_text() for leg in fig.legends + [a.get_legend() for a in fig.axes if a.get_legend()]
                  for t in leg.get_texts()]
        assert not [lab for lab in labels if any(s in lab for s in STATUSES if s != "ok") or "[" in lab], (name, labels)
        plotting.close(fig)
    fig = plotting.scaling_figure(flat)
    law_lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith(("fitted law", "no fall with n"))]
    assert law_lines and law_lines[0].get_linestyle() == ":"
    plotting.close(fig)
    fig = plotting.scaling_figure(fits["formation_enthalpy"])
    assert fits["formation_enthalpy"].fit.status == "ok"
    assert [ln.get_linestyle() for ln in fig.axes[0].get_lines() if ln.get_label().startswith("fitted law")] == ["-"]
    plotting.close(fig)


def test_summary_error_bars_are_the_paired_gain_intervals_as_a_ratio_to_n0(fits):
    """The bars are the corrected 90% interval of the paired gain MAE(n) - MAE(0) (the gain tables'
    interval) as a ratio to the baseline, computed here from the table's rows by hand."""
    fig = plotting.summary_figure(fits)
    ax = fig.axes[0]
    table = synthetic_table("formation_enthalpy", trials=5)
    mae = table[table["metric"] == "mae"].pivot_table(index="n_source", columns="trial", values="value")
    sizes = table[table["metric"].isin(["n_test", "n_train", "n_val"])].pivot_table(
        index=["n_source", "trial"], columns="metric", values="value")
    r = float((sizes["n_test"] / (sizes["n_train"] + sizes["n_val"])).mean())
    base = mae.loc[0].to_numpy()
    b = base.mean()
    lo, hi = [], []
    for n in mae.index[mae.index > 0]:
        d = mae.loc[n].to_numpy() - base
        J = len(d)
        half = stats.t.ppf(0.5 + CI_LEVEL / 2, J - 1) * d.std(ddof=1) * np.sqrt(1 / J + r)
        lo.append(1 + (d.mean() - half) / b)
        hi.append(1 + (d.mean() + half) / b)
    segments = ax.containers[0].lines[2][0].get_segments()  # the first case drawn
    np.testing.assert_allclose([seg[0][1] for seg in segments], lo, rtol=1e-9)
    np.testing.assert_allclose([seg[1][1] for seg in segments], hi, rtol=1e-9)
    plotting.close(fig)


def test_tick_labels_share_their_decimals():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [1.0, 1.15])
    ax.set_ylim(0.98, 1.17)
    ax.yaxis.set_major_formatter(plotting.TickLabels())
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert len({len(t.partition(".")[2]) for t in labels}) == 1 and "1.00" in " ".join(labels), labels
    plt.close(fig)


def test_law_label_never_prints_an_unresolved_floor_as_zero():
    """A floor at its bound is an upper bound in the legend too ("C < x"), not "+ 0"."""
    import pandas as pd

    from s2rlib.law import scaling
    from s2rlib.book.plotting import law_label

    ns = np.array([100, 300, 1000, 3000, 10000, 30000])
    rng = np.random.default_rng(0)
    mat = pd.DataFrame((1.5 * ns ** -0.5)[:, None] + 0.002 * rng.standard_normal((len(ns), 20)), index=ns)
    fit = scaling.bootstrap_fit(mat, n_boot=200, seed=0, ratio=0.25)
    assert fit.floor_at_bound()
    label = law_label(type("CF", (), {"fit": fit})())
    assert "+ 0" not in label and f"C < {fit.ci()['C'][1]:.3g}" in label, label


def test_law_label_of_a_flat_curve_says_there_is_no_fall():
    import pandas as pd

    from s2rlib.law import scaling
    from s2rlib.book.plotting import law_label

    ns = np.array([10, 30, 100, 300, 600, 970])
    rng = np.random.default_rng(0)  # this noise pattern rises overall: no_decrease, D = 0
    mat = pd.DataFrame(0.05 + 0.001 * rng.standard_normal((len(ns), 20)), index=ns)
    fit = scaling.bootstrap_fit(mat, n_boot=100, seed=0, ratio=0.25)
    assert fit.status == "no_decrease"
    label = law_label(type("CF", (), {"fit": fit})())
    assert label.startswith("no fall with n") and "n$^" not in label, label


def test_two_way_panel_c_shows_an_unresolved_floor_as_an_upper_bound():
    """Where C is only bounded, panel (c) has no dot at C = 0, but a downward triangle at the bound."""
    table = synthetic_table("chi", ns=(0, 10, 30, 100, 300, 1000, 3000), ms=(50, -1), trials=20,
                            law=(1.2, 0.4, 0.0, 0.6, 0.004))  # no floor: C = 0
    by_m = case_results.fits_by_m(table, n_boot=100)
    fig = two_way_plot.two_way_figure(by_m, m_all=case_results.effective_m(table))
    ax_c = fig.axes[2]
    bounded = [cf for cf in by_m.values() if cf.fit.floor_at_bound()]
    assert bounded
    triangles = [ln for ln in ax_c.get_lines() if ln.get_marker() == "v"]
    assert len(triangles) == len(bounded)
    assert all(ln.get_ydata()[0] > 0 for ln in triangles)
    assert not [ln for ln in ax_c.get_lines() if ln.get_marker() == "o" and ln.get_ydata()[0] == 0]
    plotting.close(fig)


def test_legend_labels_wrap_outside_math():
    label = "fitted law, no floor resolved: $0.119\\,n^{-0.0300}$ (no floor resolved) and more words here"
    wrapped = plotting.wrap_label(label, width=30)
    assert all(len(line.replace("$", "")) <= 30 or "$" in line for line in wrapped.split("\n"))
    assert "$0.119\\,n^{-0.0300}$" in wrapped and wrapped.replace("\n", " ") == label


@pytest.mark.parametrize("ms", [(30, 100, 300, -1), (50, 100, 300, -1)])  # all: about 1,000 here
def test_two_way_parameter_panels_have_no_overlapping_tick_labels(ms):
    """Panels (b) and (c) share one m range, and no two m tick labels (nor the panels' titles) overlap once
    drawn: before, panel (c) autoscaled to what it drew and printed m = 100, 300, 1000 as "1003001000"."""
    table = synthetic_table("formation_enthalpy", ns=(0, 100, 300, 1000, 3000, 10000), ms=ms, trials=6)
    by_m = case_results.fits_by_m(table, n_boot=30)
    fig = two_way_plot.two_way_figure(by_m, m_all=case_results.effective_m(table))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax_b, ax_c = fig.axes[1], fig.axes[2]
    assert ax_b.get_xlim() == ax_c.get_xlim()
    for axis in (ax_b, ax_c):
        labels = [t for t in axis.get_xticklabels() if t.get_text().strip()]
        assert len(labels) == len(ms)
        # a staggered label starts one line down: labels on the same line must not share any horizontal extent
        row = [len(t.get_text()) - len(t.get_text().lstrip("\n")) for t in labels]
        x = [(t.get_window_extent(renderer).x0, t.get_window_extent(renderer).x1) for t in labels]
        hits = [(labels[i].get_text(), labels[j].get_text()) for i in range(len(labels)) for j in range(i + 1, len(labels))
                if row[i] == row[j] and x[i][0] < x[j][1] and x[j][0] < x[i][1]]
        assert not hits, hits
    titles = [a.title if not a.get_title(loc="left") else a._left_title for a in (ax_b, ax_c)]
    assert not titles[0].get_window_extent(renderer).overlaps(titles[1].get_window_extent(renderer))
    xlabels = [a.xaxis.label.get_window_extent(renderer) for a in (ax_b, ax_c)]
    assert not xlabels[0].overlaps(xlabels[1])
    plotting.close(fig)
