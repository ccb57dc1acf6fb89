"""What the benchmarks need to know about the machine and to count: its facts (CPU, memory, torch,
load), wall-clock helpers, a FLOP counter around ``EnsembleMLP.forward``, and the matmul / bmm
ceilings that training throughput is compared with. Shared by ``bench_grid.py`` and ``bench_step.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------- facts
def machine_facts(threads: int) -> dict:
    import torch

    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    lscpu = run(["lscpu"])
    keep = ("Architecture", "Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "Socket(s)",
            "L1d cache", "L2 cache", "L3 cache", "Hypervisor vendor", "CPU max MHz")
    lines = [ln for ln in lscpu.splitlines() if ln.split(":")[0].strip() in keep]
    mem = ""
    with contextlib.suppress(OSError):
        mem = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "hostname": platform.node(), "python": platform.python_version(), "platform": platform.platform(),
        # the CPUs this process may use (the `nproc` command would follow OMP_NUM_THREADS instead)
        "nproc": str(len(os.sched_getaffinity(0))), "lscpu": lines, "memory": mem.split(":", 1)[-1].strip(),
        "torch": torch.__version__, "torch_threads": threads, "torch_default_threads": torch.get_num_threads(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()), "mkl": bool(torch.backends.mkl.is_available()),
        "git": run(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
        "loadavg_start": list(os.getloadavg()),
    }


def cpu_model(facts: dict) -> str:
    """The CPU's model name from :func:`machine_facts` (its ``lscpu`` lines), "?" when not recorded."""
    return next((ln.split(":", 1)[1].strip() for ln in facts.get("lscpu", []) if ln.startswith("Model name")), "?")


def load_text(facts: dict, key: str = "loadavg_start") -> str:
    """A recorded load average (1, 5, 15 minutes) as "0.46, 1.56, 1.82"."""
    return ", ".join(f"{x:.2f}" for x in facts.get(key, []))


class FlopCounter(contextlib.AbstractContextManager):
    """Counts samples through ``EnsembleMLP.forward``: with grad (training: forward + backward, 6 x MACs per
    sample, ``flops_per_sample``) and without (validation and test: forward only, 2 x MACs)."""

    def __enter__(self):
        from s2rlib.training import models

        self.train_samples = self.eval_samples = 0
        self.flops = 0.0
        self._cls, self._orig = models.EnsembleMLP, models.EnsembleMLP.forward
        counter, orig = self, self._orig

        def forward(model, x):
            import torch

            k = int(x.shape[0]) * int(x.shape[1])
            if torch.is_grad_enabled():
                counter.train_samples += k
                counter.flops += k * model.flops_per_sample()
            else:
                counter.eval_samples += k
                counter.flops += k * model.flops_per_sample() / 3
            return orig(model, x)

        self._cls.forward = forward
        return self

    def __exit__(self, *exc):
        self._cls.forward = self._orig
        return False


def best_rate(fn, flops_per_call: float, seconds: float, bursts: int = 5) -> float:
    """GFLOP/s of ``fn``: the best of ``bursts`` timed bursts (a ceiling: the least disturbed burst counts)."""
    for _ in range(3):
        fn()
    best = 0.0
    for _ in range(bursts):
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / bursts:
            fn()
            reps += 1
        best = max(best, flops_per_call * reps / (time.perf_counter() - t0) / 1e9)
    return best


def matmul_gflops(size: int, seconds: float) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    return best_rate(lambda: torch.matmul(a, b), 2 * size**3, seconds)


def bmm_gflops(E: int, B: int, d_in: int, d_out: int, seconds: float) -> float:
    import torch

    x, w, bias = torch.randn(E, B, d_in), torch.randn(E, d_in, d_out), torch.randn(E, 1, d_out)
    return best_rate(lambda: torch.baddbmm(bias, x, w), 2 * E * B * d_in * d_out, seconds)


def bf16_matmul_gflops(size: int, seconds: float) -> float:
    import torch

    a, b = torch.randn(size, size, dtype=torch.bfloat16), torch.randn(size, size, dtype=torch.bfloat16)
    return best_rate(lambda: torch.matmul(a, b), 2 * size**3, seconds)


def onednn_linear_gflops(size: int, seconds: float) -> float | None:
    """fp32 ``x @ w.T`` through oneDNN (``s2rlib.training.models._linear``, the kernel of ``Recipe(matmul="onednn")``):
    on an AMD CPU, MKL's fp32 GEMM (``torch.matmul``) takes a slower code path, so oneDNN can be faster.
    None when this torch build has no such kernel."""
    import torch

    from s2rlib.training.models import _linear, onednn_available

    if not onednn_available():
        return None
    a, w, b = torch.randn(size, size), torch.randn(size, size), torch.zeros(size)
    return best_rate(lambda: _linear(a, w, b), 2 * size**3, seconds)
