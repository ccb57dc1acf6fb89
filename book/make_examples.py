"""Execute each case notebook once, at one small grid point, and keep it with its outputs for the book:

    python book/make_examples.py            # all built-in cases, a few minutes on 2 cores
    python book/make_examples.py chi        # one case

Writes ``book/examples/<case>.ipynb``: the case's notebook (``notebooks/<case>.ipynb``) as papermill
ran it with the parameters below, outputs kept (the appendix shows them; the book never executes
them). Each is one grid point of the **classroom recipe** of the rerun chapter (whole database,
all experiments, 2 trials, pretraining cut to 1,000 steps and fine-tuning to 100 epochs), so its
numbers are a demonstration, not the book's results. ``tests/test_book_sources.py`` checks that
every example ran the current notebook's code, without an error, with these parameters.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
import papermill as pm

from s2rlib.cases import registry as cases

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: the examples' short training (book/notebooks.md says it): the default network, pretraining capped at 1,000
#: steps, fine-tuning at 100 epochs; a demonstration of what a point prints, not the classroom run's recipe
EXAMPLE_RECIPE = {"pretrain_max_steps": 1000, "finetune_max_epochs": 100}
PARAMETERS = {"n_source": "all", "m_target": -1, "trials": 2, "seed": 0,
              "recipe_json": json.dumps(EXAMPLE_RECIPE), "threads": 2, "output_path": "", "progress": False}


def make(case: str) -> Path:
    out = HERE / "examples" / f"{case}.ipynb"
    out.parent.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    pm.execute_notebook(str(REPO / "notebooks" / f"{case}.ipynb"), str(out), parameters={"case": case, **PARAMETERS},
                        kernel_name="python3", progress_bar=False, cwd=str(REPO / "notebooks"))
    tidy(out)
    print(f"{out.relative_to(REPO)}: {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def tidy(path: Path) -> None:
    """No trace of this machine in an executed notebook: stderr streams (library warnings naming local
    paths) are dropped, and papermill's input and output paths are made relative to the repository."""
    nb = nbformat.read(path, as_version=4)
    pm_meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if pm_meta.get(key):
            pm_meta[key] = str(Path(pm_meta[key]).resolve().relative_to(REPO))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    nbformat.write(nb, path)


def main(argv: list[str]) -> None:
    for case in argv or cases.builtin_names():
        make(case)


if __name__ == "__main__":
    main(sys.argv[1:])
