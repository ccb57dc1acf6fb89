"""benchmarks/bench_grid.py: the committed report is the script's rendering of the committed raw numbers,
and the script runs end to end (tiny sizes)."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks" / "bench_grid.py"
TINY = {"hidden": [16], "pretrain_epochs": 1, "pretrain_min_steps": 5, "pretrain_max_steps": 10,
        "finetune_max_epochs": 2, "patience_epochs": 1}


def test_committed_report_is_rendered_from_results_json(tmp_path):
    shutil.copy(REPO / "benchmarks" / "results.json", tmp_path / "results.json")
    subprocess.run([sys.executable, str(BENCH), "--report-only", "--out", str(tmp_path)], check=True, timeout=120)
    assert (tmp_path / "REPORT.md").read_text() == (REPO / "benchmarks" / "REPORT.md").read_text(), \
        "benchmarks/REPORT.md differs from the rendering of results.json: rerun the benchmark, do not edit it"


@pytest.mark.slow
def test_benchmark_runs_end_to_end_at_tiny_sizes(tmp_path):
    cmd = [sys.executable, str(BENCH), "--ns", "100,all", "--trials", "2", "--naive-trials", "1",
           "--recipe", json.dumps(TINY), "--throughput-steps", "5", "--ceiling-seconds", "0.2",
           "--papermill-repeats", "1", "--parallel-ns", "0,100", "--parallel-trials", "1",
           "--parallel-recipe", json.dumps(TINY), "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert [p["n_label"] for p in res["a"]["points"]] == ["100", "all"]
    for p in res["a"]["points"]:
        assert p["speedup_featurize"] > 1 and p["train_samples"] > 0 and p["gflops_end_to_end"] > 0
        assert len(p["naive_mae_first_trials"]) == 1 and 0 < p["naive_mae_first_trials"][0] < 5
        assert p["max_rel_diff_mae"] < 1e-4  # one network at a time == batched, up to float rounding
        assert len(p["trial_batched_s"]) == 1 and p["trial_batched_total_s_scaled"] > 0
    assert [r["members"] for r in res["b"]["pretrain_loop"]] == [1, 2, 8]
    assert res["c"]["overhead_per_point_s"] > 0
    assert res["d"]["faster"] in {"parallel_2x1thread", "sequential_2threads"}
    report = (tmp_path / "REPORT.md").read_text()
    for heading in ("## (a)", "## (b)", "## (c)", "## (d)", "## Machine"):
        assert heading in report


def test_committed_step_report_is_rendered_from_step_json(tmp_path):
    shutil.copy(REPO / "benchmarks" / "step.json", tmp_path / "step.json")
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_step.py"), "--report-only", "--out", str(tmp_path)],
                   check=True, timeout=120, capture_output=True)
    assert (tmp_path / "STEP.md").read_text() == (REPO / "benchmarks" / "STEP.md").read_text()


@pytest.mark.slow
def test_step_benchmark_runs_at_tiny_sizes(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_step.py"), "--steps", "1", "--repeats", "1",
                           "--hidden", "16,8", "--ceiling-seconds", "0.2", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    res = json.loads((tmp_path / "step.json").read_text())
    for r in res["shapes"].values():
        assert set(r["ms_per_step"]) == {"before", "allocator", "both"} and min(r["ms_per_step"].values()) > 0


def test_committed_precision_report_is_rendered_from_precision_json(tmp_path):
    shutil.copy(REPO / "benchmarks" / "precision.json", tmp_path / "precision.json")
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_precision.py"), "--report-only", "--out",
                    str(tmp_path)], check=True, timeout=120, capture_output=True)
    assert (tmp_path / "PRECISION.md").read_text() == (REPO / "benchmarks" / "PRECISION.md").read_text()


@pytest.mark.slow
def test_precision_benchmark_runs_at_tiny_sizes_and_its_numbers_are_its_trials(tmp_path):
    """The quick run end to end; the speed-up is the ratio of the two arms' times and the paired
    difference is the mean of the per-trial differences, both as rendered."""
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_precision.py"), "--quick", "--steps", "1",
                           "--repeats", "1", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600,
                          cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    res = json.loads((tmp_path / "precision.json").read_text())
    a = res["a"]
    fp, bf = a["runs"]["fp32"], a["runs"]["bf16"]
    assert len(fp["mae"]) == len(bf["mae"]) == 3 and fp["mae"] != bf["mae"]
    assert a["speedup"] == pytest.approx(fp["wall_s"] / bf["wall_s"])
    diffs = [b - f for f, b in zip(fp["mae"], bf["mae"])]
    assert a["difference"]["mean"] == pytest.approx(sum(diffs) / 3)
    assert a["difference"]["lo"] < a["difference"]["mean"] < a["difference"]["hi"]
    report = (tmp_path / "PRECISION.md").read_text()
    assert f"**{a['difference']['mean']:+.4f} eV**" in report and f"**{a['speedup']:.2f}x**" in report
    assert set(res["b"]) == {"pretrain", "fine-tune"}


def _classroom():
    spec = importlib.util.spec_from_file_location("classroom_run", REPO / "benchmarks" / "classroom_run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_matmul_report_is_rendered_from_matmul_json(tmp_path):
    shutil.copy(REPO / "benchmarks" / "matmul.json", tmp_path / "matmul.json")
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_matmul.py"), "--report-only", "--out",
                    str(tmp_path)], check=True, timeout=120)
    assert (tmp_path / "MATMUL.md").read_text() == (REPO / "benchmarks" / "MATMUL.md").read_text()


def test_matmul_benchmark_runs_at_tiny_sizes_and_readme_quotes_the_committed_run(tmp_path):
    from s2rlib.training.models import onednn_available

    if not onednn_available():
        pytest.skip("this torch build has no oneDNN linear kernel")
    cmd = [sys.executable, str(REPO / "benchmarks" / "bench_matmul.py"), "--quick", "--steps", "1", "--repeats", "1",
           "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    res = json.loads((tmp_path / "matmul.json").read_text())
    a = res["a"]
    assert set(a["runs"]) == {"blas", "onednn"} and a["trials"] == 3
    assert a["speedup"] == pytest.approx(a["runs"]["blas"]["wall_s"] / a["runs"]["onednn"]["wall_s"])
    diffs = [y - x for x, y in zip(a["runs"]["blas"]["mae"], a["runs"]["onednn"]["mae"])]
    assert a["difference"]["mean"] == pytest.approx(sum(diffs) / len(diffs), abs=1e-12)
    assert max(abs(x) for x in diffs) < 0.05  # the same products, rounded differently, on a short run
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_matmul

    committed = json.loads((REPO / "benchmarks" / "matmul.json").read_text())
    assert committed["overrides"] == {} and committed["threads"] == 2
    text = " ".join((REPO / "benchmarks" / "README.md").read_text().split())
    assert bench_matmul.readme_sentence(committed) in text


def test_classroom_commands_are_read_from_the_page_and_a_broken_block_is_refused(tmp_path):
    mod = _classroom()
    cmds = mod.page_commands()
    assert [c.split()[:2] for c in cmds] == [["s2r", "grid"], ["s2r", "fit"]]
    assert "\\" not in cmds[0] and "--ms all" in cmds[0] and "--out /tmp/classroom" in cmds[0]
    page = tmp_path / "page.md"
    page.write_text("(classroom-run)=\n```bash\nrm -rf /tmp\n```\n")
    with pytest.raises(ValueError, match="only 's2r' commands"):
        mod.page_commands(page)
    page.write_text("# no label\n")
    with pytest.raises(ValueError, match="classroom-run"):
        mod.page_commands(page)


@pytest.mark.slow
def test_classroom_run_times_a_page_block_end_to_end(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("(classroom-run)=\n## x\n\n```bash\nsource .venv/bin/activate\n"
                    "s2r grid formation_enthalpy --ns 0,100 --ms all --trials 2 \\\n"
                    f"    --recipe '{json.dumps(TINY)}' \\\n    --out /tmp/classroom\n"
                    "s2r fit formation_enthalpy --results /tmp/classroom/results.csv --n-boot 20\n```\n")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "classroom_run.py"), "--page", str(page),
                           "--out", str(tmp_path), "--allow-dirty"], capture_output=True, text=True, timeout=900,
                          cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rec = json.loads((tmp_path / "classroom.json").read_text())
    assert [p["n_source"] for p in rec["points"]] == [0, 100] and rec["trials"] == 2
    assert rec["total_seconds"] == pytest.approx(sum(c["seconds"] for c in rec["commands"]), abs=0.2)
    assert rec["total_seconds"] > sum(p["wall_s"] for p in rec["points"])  # start-up, descriptors, fit on top
    assert "formation_enthalpy (m = all, 2 trials)" in rec["commands"][1]["stdout_tail"]
    assert "/tmp/classroom/" not in rec["commands"][1]["stdout_tail"]  # a fresh directory, never the demo's


def test_the_measured_classroom_run_is_of_the_page_commands_and_the_pages_quote_it(tmp_path):
    """``benchmarks/classroom.json`` timed exactly the commands the rerun page prints (a changed block needs
    a new measurement), the page's box is generated from it, and the lesson plan quotes its minutes."""
    from s2rlib.book import run_tables

    rec = json.loads((REPO / "benchmarks" / "classroom.json").read_text())
    assert [c["command"] for c in rec["commands"]] == _classroom().page_commands()
    minutes = f"{rec['total_seconds'] / 60:.1f} minutes"
    box = run_tables.classroom_box()
    assert box.startswith("```{admonition} Measured") and f"**{minutes}**" in box
    pts = sorted(rec["points"], key=lambda p: p["n_source"])
    labels = ["0", "100", "1,000", "10,000", "all"]  # the whole database by name, as on the command line
    assert [p["n_source"] for p in pts][:4] == [0, 100, 1000, 10000] and len(pts) == 5
    assert f"$n$ = " + ", ".join(f"{lab}: {p['wall_s']:,.0f} s" for lab, p in zip(labels, pts)) in box
    assert "unnamed" not in box and f"({rec['machine']['nproc']} CPUs)" in box
    assert not rec["machine"]["git"].endswith("-dirty")  # the measurement names the code it timed
    assert "book.classroom_box()" in (REPO / "book" / "rerun.md").read_text()
    assert f"**{minutes}**" in (REPO / "book" / "lesson.md").read_text()
    assert "Not yet measured" in run_tables.classroom_box(tmp_path / "missing.json")
    # the live fit's outcome is read from the measured run's own output, in words, with the case's units
    out = rec["commands"][1]["stdout_tail"]
    gain = re.search(r"paired gain at n = (\d+): ([-0-9.]+)", out)
    assert f"({int(gain.group(1)):,} samples) lower by {-float(gain.group(2)):.3g} eV/atom" in box
    status = re.search(r"status (\w+)", out).group(1)
    from s2rlib.book.findings import status_words
    assert f"{{ref}}`{status_words(status)} <status-table>`" in box and f"status: {status}" not in box
    assert "Its fit read" not in run_tables.classroom_box(_with_fit_output(rec, tmp_path, "no fit here"))
    worse = out.replace(f": {gain.group(2)} [", ": +0.0123 [", 1)
    worse = re.sub(r"(paired gain at n = \d+: \+0\.0123) \[[^\]]*\]", r"\1 [+0.001, +0.0236]", worse)
    box = run_tables.classroom_box(_with_fit_output(rec, tmp_path, worse))
    assert "higher by 0.0123 eV/atom (90% interval 0.00100 to 0.0236)" in box and "lower by" not in box
    # another spelling of the sizes still names the whole database, and missing machine facts are left out
    other = dict(rec, machine={}, commands=[dict(rec["commands"][0], command=rec["commands"][0]["command"].replace(
        "--ns ", "--ns=")), rec["commands"][1]])
    (tmp_path / "other.json").write_text(json.dumps(other))
    box = run_tables.classroom_box(tmp_path / "other.json")
    assert f"all: {pts[-1]['wall_s']:,.0f} s" in box and " CPUs" not in box and "load average" not in box


