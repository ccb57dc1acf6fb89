"""Cut the example files of "Your own case study" (``src/s2rlib/data/example/``) from the vendored data.

    S2R_DATA_MIRROR=../shared/data .venv/bin/python tools/make_example_data.py

Formation enthalpy (the worked example): 2,000 rows of the vendored Materials Project formation energies
(``src/s2rlib/data/matbench/mp_e_form.csv.gz``, eV/atom) and 300 of pymatgen's experimental formation
enthalpies (``exp_compounds.json.gz``, eV per formula unit, divided by the atoms of the formula unit as
:func:`s2rlib.datasets.inorganic.load_exp_formation_enthalpy` does), drawn with
``numpy.random.default_rng(2025)`` and kept in their original order. The band-gap files were cut the
same way (their README row). Prints each file's sha256 for ``README.md``.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from s2rlib.datasets.inorganic import load_exp_formation_enthalpy

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "src" / "s2rlib" / "data"
OUT = DATA / "example"


def cut(frame: pd.DataFrame, k: int, rng: np.random.Generator) -> pd.DataFrame:
    return frame.iloc[np.sort(rng.choice(len(frame), k, replace=False))]


def main(check: bool = False) -> None:
    """Write the files (``check``: write nothing, compare with the committed ones and fail on a difference)."""
    rng = np.random.default_rng(2025)
    with gzip.open(DATA / "matbench" / "mp_e_form.csv.gz", "rt") as fh:
        sim = pd.read_csv(fh, dtype={"target": str})  # the values byte for byte
    sim = cut(sim, 2000, rng)
    exp, _ = load_exp_formation_enthalpy()
    exp = cut(exp[["formula", "target"]], 300, rng)
    for name, frame in (("sim_formation_enthalpy.csv", sim), ("exp_formation_enthalpy.csv", exp)):
        path = OUT / name
        text = frame.to_csv(index=False)
        if check:
            if path.read_text() != text:
                raise SystemExit(f"{path}: differs from what the draw gives now (rerun without --check)")
            print(f"{name}: unchanged")
            continue
        path.write_text(text)
        print(f"{name}: {len(frame)} rows, sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    import sys

    main(check="--check" in sys.argv[1:])
