"""Times the book's classroom run as a whole, cold, exactly as ``book/rerun.md`` prints it.

The commands are read from the ``bash`` block under ``(classroom-run)=`` in ``book/rerun.md`` (so the
timing is of what a lecturer copies), run one after the other with fresh caches (descriptors and
pretrained networks are computed as on a lecture laptop's first run) and a fresh output directory in
place of ``/tmp/classroom``. The result, ``benchmarks/classroom.json``, holds the machine, the commands,
the wall time of each command and of each grid point (``wall_s`` from the rows), and the grid's rows
(``classroom_results.csv``). ``tests/test_benchmark.py`` checks that the rerun page's measured
minutes are this file's.

The same script times any labelled ``bash`` block of ``s2r`` commands on a book page: ``--label
own-case-example --page book/own_case.md`` times the worked example of "Your own case study" and
writes ``own_case_example.json`` (``s2r new-case`` then writes its case file into a fresh cases
directory, never the user's).

Run on a quiet machine (``uptime``: the 1-minute load should be well under the CPU count)::

    .venv/bin/python benchmarks/classroom_run.py            # about 5-10 minutes on 2 cores
    .venv/bin/python benchmarks/classroom_run.py --print    # the commands only, nothing run
    .venv/bin/python benchmarks/classroom_run.py --label own-case-example --page book/own_case.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import REPO, log, machine_facts  # noqa: E402

PAGE = REPO / "book" / "rerun.md"
LABEL = "classroom-run"
DEMO_DIR = re.compile(r"/tmp/([A-Za-z0-9_.-]+)")  # a demo's output directory: replaced by a fresh one


def record_name(label: str) -> str:
    """The record a label's measurement is written to: ``classroom.json`` for the classroom run, else
    the label with underscores (``own-case-example`` -> ``own_case_example.json``)."""
    return "classroom.json" if label == LABEL else label.replace("-", "_") + ".json"


def page_commands(page: Path = PAGE, label: str = LABEL) -> list[str]:
    """The commands of the ``bash`` block after ``(label)=`` on ``page``, backslash continuations
    joined, ``source`` lines dropped."""
    text = page.read_text()
    if f"({label})=" not in text:
        raise ValueError(f"{page}: no '({label})=' label, so no block to time")
    block = re.search(r"```bash\n(.*?)```", text.split(f"({label})=", 1)[1], re.S)
    if block is None:
        raise ValueError(f"{page}: no ```bash block after the '({label})=' label")
    joined = block.group(1).replace("\\\n", " ")
    cmds = [" ".join(ln.split()) for ln in joined.splitlines() if ln.strip() and not ln.startswith("source ")]
    if not cmds or not all(c.startswith("s2r ") for c in cmds):
        raise ValueError(f"{page}: the '{label}' block should hold only 's2r' commands, got {cmds}")
    return cmds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks", help="where the record (classroom.json) goes")
    ap.add_argument("--print", action="store_true", help="print the commands and stop")
    ap.add_argument("--page", type=Path, default=PAGE, help="the page whose block is run")
    ap.add_argument("--label", default=LABEL, help="the MyST label before the block (default: the classroom run)")
    ap.add_argument("--allow-dirty", action="store_true",
                    help="measure a checkout with uncommitted changes (the record says so); for tests")
    args = ap.parse_args(argv)
    cmds = page_commands(args.page, args.label)
    if args.print:
        print("\n".join(cmds))
        return 0
    s2r = Path(sys.executable).with_name("s2r")
    if not s2r.exists():
        raise SystemExit(f"no 's2r' beside {sys.executable}: run this with the project's environment, "
                         ".venv/bin/python benchmarks/classroom_run.py")
    facts = machine_facts(threads=os.cpu_count() or 1)
    if facts["git"].endswith("-dirty") and not args.allow_dirty:
        raise SystemExit(f"the checkout has uncommitted changes ({facts['git']}): commit first, so the measurement "
                         "names the code it timed (or pass --allow-dirty)")
    with tempfile.TemporaryDirectory(prefix="s2r-classroom-") as tmp:
        env = dict(os.environ, S2R_CACHE=f"{tmp}/cache", S2R_PRETRAIN_CACHE=f"{tmp}/cache/pretrained",
                   S2R_FIT_CACHE="off", S2R_CASES_DIR=f"{tmp}/cases")
        runs = []
        for cmd in cmds:
            argv_ = [str(s2r)] + shlex.split(DEMO_DIR.sub(lambda m: f"{tmp}/{m.group(1)}", cmd))[1:]
            log(f"running: {cmd}")
            t0 = time.perf_counter()
            done = subprocess.run(argv_, cwd=REPO, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            if done.returncode:
                sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
                raise SystemExit(f"{args.label} command failed (exit {done.returncode}): {cmd}")
            log(f"  {seconds:.1f} s")
            runs.append({"command": cmd, "seconds": round(seconds, 1), "stdout_tail": done.stdout[-3000:]})
        import pandas as pd

        grid = next(c for c in cmds if c.startswith("s2r grid "))
        out = DEMO_DIR.sub(lambda m: f"{tmp}/{m.group(1)}", re.search(r"--out[ =](\S+)", grid).group(1))
        rows = pd.read_csv(f"{out}/results.csv")
        name = record_name(args.label)
        shutil.copy(f"{out}/results.csv", args.out / name.replace(".json", "_results.csv"))
    points = [{"n_source": int(n), "m_target": int(m), "wall_s": float(w)} for (n, m), w in
              rows.groupby(["n_source", "m_target"])["wall_s"].first().items()]
    record = {"machine": facts, "loadavg_end": list(os.getloadavg()), "commands": runs,
              "data_mirror": bool(os.environ.get("S2R_DATA_MIRROR")),  # True: the data were read locally, not downloaded
              "total_seconds": round(sum(r["seconds"] for r in runs), 1), "points": points,
              "trials": int(rows["trial"].nunique()) if "trial" in rows else None}
    from s2rlib._core.atomic import atomic_write

    with atomic_write(args.out / name) as fh:  # a stopped run never leaves half a file
        fh.write(json.dumps(record, indent=1) + "\n")
    log(f"{args.label}: {record['total_seconds']:.0f} s in all -> {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
