"""Property-based tests (hypothesis): the scaling-law fitter and the descriptor functions.

Fitter: exact laws are recovered, arbitrary float input (NaN, inf, negative, mismatched) gives a
status and never an exception, predictions never increase with n, and whole tables of garbage go
through ``fit_table`` and the derived numbers of ``insights`` without raising.
Descriptors: composition features do not depend on how a formula is written (scaled amounts,
element order), fraction-weighted means lie between the min and max; canonical SMILES are
idempotent and every spelling of a molecule gives the same canonical form and features.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from s2rlib.book import findings
from s2rlib.law import derived as insights
from s2rlib.law import forms as law_forms
from s2rlib.grid import results
from s2rlib.law import scaling
from s2rlib.law import trial_stats
from s2rlib.features import composition, molecules

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATUSES = {s.value for s in scaling.FitStatus} - {"n0_at_bound"}  # every status a law fit can have
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)


# ------------------------------------------------------------------------------ the scaling-law fitter


@st.composite
def laws(draw):
    D = draw(st.floats(0.05, 10.0))
    alpha = draw(st.floats(0.05, 1.5))
    C = draw(st.one_of(st.just(0.0), st.floats(0.0, 1.0)))
    n0 = draw(st.floats(1.0, 1000.0))
    ratio = draw(st.floats(1.5, 10.0))
    k = draw(st.integers(4, 9))
    n = np.unique(np.round(n0 * ratio ** np.arange(k)))
    assume(len(n) >= scaling.MIN_POINTS)
    return D, alpha, C, n


@SETTINGS
@given(laws())
def test_exact_law_is_recovered(law):
    D, alpha, C, n = law
    R = D * n ** (-alpha) + C
    fit = scaling.fit_law(n, R)
    assert fit.status in ("ok", "C_at_bound")
    # the curve is reproduced everywhere on the grid ...
    assert np.max(np.abs(fit.predict(n) - R)) <= 1e-5 * R.max()
    # ... and the parameters wherever the data can tell them apart (the decaying part is visible)
    if (D * n[0] ** (-alpha) - D * n[-1] ** (-alpha)) > 0.05 * R.max():
        assert fit.alpha == pytest.approx(alpha, rel=2e-2)
        assert fit.D == pytest.approx(D, rel=5e-2)
        assert fit.C == pytest.approx(C, abs=2e-3 * R.max())


@SETTINGS
@given(st.data())
def test_fit_never_raises_on_arbitrary_floats(data):
    k = data.draw(st.integers(0, 10), label="k")
    n = data.draw(arrays(np.float64, k, elements=ANY_FLOAT), label="n")
    R = data.draw(arrays(np.float64, data.draw(st.sampled_from([k, k, k, k + 1])), elements=ANY_FLOAT), label="R")
    w = data.draw(st.one_of(st.none(), arrays(np.float64, k, elements=ANY_FLOAT)), label="weights")
    loss = data.draw(st.sampled_from(["linear", "log"]), label="loss")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = scaling.fit_law(n, R, loss=loss, weights=w)
    assert fit.status in STATUSES
    if fit.usable:
        assert fit.D >= 0 and fit.C >= 0
        assert scaling.ALPHA_BOUNDS[0] <= fit.alpha <= scaling.ALPHA_BOUNDS[1]
    else:
        assert fit.status in ("too_few_points", "failed")


@SETTINGS
@given(st.data())
def test_fit_on_positive_data_never_raises_and_predictions_do_not_increase(data):
    k = data.draw(st.integers(4, 12))
    n = data.draw(arrays(np.float64, k, elements=st.floats(1.0, 1e7), unique=True))
    R = data.draw(arrays(np.float64, k, elements=st.floats(1e-6, 1e3)))
    loss = data.draw(st.sampled_from(["linear", "log"]))
    fit = scaling.fit_law(n, R, loss=loss)
    assert fit.status in STATUSES - {"too_few_points"}
    if fit.usable:
        grid = np.geomspace(1.0, 1e12, 200)
        pred = fit.predict(grid)
        assert np.all(np.isfinite(pred))
        assert np.all(np.diff(pred) <= 1e-12 * np.abs(pred[:-1]))
        assert pred[-1] >= fit.C - 1e-12 * max(abs(fit.C), 1.0)


def _table(ns, trials, values) -> pd.DataFrame:
    rows = []
    it = iter(values)
    for n in ns:
        for t in range(trials):
            rows.append(dict(case="band_gap", n_source=int(n), m_target=-1, trial=t, seed=t, metric="mae",
                             value=next(it), selected_recipe="x", params_id="p", params="{}", data_sha256="0" * 64,
                             code_version="0", wall_s=0.0))
    return pd.DataFrame(rows, columns=results.COLUMNS)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fit_table_and_insights_never_raise_on_degenerate_tables(data):
    ns = data.draw(st.lists(st.sampled_from([0, 10, 30, 100, 300, 1000, 3000]), min_size=0, max_size=7, unique=True))
    trials = data.draw(st.integers(1, 3))
    values = data.draw(st.lists(st.one_of(ANY_FLOAT, st.floats(0.01, 1.0)), min_size=len(ns) * trials,
                                max_size=len(ns) * trials))
    table = _table(sorted(ns), trials, values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cf = trial_stats.fit_table(table, n_boot=15)
        assert cf.fit.status in STATUSES
        assert isinstance(findings.describe_fit(cf), str)
        row = insights.summary_row(cf)
        assert row["status"] == cf.fit.status
        insights.normalised_curve(cf)
        mat = trial_stats.trial_matrix(table)
        insights.extrapolation_check(mat, n_boot=10)
        law_forms.compare_forms(np.repeat(mat.index.to_numpy(), mat.shape[1]), mat.to_numpy().ravel())
        insights.required_n(cf.fit, 0.1)
        insights.marginal_gain(cf.fit, 1000, 100)


@pytest.mark.parametrize("name,table", [
    ("empty", _table([], 1, [])),
    ("only n = 0", _table([0], 3, [0.3, 0.31, 0.29])),
    ("all NaN", _table([0, 10, 100, 1000, 3000], 2, [np.nan] * 10)),
    ("all zero", _table([0, 10, 100, 1000, 3000], 2, [0.0] * 10)),
    ("all inf", _table([0, 10, 100, 1000, 3000], 2, [np.inf] * 10)),
    ("negative", _table([0, 10, 100, 1000, 3000], 2, [-1.0] * 10)),
    ("fewer points than parameters", _table([0, 10, 100], 2, [0.3, 0.3, 0.2, 0.2, 0.1, 0.1])),
    ("flat", _table([0, 10, 100, 1000, 3000], 2, [0.3] * 10)),
    ("increasing", _table([0, 10, 100, 1000, 3000], 2, [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5])),
])
def test_degenerate_tables_give_a_status(name, table):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cf = trial_stats.fit_table(table, n_boot=20)
        row = insights.summary_row(cf)
    expected = {"flat": {"no_decrease", "alpha_at_bound", "constant_preferred"}, "increasing": {"no_decrease"}}.get(name, {"too_few_points"})
    assert cf.fit.status in expected and row["status"] == cf.fit.status
    if name == "only n = 0":  # a baseline, but no gain to speak of: NaN, not a fake "+0 [+0, +0]"
        assert cf.baseline == pytest.approx(0.3) and math.isnan(cf.gain.mean) and cf.gain.trials == 0
    if cf.fit.status == "too_few_points":
        assert insights.required_n(cf.fit, 0.1).status == "unusable_fit"
        assert math.isnan(row["alpha"])


# ------------------------------------------------------------------------------ composition descriptors

ELEMENTS = ["H", "Li", "B", "C", "N", "O", "F", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "V",
            "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Sr", "Y", "Zr", "Mo", "Ag", "Cd",
            "In", "Sn", "Sb", "Te", "I", "Ba", "La", "Ce", "Nd", "Gd", "W", "Pt", "Au", "Pb", "Bi", "U"]


@st.composite
def compositions(draw):
    els = draw(st.lists(st.sampled_from(ELEMENTS), min_size=1, max_size=5, unique=True))
    amounts = draw(st.lists(st.integers(1, 12), min_size=len(els), max_size=len(els)))
    return dict(zip(els, amounts))


def _formula(comp: dict, order=None, scale=1) -> str:
    order = order or list(comp)
    return "".join(f"{el}{comp[el] * scale}" for el in order)


def _features(*formulas: str) -> np.ndarray:
    X, parsed = composition.featurize_formulas(list(formulas), on_error="raise")
    assert parsed.ok.all()
    return X


@SETTINGS
@given(compositions(), st.integers(2, 6), st.randoms(use_true_random=False))
def test_composition_features_do_not_depend_on_how_the_formula_is_written(comp, k, rnd):
    order = list(comp)
    rnd.shuffle(order)
    X = _features(_formula(comp), _formula(comp, scale=k), _formula(comp, order=order))
    np.testing.assert_allclose(X[1], X[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(X[2], X[0], rtol=1e-10, atol=1e-12)
    assert X[0][composition.feature_names().index("n_elements")] == len(comp)


@SETTINGS
@given(compositions())
def test_weighted_mean_between_min_and_max(comp):
    x = _features(_formula(comp))[0]
    names = composition.feature_names()
    for prop in composition.PROPERTIES:
        lo, mean, hi = (x[names.index(f"{s}_{prop}")] for s in ("min", "mean", "max"))
        tol = 1e-9 * max(1.0, abs(lo), abs(hi))
        assert lo - tol <= mean <= hi + tol, prop
        assert x[names.index(f"dev_{prop}")] >= 0
        if len(comp) == 1:
            assert lo == hi and mean == pytest.approx(lo) and x[names.index(f"dev_{prop}")] == pytest.approx(0, abs=1e-9)
    k = len(comp)
    l2 = x[names.index("frac_l2")]
    assert 1 / math.sqrt(k) - 1e-12 <= l2 <= 1 + 1e-12
    blocks = [x[names.index(f"frac_{b}_block")] for b in composition.BLOCKS]
    assert sum(blocks) == pytest.approx(1.0)


# ------------------------------------------------------------------------------ molecule descriptors

SMILES = [
    "*CC*", "*CC(*)C", "*CC(*)c1ccccc1", "*CC(*)(C)C(=O)OC", "*CC(*)Cl", "*C(F)(F)C(*)(F)F", "*CCO*",
    "*Oc1ccc(cc1)C(C)(C)c1ccc(cc1)OC(=O)*", "*NCCCCCC(=O)*", "*C/C=C\\C*", "*C/C=C/C*", "*[Si](C)(C)O*",
    "*c1ccc(cc1)S(=O)(=O)c1ccc(cc1)*", "*CC(*)C#N", "*CC(*)OC(C)=O", "*C[C@H](*)C", "*CC(*)c1ccncc1",
    "*N1C(=O)c2ccc(cc2C1=O)*", "*CC(*)C(=O)N", "*OCC(C)O*",
    "O", "CO", "CCO", "CC(C)=O", "ClC(Cl)Cl", "c1ccccc1", "Cc1ccccc1", "C1CCOC1", "CN(C)C=O", "CS(C)=O",
    "O=C1CCCN1C", "CCCCCC", "C1CCCCC1", "OC(=O)C(F)(F)F", "c1ccc2ccccc2c1", "C[C@@H](O)CC", "F/C=C/F",
]


def _random_spellings(smiles: str, seed: int, k: int = 3) -> list[str]:
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return list(Chem.MolToRandomSmilesVect(mol, k, randomSeed=seed))


@SETTINGS
@given(st.sampled_from(SMILES), st.integers(0, 2**31 - 1))
def test_canonical_smiles_idempotent_and_spelling_independent(smiles, seed):
    canon = molecules.canonical_smiles(smiles)
    assert molecules.canonical_smiles(canon) == canon
    spellings = _random_spellings(smiles, seed)
    assert {molecules.canonical_smiles(s) for s in spellings} == {canon}, spellings
    X, parsed = molecules.featurize_smiles([smiles, canon, *spellings], on_error="raise")
    assert set(parsed.canonical) == {canon}
    assert np.isfinite(X).all()
    np.testing.assert_array_equal(X, np.broadcast_to(X[0], X.shape))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_real_repeat_units_canonicalise_stably(data):
    """The same properties on repeat units drawn from the real PI1070 file."""
    df, _ = _pi1070()
    smiles = data.draw(st.sampled_from(df["smiles"].tolist()))
    seed = data.draw(st.integers(0, 2**31 - 1))
    canon = molecules.canonical_smiles(smiles)
    assert molecules.canonical_smiles(canon) == canon
    spellings = _random_spellings(smiles, seed, k=2)
    X, parsed = molecules.featurize_smiles([canon, *spellings], on_error="raise")
    assert set(parsed.canonical) == {canon}
    np.testing.assert_allclose(X, np.broadcast_to(X[0], X.shape), rtol=1e-9, atol=1e-9)


_PI1070 = []


def _pi1070():
    if not _PI1070:
        from s2rlib.datasets import registry as datasets

        _PI1070.append(datasets.read_csv("radonpy_pi1070"))
    return _PI1070[0]