def _with_fit_output(rec: dict, tmp_path, out: str):
    other = dict(rec, commands=[rec["commands"][0], dict(rec["commands"][1], stdout_tail=out)])
    (tmp_path / "fit.json").write_text(json.dumps(other))
    return tmp_path / "fit.json"


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60} s"


def test_the_own_case_example_is_timed_as_printed_and_the_page_quotes_the_measurement():
    """"Your own case study" quotes the worked example's times and what ``new-case`` reports: both come
    from ``benchmarks/own_case_example.json``, a run of exactly the page's commands on a clean commit."""
    page = REPO / "book" / "own_case.md"
    rec = json.loads((REPO / "benchmarks" / "own_case_example.json").read_text())
    assert [c["command"] for c in rec["commands"]] == _classroom().page_commands(page, "own-case-example")
    assert not rec["machine"]["git"].endswith("-dirty")
    text = " ".join(page.read_text().split())
    quoted = ", ".join(f"**{_duration(c['seconds'])}**" for c in rec["commands"])
    times = re.search(r"the three commands took (\*\*[^*]+\*\*), (\*\*[^*]+\*\*) \([^)]*\) and (\*\*[^*]+\*\*)", text)
    assert times and ", ".join(times.groups()) == quoted, (times and times.groups(), quoted)
    load = rec["machine"]["loadavg_start"][0]
    assert f"load average {load:.1f} at the start" in text
    lscpu = dict(ln.split(":", 1) for ln in rec["machine"]["lscpu"] if ":" in ln)
    assert lscpu["Model name"].strip().split()[1] in text  # the CPU the page names (EPYC, Xeon)
    made = rec["commands"][0]["stdout_tail"]
    src = re.search(r"source: \S+ \(([\d,]+) rows, ([\d,]+) compositions\)", made).groups()
    tgt = re.search(r"target: \S+ \([\d,]+ rows, ([\d,]+) compositions\)", made).group(1)
    assert (f"reports {src[0]} source rows merged into {src[1]} compositions and {tgt} experimental compositions"
            in text)
    grid = next(c for c in rec["commands"] if c["command"].startswith("s2r grid "))["command"]
    ns = re.search(r"--ns (\S+)", grid).group(1).split(",")
    trials = int(re.search(r"--trials (\d+)", grid).group(1))
    assert rec["trials"] == trials and len(rec["points"]) == len(ns)
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}
    assert f"{words[len(ns)]} grid points of {words[trials]} trials" in text
    # a law needs fitted_ns >= MIN_POINTS distinct n > 0: the example's grid has them
    from s2rlib.law.fit_status import MIN_POINTS

    assert len([n for n in ns if n != "0"]) >= MIN_POINTS
    fit = next(c for c in rec["commands"] if c["command"].startswith("s2r fit "))["stdout_tail"]
    status = re.search(r"status (\w+)", fit).group(1)
    assert status != "too_few_points" and f"in the recorded run it was `{status}`" in text


