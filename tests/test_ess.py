"""Equivalent sample size of the two-way (n, m) design against the analytic surface of a known law."""

import numpy as np
import pandas as pd

from s2rlib.law import ess

A, a, B, b, C0 = 2.0, 0.5, 3.0, 0.6, 0.05
ESS_NS = np.array([100, 300, 1000, 3000, 10000, 30000], dtype=float)


def two_way_table(ms, *, trials=3, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for n in np.r_[0, ESS_NS]:
        for m in ms:
            for t in range(trials):
                base = (A * n ** (-a) if n > 0 else 1.0) + B * m ** (-b) + C0
                rows.append(dict(case="syn", n_source=int(n), m_target=int(m), trial=t, seed=t, metric="mae",
                                 value=base * (1 + noise * rng.standard_normal())))
    # an m = -1 ("all data") grid that must be ignored
    rows += [dict(case="syn", n_source=int(n), m_target=-1, trial=0, seed=0, metric="mae", value=9.9) for n in ESS_NS]
    return pd.DataFrame(rows)


def analytic_ess(n, m):
    return (b * B * m ** (-b - 1)) / (a * A * n ** (-a - 1))


def test_ess_matches_analytic_surface_with_law_in_m():
    ms = [25, 50, 100, 200, 400]
    df = ess.equivalent_sample_size(two_way_table(ms), n_boot=0)
    assert len(df) == len(ESS_NS) * len(ms)
    assert (df["method"] == "law").all() and (df["method_n"] == "law").all()
    np.testing.assert_allclose(df["ess"], analytic_ess(df["n"], df["m"]), rtol=0.02)
    assert df["ess_lo"].isna().all()


def test_ess_uses_the_number_of_source_samples_actually_drawn():
    """As in chi, the largest grid n asks for more than can be drawn (test pairs' simulations are
    withheld): the surface must sit at the drawn n, where the errors were measured."""
    ms = [25, 50, 100, 200, 400]
    table = two_way_table(ms)
    nominal = int(ESS_NS[-1] * 1.25)  # the grid asked for 37,500 but 30,000 were drawn
    table.loc[table.n_source == ESS_NS[-1], "n_source"] = nominal
    used = table[table.metric == "mae"].drop_duplicates(["n_source", "m_target", "trial"]).assign(
        metric="n_source_used", value=lambda d: d.n_source.where(d.n_source != nominal, ESS_NS[-1]).astype(float))
    df = ess.equivalent_sample_size(pd.concat([table, used], ignore_index=True), n_boot=0)
    assert sorted(df["n"].unique()) == list(ESS_NS)
    np.testing.assert_allclose(df["ess"], analytic_ess(df["n"], df["m"]), rtol=0.02)
    # without the n_source_used rows the nominal n is all there is, and the law is off there
    bad = ess.equivalent_sample_size(table, n_boot=0)
    assert nominal in set(bad["n"])


def test_ess_finite_differences_with_few_m_and_bootstrap_interval():
    ms = [50, 100, 200]
    df = ess.equivalent_sample_size(two_way_table(ms, trials=4, noise=0.002), n_boot=15)
    assert (df["method"] == "finite_difference").all()
    # second-order log-scale differences on a factor-2 m grid: a few % at the ends, ~1% inside
    np.testing.assert_allclose(df["ess"], analytic_ess(df["n"], df["m"]), rtol=0.15)
    mid = df[df["m"] == 100]
    np.testing.assert_allclose(mid["ess"], analytic_ess(mid["n"], mid["m"]), rtol=0.05)
    ok = df["ess_lo"].notna()
    assert ok.all()
    assert (df.loc[ok, "ess_lo"] <= df.loc[ok, "ess"] * 1.001).all()
    assert (df.loc[ok, "ess_hi"] >= df.loc[ok, "ess"] * 0.999).all()


def test_ess_unusable_input_is_empty_not_an_exception():
    assert ess.equivalent_sample_size(pd.DataFrame({"x": [1]})).empty
    only_all = two_way_table([10])
    only_all = only_all[only_all["m_target"] == -1]
    assert ess.equivalent_sample_size(only_all, n_boot=0).empty
