"""Where training runs: the CPU (the reference) or a CUDA GPU.

* :data:`DEVICES` — the names a user may give (``--device``, the notebooks' ``device`` parameter);
* :func:`resolve` — a name to a ``torch.device``, refused with the reason where it cannot run here;
* :func:`describe` — what a device is, as recorded in a point's parameters and in the pretrained
  cache's key (device name, CUDA and cuDNN versions, the TF32 setting): a network pretrained on one
  GPU model is not taken for another's, and a GPU point has its own grid id.

Initialisation always draws on the CPU generator (:class:`s2rlib.training.models.EnsembleMLP`), so a
member starts from the same weights on any device; the batch draws are numpy generators, so a member
sees the same rows. What differs between devices is float rounding (other kernels, other summation
order), so a GPU point is its own point, like a change of seed.
"""

from __future__ import annotations

import contextlib
import os

import torch

from s2rlib._core.errors import ParameterError

__all__ = ["DEVICES", "PRECISIONS", "resolve", "describe", "record", "bf16_native", "training_precision"]

#: the devices a grid point may train on; "cpu" is the reference every test runs
DEVICES = ("cpu", "cuda")


def resolve(name: str | None) -> torch.device:
    """``name`` ("cpu", "cuda", None = "cpu") as a ``torch.device``; a ParameterError says why it cannot run here."""
    name = "cpu" if name in (None, "") else name
    if not isinstance(name, str) or name.split(":")[0] not in DEVICES:
        raise ParameterError(f"parameter device={name!r}: expected one of {list(DEVICES)} (cuda:<index> for "
                             "another GPU)")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = torch.version.cuda
            why = (f"this torch {torch.__version__} is a CPU-only build (no CUDA)" if not build else
                   f"this torch {torch.__version__} (CUDA {build}) finds no usable CUDA device "
                   "(torch.cuda.is_available() is False: no GPU, or its driver is missing or too old)")
            raise ParameterError(f"parameter device={name!r}: {why}; run with --device cpu")
        index = torch.device(name).index or 0
        if index >= torch.cuda.device_count():
            raise ParameterError(f"parameter device={name!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        # cuBLAS is deterministic (torch.use_deterministic_algorithms) only with a fixed workspace; read when
        # its first handle is made, so set before any CUDA work
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.device(name)


def describe(device: torch.device) -> dict:
    """What ``device`` is: ``{"type": "cpu"}``, or the GPU's name, capability, CUDA/cuDNN versions and TF32 flags."""
    if device.type != "cuda":
        return {"type": device.type}
    index = device.index or 0
    props = torch.cuda.get_device_properties(index)
    return {"type": "cuda", "name": props.name, "capability": f"{props.major}.{props.minor}",
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
            "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32)}


def record(name: str | None) -> dict:
    """The parameters a point records for its device: nothing for the CPU (so CPU grids keep their id), else
    ``{"device": describe(...)}``, which enters the grid id (a GPU point is its own point)."""
    dev = resolve(name)
    return {} if dev.type == "cpu" else {"device": describe(dev)}


PRECISIONS = ("fp32", "bf16")


def bf16_native() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX tiles); oneDNN's own check
    (``torch.ops.mkldnn._is_mkldnn_bf16_supported``) only asks for AVX-512, which emulates bf16 slowly."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def training_precision(precision: str):
    """The context of a training step's forward pass: fp32 as written, or bf16 autocast."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(torch.get_default_device().type, dtype=torch.bfloat16)  # the training's device
    raise ParameterError(f"recipe parameter precision={precision!r}: expected one of {', '.join(PRECISIONS)}")