def test_machine_facts_name_the_cpu_and_count_the_usable_cpus(monkeypatch):
    sys.path.insert(0, str(REPO / "benchmarks"))
    from machine import machine_facts

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the `nproc` command would report 1 here
    facts = machine_facts(threads=1)
    assert {"lscpu", "memory", "nproc", "git"} <= set(facts)
    assert int(facts["nproc"]) == len(os.sched_getaffinity(0))


def test_the_speed_report_says_when_it_measured_another_recipe_than_todays(monkeypatch):
    """REPORT.md is rendered from results.json: when the recipe measured there is not today's Recipe(), a
    reader must be told before reading its ratios (and told nothing when it is)."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import grid_report

    from s2rlib.training.transfer import Recipe

    res = json.loads((REPO / "benchmarks" / "results.json").read_text())
    report = (REPO / "benchmarks" / "REPORT.md").read_text()
    stale = res["config"].get("recipe") != Recipe().to_dict()
    assert ("**Not today's recipe:**" in report) == stale
    today = dict(res, config=dict(res["config"], recipe=Recipe().to_dict()))
    assert "Not today's recipe" not in grid_report.render(today)
    older = dict(res, config=dict(res["config"], recipe={**Recipe().to_dict(), "hidden": [128, 128, 64]}))
    assert "`hidden` [128, 128, 64] → [512, 512, 256]" in grid_report.render(older)
    gone = dict(res, config=dict(res["config"], recipe={**Recipe().to_dict(), "warmup": 3}))
    assert "`warmup` (no longer a field)" in grid_report.render(gone)


def test_committed_levers_report_is_rendered_from_levers_json_and_readme_quotes_it(tmp_path):
    """benchmarks/LEVERS.md is bench_levers.py's rendering of levers.json, and README's levers bullet is generated
    from the same numbers (every ratio with the load average it was measured at)."""
    shutil.copy(REPO / "benchmarks" / "levers.json", tmp_path / "levers.json")
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_levers.py"), "--report-only", "--out",
                    str(tmp_path)], check=True, timeout=120, capture_output=True)
    assert (tmp_path / "LEVERS.md").read_text() == (REPO / "benchmarks" / "LEVERS.md").read_text()
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_levers

    committed = json.loads((REPO / "benchmarks" / "levers.json").read_text())
    assert set("abc") <= set(committed) and all(committed[k]["overrides"] == {} for k in "abc")
    text = " ".join((REPO / "benchmarks" / "README.md").read_text().split())
    assert bench_levers.readme_sentence(committed) in text


def test_levers_benchmark_runs_quick_and_its_numbers_are_its_runs(tmp_path):
    """The quick run end to end: both orders of every arm are timed, the n = 0 arm trains fewer steps and never
    picks the L2-SP twin, and the real-point verdict is the stated margin applied to the paired interval."""
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_levers.py"), "--quick", "--parts", "abcde",
                           "--threads", "1", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600,
                          cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    res = json.loads((tmp_path / "levers.json").read_text())
    c = res["c"]["data"]
    assert all(len(t) == 2 for t in c["ms_per_step"].values()) and 0 <= c["improved_fraction"] <= 1
    assert set(res["a"]["data"]["fine-tune"]["ms"]) == {"reference", "l2sp on its members", "fused", "both"}
    d = res["d"]["data"]
    assert len(d["runs"]["all"]) == len(d["runs"]["distinct"]) == 2
    assert sum(d["runs"]["distinct"][0]["finetune_steps"]) < sum(d["runs"]["all"][0]["finetune_steps"])
    assert not any(p.startswith("l2sp") for p in d["runs"]["distinct"][0]["picked"])
    e = res["e"]
    diffs = [f - a for a, f in zip(e["runs"]["adam"]["mae"], e["runs"]["fused"]["mae"])]
    assert e["difference"]["mean"] == pytest.approx(sum(diffs) / len(diffs), abs=1e-12)
    assert e["speedup"] == pytest.approx(e["runs"]["adam"]["wall_s"] / e["runs"]["fused"]["wall_s"])
    ends = (e["difference"]["lo"], e["difference"]["hi"], e["difference"]["mean"])
    assert e["equivalent"] == (max(abs(x) for x in ends) <= e["margin_ev"] == 0.02)
    report = (tmp_path / "LEVERS.md").read_text()
    for heading in ("## (a)", "## (b)", "## (c)", "## (d)", "## (e)"):
        assert heading in report
