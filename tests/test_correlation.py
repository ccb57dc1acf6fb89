"""The correlation check of re-split trials: disjoint parts by whole groups, and an estimator that
recovers a known between-data-set variance (so the committed measurement can be trusted)."""

import numpy as np
import pandas as pd
import pytest

from s2rlib.grid import correlation_study as cs
from s2rlib.law.correlation import nb_check
from test_transfer import FAST, synthetic_case


def _table(parts, partitions, J, tau2, sigma2, r, seed=0):
    """Per-part trial errors mu + u_p + e_pt: u_p ~ N(0, tau2) is the data set's own effect."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(partitions):
        for p in range(parts):
            u = rng.normal(0, np.sqrt(tau2))
            for t in range(J):
                x = 1.0 + u + rng.normal(0, np.sqrt(sigma2))
                rows += [dict(partition=q, part=p, trial=t, metric="mae", value=x),
                         dict(partition=q, part=p, trial=t, metric="n_test", value=20 * r),
                         dict(partition=q, part=p, trial=t, metric="n_pool", value=20.0)]
    return pd.DataFrame(rows)


def test_the_check_recovers_a_factor_that_is_right():
    J, s2, r = 10, 0.04, 0.25
    c = nb_check(_table(400, 1, J, tau2=r * s2, sigma2=s2, r=r))  # Var(mean) = s2 (r + 1/J): the factor
    assert c.ratio_lo < 1 < c.ratio_hi and c.verdict == "consistent"
    assert c.ratio == pytest.approx(1, abs=0.15) and c.rho == pytest.approx(r * J / (J - 1), abs=0.06)
    assert c.r == pytest.approx(r) and c.dof == 399


def test_the_check_finds_a_conservative_factor():
    """Without a data-set effect the mean varies by s2/J only: the factor over-states it by 1 + rJ."""
    J, s2, r = 10, 0.04, 0.25
    c = nb_check(_table(200, 2, J, tau2=0.0, sigma2=s2, r=r))
    assert c.verdict == "conservative" and c.ratio == pytest.approx(1 / (1 + r * J), rel=0.2)
    assert abs(c.rho) < 0.05 and c.naive == pytest.approx(s2 / J, rel=0.1)


def test_parts_are_disjoint_whole_groups_of_about_equal_size():
    groups = np.repeat(np.arange(300), np.random.default_rng(1).integers(1, 4, 300))
    parts = cs.partition(groups, 6, np.random.default_rng(2))
    rows = np.concatenate(parts)
    assert sorted(rows.tolist()) == list(range(len(groups)))
    assert all(not set(groups[a]) & set(groups[b]) for i, a in enumerate(parts) for b in parts[i + 1:])
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 3


def test_a_study_runs_resumes_and_refuses_parts_too_small(tmp_path):
    data = synthetic_case(n_target=200)
    tab = cs.run_study("synthetic", data, out_dir=tmp_path, n=0, m=40, parts=2, partitions=1, trials=2,
                       recipe=FAST, progress=False)
    assert set(tab["part"]) == {0, 1} and tab.groupby("part")["part_rows"].first().sum() == 200
    assert (tab[tab.metric == "n_train"]["value"].to_numpy() + tab[tab.metric == "n_val"]["value"].to_numpy() == 40).all()
    files = sorted(p.name for p in tmp_path.iterdir())
    again = cs.run_study("synthetic", data, out_dir=tmp_path, n=0, m=40, parts=2, partitions=1, trials=2,
                         recipe=FAST, progress=False)
    pd.testing.assert_frame_equal(tab, again)  # nothing recomputed
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    with pytest.raises(Exception, match=r"smallest part has \d+ rows.*fewer than m=90"):
        cs.run_study("synthetic", data, out_dir=tmp_path / "x", n=0, m=90, parts=2, partitions=1, trials=2,
                     recipe=FAST, progress=False)


def test_the_book_interval_covers_at_the_measured_correlation():
    """Coverage driven by the measurement, not by the factor's own model: data sets whose J-trial means vary
    as much as the committed study measured (``results/correlation/check.json``: between-set variance =
    observed - s^2/J), and the book's interval ``mean ± t s sqrt(1/J + n_test/n_pool)`` (the factor of
    ``trial_stats.paired_gain``) must cover the true value about 90% of the time (80-97%: the measurement's
    own uncertainty). A measured correlation well above the factor's would fail this."""
    import json
    from pathlib import Path

    from scipy import stats

    path = Path(__file__).resolve().parents[1] / "results" / "correlation" / "check.json"
    rows = [r for r in json.loads(path.read_text()) if r["parts"] * r["partitions"] >= 8] if path.is_file() else []
    if not rows:
        pytest.skip("no committed correlation study with 8 or more parts")
    rng = np.random.default_rng(0)
    for r in rows:
        J, w = r["trials"], 1.0  # within-set variance scaled to 1
        tau2 = max(r["observed"] / (r["predicted"] / (1 / J + r["r"])) - 1 / J, 0.0)  # between-set, in units of w
        K = 4000
        x = rng.normal(0, np.sqrt(tau2), (K, 1)) + rng.normal(0, np.sqrt(w), (K, J))
        half = stats.t.ppf(0.95, J - 1) * x.std(axis=1, ddof=1) * np.sqrt(1 / J + r["r"])
        cover = float((np.abs(x.mean(axis=1)) <= half).mean())
        assert 0.80 <= cover <= 0.97, (r["case"], r["n"], r["m"], cover)
        plain = float((np.abs(x.mean(axis=1)) <= stats.t.ppf(0.95, J - 1) * x.std(axis=1, ddof=1) / np.sqrt(J)).mean())
        assert plain < cover  # without the factor the interval is too narrow at the measured correlation
