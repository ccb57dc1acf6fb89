"""What one trial scores: its test error, and the simulation itself as the predictor beside it."""

from __future__ import annotations

import numpy as np

from s2rlib.datasets.case_data import CaseData


def trial_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Test MAE, RMSE and R^2 of predictions against the measured values (property units)."""
    err = pred - true
    ss_tot = float(((true - true.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1 - (err**2).sum() / ss_tot) if ss_tot > 0 else float("nan"),
    }


def simulation_baseline(data: CaseData, tr: np.ndarray, te: np.ndarray, pred_all: np.ndarray) -> dict[str, float]:
    """The simulation itself as the predictor: ``a + b * simulated value``, fitted by least squares on
    the experimental training rows that have a simulation, scored on the test rows that have one.

    Returns ``sim_mae`` (that baseline), ``mae_on_sim`` (the model's MAE on the same test rows, for a
    like-for-like comparison) and ``n_test_sim``; NaN when the case has no matched simulations or
    fewer than 3 training rows have one.
    """
    nan = {"sim_mae": float("nan"), "mae_on_sim": float("nan"), "n_test_sim": 0.0}
    sim = data.y_target_sim
    if sim is None:
        return nan
    tr_ok = tr[np.isfinite(sim[tr])]
    te_ok = te[np.isfinite(sim[te])]
    if len(tr_ok) < 3 or len(te_ok) == 0:
        return {**nan, "n_test_sim": float(len(te_ok))}
    b, a = np.polyfit(sim[tr_ok].astype(np.float64), data.y_target[tr_ok].astype(np.float64), 1)
    y = data.y_target[te_ok]
    return {"sim_mae": float(np.abs(a + b * sim[te_ok] - y).mean()),
            "mae_on_sim": float(np.abs(pred_all[te_ok] - y).mean()), "n_test_sim": float(len(te_ok))}
