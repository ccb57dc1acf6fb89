"""The in-memory form of one case study's data, ready for transfer learning."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from s2rlib.datasets.registry import LoadedFile


@dataclass
class CaseData:
    """Source (computational) and target (experimental) matrices of one case study.

    ``X_*`` are float32 descriptor matrices (rows x features); ``y_*`` the property in ``units``;
    ``groups_target`` the unit that must not straddle train and test (composition, polymer, pair).
    ``files`` records each input file's key, sha256 and location; ``notes`` the counts of merged,
    dropped and overlapping rows that the notebook reports.
    """

    case: str
    X_source: np.ndarray
    y_source: np.ndarray
    X_target: np.ndarray
    y_target: np.ndarray
    groups_target: np.ndarray
    feature_names: list[str]
    units: str
    files: list[dict] = field(default_factory=list)
    notes: dict = field(default_factory=dict)
    source_ids: np.ndarray | None = None  # e.g. reduced formulas / canonical SMILES
    target_ids: np.ndarray | None = None
    # When set (same identities as ``groups_target``), source rows of a trial's experimental TEST
    # groups are withheld from that trial's pretraining draw (e.g. chi: the same polymer-solvent pair).
    source_groups: np.ndarray | None = None
    # The simulated value of each experimental row's own material (NaN where the source has none):
    # the "simulation as the predictor" baseline (s2rlib.training.metrics.simulation_baseline).
    y_target_sim: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.X_source = np.ascontiguousarray(self.X_source, dtype=np.float32)
        self.X_target = np.ascontiguousarray(self.X_target, dtype=np.float32)
        self.y_source = np.asarray(self.y_source, dtype=np.float32)
        self.y_target = np.asarray(self.y_target, dtype=np.float32)
        self.groups_target = np.asarray(self.groups_target)
        assert self.X_source.shape == (len(self.y_source), len(self.feature_names)), "source shape"
        assert self.X_target.shape == (len(self.y_target), len(self.feature_names)), "target shape"
        assert len(self.groups_target) == len(self.y_target), "groups length"
        if self.y_target_sim is not None:
            self.y_target_sim = np.asarray(self.y_target_sim, dtype=np.float64)
            assert self.y_target_sim.shape == self.y_target.shape, "y_target_sim length"

    @property
    def n_source(self) -> int:
        return len(self.y_source)

    @property
    def n_target(self) -> int:
        return len(self.y_target)

    @property
    def data_sha256(self) -> str:
        """One hash over the sha256 of every input file (sorted by key)."""
        lines = sorted(f"{f['key']}={f['sha256']}" for f in self.files)
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def file_record(loaded: LoadedFile) -> dict:
    return {"key": loaded.key, "sha256": loaded.sha256, "location": loaded.location}
