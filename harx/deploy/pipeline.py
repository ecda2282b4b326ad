"""``harx deploy``: an artifact (or a stored candidate's) -> C project -> optionally built, run and measured."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harx import __version__
from harx.deploy.adaptive_c import AdaptiveProject, generate_adaptive
from harx.deploy.codegen import Project, generate
from harx.deploy.emit import check_project_dir
from harx.deploy.toolchain import RunResult, run, run_adaptive
from harx.errors import StoreError
from harx.quant.adaptive import is_adaptive, load_adaptive
from harx.quant.artifact import Artifact, load
from harx.store import Store

DEFAULT_WINDOWS = 100


@dataclass(frozen=True)
class DeployResult:
    """The generated project and the runs made of it (none without ``run``); an adaptive model's project
    is an AdaptiveProject and its runs are AdaptiveRunResults (every window in every checked mode)."""

    project: Project | AdaptiveProject
    runs: tuple[RunResult, ...]

    @property
    def bit_exact(self) -> bool:
        return bool(self.runs) and all(r.bit_exact for r in self.runs)

    def to_json(self, candidate: int | None = None, attached: list[str] | tuple[str, ...] = ()) -> dict:
        """``harx deploy --json``: the project, its runs and, for a stored ``candidate``, what was attached."""
        p = self.project
        adaptive = isinstance(p, AdaptiveProject)
        return {
            "candidate": candidate,
            "kind": p.kind if adaptive else "static",
            "project": str(p.path),
            "target": p.target,
            "genome": p.genome,
            "kernel_set": p.kernel_set,
            "kernels": list(p.kernels),
            "implementations": p.implementations,
            "windows": p.window_count,
            "memory_plan": {
                "target": p.plan.target,
                "ro_bytes": p.plan.ro_bytes,
                "ram_bytes": p.plan.ram_bytes,
            },
            "runs": [run.to_json() for run in self.runs],
            **(
                {"modes": [dataclasses.asdict(m) for m in p.modes], "check_modes": list(p.check_modes)}
                if adaptive
                else {}
            ),
            "attached": list(attached),
        }


def test_windows(artifact: Artifact, count: int, home: Path | None = None) -> np.ndarray:
    """The first ``count`` windows of the test subjects of the artifact's dataset, as int8 input codes
    (N, T, C) quantized exactly as the model's input. Raises DataError if the cached dataset is not the
    one the artifact was trained on."""
    return artifact.normalize_and_quantize(artifact.test_windows(count, home))


def builds_for(target: str, sanitize: bool = False) -> tuple[str, ...]:
    """What ``--run`` builds: rv32 runs under qemu (counted, sized); host and gap8 projects run on the host
    (a gap8 project's host build runs the same network.c, staging and L1 layout, with harx's kernels)."""
    if target == "rv32":
        return ("rv32", "asan") if sanitize else ("rv32",)
    return ("host", "asan") if sanitize else ("host",)


def deploy(
    artifact: Artifact | str | Path,
    target: str,
    out_dir: str | Path,
    *,
    windows: int | np.ndarray = DEFAULT_WINDOWS,
    run_builds: bool = False,
    sanitize: bool = False,
    home: Path | None = None,
    kernels: str | None = None,
    force: bool = False,
) -> DeployResult:
    """Generate the C project of ``artifact`` (an Artifact or its directory, or the directory of an
    adaptive model written by ``harx adapt``) for ``target`` into ``out_dir`` with ``windows`` test windows
    (a count taken from the dataset's test subjects, or int8 codes (N, T, C)) and the kernel set ``kernels``
    (``opt`` or ``ref``; None: the target's default); with ``run_builds``, build and run it (``builds_for``)
    and check it bit for bit (an adaptive model in every runtime mode). ``out_dir`` is checked first: a
    project harx wrote is replaced only when it holds no edited or foreign file, unless ``force``
    (``harx.deploy.emit.write_project``)."""
    check_project_dir(out_dir, force)
    if not isinstance(artifact, Artifact) and is_adaptive(artifact):
        model, _ = load_adaptive(artifact)
        codes = test_windows(model.first, windows, home) if isinstance(windows, int) else windows
        project = generate_adaptive(model, out_dir, target, codes, kernels=kernels, force=force)
        builds = builds_for(target, sanitize) if run_builds else ()
        return DeployResult(project, tuple(run_adaptive(project, b) for b in builds))
    art = artifact if isinstance(artifact, Artifact) else load(artifact)
    codes = test_windows(art, windows, home) if isinstance(windows, int) else windows
    project = generate(art, out_dir, target, codes, kernels, force)
    runs = tuple(run(project, b) for b in builds_for(target, sanitize)) if run_builds else ()
    return DeployResult(project, runs)


def measurements(result: DeployResult) -> dict[str, dict]:
    """What a deploy measured, keyed as it is attached to a stored candidate: ``rv32_measured``
    (instructions per inference, ELF sizes, bit-exactness) and ``<build>_checked`` for host builds."""
    out: dict[str, dict] = {}
    for r in result.runs:
        check = {
            "windows": r.windows,
            "mismatched_windows": r.mismatched_windows,
            "target": result.project.target,
            "kernel_set": result.project.kernel_set,
            "harx_version": __version__,
        }
        if r.instructions is None or r.sizes is None:
            out[f"{r.build}_checked"] = check
            continue
        out["rv32_measured"] = {
            **check,
            "instructions_per_inference": r.instructions.mean,
            "instructions_min": r.instructions.min,
            "instructions_max": r.instructions.max,
            "text_bytes": r.sizes.text_bytes,
            "rodata_bytes": r.sizes.rodata_bytes,
            "data_bytes": r.sizes.data_bytes,
            "bss_bytes": r.sizes.bss_bytes,
            "weights_bytes": r.sizes.weights_bytes,
            "buffers_bytes": r.sizes.buffers_bytes,
            "inference_code_bytes": r.sizes.inference_code_bytes,
        }
    return out


# Which accuracy ranks the stored candidates of a stage (the metric names the search stores).
BEST_BY = (("refine", "test_acc_mean"), ("proxy", "val_acc"))


def _open_store(store_path: str | Path) -> Store:
    if not Path(store_path).is_file():
        raise StoreError(f"{store_path}: no candidate store here (give --store PATH)")
    return Store(store_path, readonly=True)


def best_candidate(store_path: str | Path) -> int:
    """The id of the most accurate stored candidate with an artifact (status ok): refined candidates by mean
    test accuracy when there are any, else proxy candidates by validation accuracy; ties to the lowest id."""
    with _open_store(store_path) as store:
        for stage, metric in BEST_BY:
            ranked = [
                (-float(r.metrics[metric]), r.id)
                for r in store.candidates(stage=stage, status="ok")
                if r.artifact_path and metric in r.metrics
            ]
            if ranked:
                return min(ranked)[1]
    raise StoreError(f"{store_path}: no candidate with an artifact and an accuracy to rank it by")


def candidate_artifact(store_path: str | Path, candidate_id: int) -> Path:
    """The artifact directory of a stored candidate (StoreError if it has none)."""
    with _open_store(store_path) as store:
        rec = store.get_candidate(candidate_id)
    if not rec.artifact_path:
        raise StoreError(
            f"{store_path}: candidate {candidate_id} ({rec.genome}, stage {rec.stage}) has no artifact; "
            "quantize it first"
        )
    return Path(rec.artifact_path)


def attach_measurements(store_path: str | Path, candidate_id: int, result: DeployResult) -> list[str]:
    """Store what ``result`` measured on the candidate; returns the keys attached."""
    found = measurements(result)
    with Store(store_path) as store:
        for key, value in found.items():
            store.attach(candidate_id, key, value)
    return sorted(found)
