"""Build and run a generated project (host, host under sanitizers, rv32 under qemu) and read what it measured.

Every build goes through the project's own Makefile, so what is checked here is what a user builds. The
harness compares every logit with the numpy model in C; here its printed classes and logit checksums are
compared once more with the model's, window by window.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harx.deploy.adaptive_c import AdaptiveProject
from harx.deploy.codegen import Project
from harx.errors import ToolchainError

BUILDS = ("host", "asan", "rv32")
RV32_PREFIX = "riscv64-unknown-elf-"
QEMU_RV32 = "qemu-riscv32"
# What each build needs on PATH (the rv32 build also compiles the qemu plugin with the host compiler).
REQUIRED_TOOLS = {
    "host": ("make", "cc"),
    "asan": ("make", "cc"),
    "rv32": ("make", "cc", f"{RV32_PREFIX}gcc", f"{RV32_PREFIX}nm", f"{RV32_PREFIX}size", QEMU_RV32),
}
_MAKE_TARGET = {"host": "run-host", "asan": "run-asan", "rv32": "count"}
_WINDOW_LINE = re.compile(r"window (\d+) class (-?\d+) checksum (\d+)( MISMATCH)?")
_MODE_LINE = re.compile(r"mode (\d+) window (\d+) class (-?\d+) exit ([01]) checksum (\d+)( MISMATCH)?")
_MISMATCH_LINE = re.compile(r"mismatches (\d+)")


@dataclass(frozen=True)
class InstructionCount:
    """Instructions executed in harx_infer and the kernels it calls, counted exactly by the qemu TCG plugin.

    ``per_inference`` has one total per test window (they differ only through data-dependent branches:
    the requant clip, the max-pool compare). ``per_layer`` is the mean over the windows of each layer's
    share: from its kernel's entry to the next kernel's entry, the first layer's from the start of
    harx_infer and the last layer's to its return (so it includes the argmax); the shares sum to the mean.
    """

    per_inference: tuple[int, ...]
    per_layer: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.per_inference))

    @property
    def min(self) -> int:
        return min(self.per_inference)

    @property
    def max(self) -> int:
        return max(self.per_inference)


@dataclass(frozen=True)
class ElfSizes:
    """Sizes in bytes of the rv32 ELF (``riscv64-unknown-elf-size -A``) and of its parts the cost model
    estimates: ``weights_bytes`` (weights.c's arrays; the model's flash), ``buffers_bytes`` (network.c's
    static buffers; the model's RAM), ``inference_code_bytes`` (harx_infer and its kernels; not modelled).
    .rodata also holds the test harness's windows and expected logits."""

    text_bytes: int
    rodata_bytes: int
    data_bytes: int
    bss_bytes: int
    weights_bytes: int
    buffers_bytes: int
    inference_code_bytes: int


@dataclass(frozen=True)
class RunResult:
    """One build of a project run on its test windows. ``mismatched_windows`` counts windows whose logits
    differ from the numpy integer model's (by the harness's own comparison or by class/checksum here)."""

    build: str
    windows: int
    mismatched_windows: int
    instructions: InstructionCount | None = None
    sizes: ElfSizes | None = None

    @property
    def bit_exact(self) -> bool:
        return self.windows > 0 and self.mismatched_windows == 0

    def to_json(self) -> dict:
        ins = self.instructions
        return {
            "build": self.build,
            "windows": self.windows,
            "mismatched_windows": self.mismatched_windows,
            "bit_exact": self.bit_exact,
            "instructions": None if ins is None else {"mean": ins.mean, "min": ins.min, "max": ins.max},
            "sizes": None if self.sizes is None else dataclasses.asdict(self.sizes),
        }


def missing_tools(build: str) -> list[str]:
    """The tools ``build`` needs that are not on PATH (``cc`` is the C compiler make uses)."""
    cc = os.environ.get("CC", "cc")
    return [t for t in REQUIRED_TOOLS[build] if shutil.which(cc if t == "cc" else t) is None]


def _make(project: Project, target: str, timeout_s: float) -> subprocess.CompletedProcess:
    cmd = ["make", "-s", "-j2", "-C", str(project.path), target]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{project.path}: `make {target}` did not finish in {timeout_s:.0f} s") from None


def _tail(text: str, n: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _compare(project: Project, build: str, output: str) -> tuple[int, int]:
    """(windows, mismatched windows) from the harness output, checked against the numpy model."""
    found = _MISMATCH_LINE.search(output)
    windows = [m for m in map(_WINDOW_LINE.fullmatch, output.splitlines()) if m]
    if found is None or len(windows) != project.window_count:
        raise ToolchainError(
            f"{project.path}: the {build} harness stopped early ({len(windows)} of {project.window_count} "
            f"windows reported):\n{_tail(output)}"
        )
    bad = sum(
        bool(
            m.group(4) is not None
            or int(m.group(2)) != project.expected_classes[int(m.group(1))]
            or int(m.group(3)) != project.expected_checksums[int(m.group(1))]
        )
        for m in windows
    )
    return len(windows), max(bad, int(found.group(1)))


def _symbol_sizes(nm: str, path: Path) -> dict[str, tuple[str, int]]:
    """name -> (type, size) of the sized symbols in an ELF or object file."""
    out = subprocess.run([nm, "-S", "--defined-only", str(path)], capture_output=True, text=True, check=True)
    sizes = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            sizes[parts[3]] = (parts[2], int(parts[1], 16))
    return sizes


def elf_sizes(project: Project) -> ElfSizes:
    """Section sizes of the project's rv32 ELF and the parts of it the cost model estimates."""
    build = project.path / "build" / "rv32"
    elf = build / "harx.elf"
    out = subprocess.run([f"{RV32_PREFIX}size", "-A", str(elf)], capture_output=True, text=True, check=True)
    sections: dict[str, int] = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])

    def total(*names: str) -> int:
        return sum(sections.get(n, 0) for n in names)

    nm = f"{RV32_PREFIX}nm"
    symbols = _symbol_sizes(nm, elf)
    code = 0
    for obj in [build / "network.o", *sorted((build / "kernels").glob("*.o"))]:
        code += sum(size for kind, size in _symbol_sizes(nm, obj).values() if kind in "tT")
    return ElfSizes(
        text_bytes=total(".text"),
        rodata_bytes=total(".rodata", ".srodata"),
        data_bytes=total(".data", ".sdata"),
        bss_bytes=total(".bss", ".sbss"),
        weights_bytes=sum(symbols[n][1] for n in project.weight_symbols),
        buffers_bytes=sum(symbols[n][1] for n in project.buffer_symbols),
        inference_code_bytes=code,
    )


def _instruction_counts(project: Project) -> InstructionCount:
    path = project.path / "build" / "rv32" / "icount.txt"
    totals: list[int] = []
    calls: dict[int, list[int]] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts[0] == "inference":
            totals.append(int(parts[2]))
        elif parts[0] == "call":
            calls.setdefault(int(parts[1]), []).append(int(parts[4]))
    n_layers = len(project.plan.layers)
    if len(totals) != project.window_count or any(
        len(calls.get(i, [])) != n_layers for i in range(len(totals))
    ):
        raise ToolchainError(
            f"{path}: expected {project.window_count} inferences of {n_layers} kernel calls each, found "
            f"{len(totals)} inferences and {sum(map(len, calls.values()))} calls"
        )
    bounds = np.array([[0, *calls[i][1:], total] for i, total in enumerate(totals)], dtype=np.int64)
    return InstructionCount(tuple(totals), tuple(np.diff(bounds, axis=1).mean(axis=0).tolist()))


def build_and_run(project, build: str, timeout_s: float = 600) -> str:
    """Build a generated project (single or adaptive) as ``build`` through its Makefile, run its harness and
    return what the harness printed (rv32: under the counting plugin). Raises ToolchainError when a tool is
    missing, the build fails or the program crashes before its summary line."""
    if build not in BUILDS:
        raise ToolchainError(f"unknown build '{build}': use one of {', '.join(BUILDS)}")
    missing = missing_tools(build)
    if missing:
        raise ToolchainError(
            f"the {build} build needs {', '.join(missing)} on PATH "
            "(Debian: apt-get install make gcc gcc-riscv64-unknown-elf qemu-user)"
        )
    done = _make(project, _MAKE_TARGET[build], timeout_s)
    output = done.stdout
    if build == "rv32":
        capture = project.path / "build" / "rv32" / "count_output.txt"
        output = capture.read_text() if capture.is_file() else ""
    if done.returncode != 0 and _MISMATCH_LINE.search(output) is None:
        raise ToolchainError(
            f"{project.path}: `make {_MAKE_TARGET[build]}` failed (exit {done.returncode}):\n"
            f"{_tail(done.stderr + done.stdout)}"
        )
    return output


def run(project: Project, build: str, timeout_s: float = 600) -> RunResult:
    """Build ``project`` as ``build`` (host, asan or rv32) and run its harness on the test windows.

    rv32 runs under qemu with the instruction-counting plugin and also reports the ELF's sizes.
    Raises ToolchainError when a tool is missing, the build fails or the program crashes.
    """
    output = build_and_run(project, build, timeout_s)
    windows, bad = _compare(project, build, output)
    if build != "rv32":
        return RunResult(build, windows, bad)
    return RunResult(build, windows, bad, _instruction_counts(project), elf_sizes(project))


# ---------------------------------------------------------------------------------------------------------
# Adaptive projects: every window in every checked mode
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeRun:
    """One checked mode of a run: windows, how many stopped after the first stage, mismatched windows (a
    different decision or logit), and on rv32 the exact instructions of each window's inference."""

    mode: int
    windows: int
    exited: int
    mismatched_windows: int
    instructions: tuple[int, ...] = ()
    exited_mask: tuple[bool, ...] = ()

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "windows": self.windows,
            "exited": self.exited,
            "mismatched_windows": self.mismatched_windows,
            "instructions_mean": self.mean_instructions(),
            "instructions_mean_exited": self.mean_instructions(True),
            "instructions_mean_full": self.mean_instructions(False),
        }

    def mean_instructions(self, exited: bool | None = None) -> float | None:
        """Mean instructions per inference over all windows, or only those that stopped early (True) or
        ran both stages (False); None without counts or windows of that kind."""
        if not self.instructions:
            return None
        counts = np.asarray(self.instructions, dtype=np.float64)
        if exited is not None:
            counts = counts[np.asarray(self.exited_mask) == exited]
        return float(counts.mean()) if len(counts) else None


@dataclass(frozen=True)
class AdaptiveRunResult(RunResult):
    """A run of an adaptive project: ``windows`` counts every (mode, window) inference checked, and
    ``modes`` breaks it down per checked mode."""

    modes: tuple[ModeRun, ...] = ()

    def to_json(self) -> dict:
        return {**super().to_json(), "modes": [m.to_json() for m in self.modes]}


def run_adaptive(project: AdaptiveProject, build: str, timeout_s: float = 600) -> AdaptiveRunResult:
    """Build ``project`` as ``build`` (host, asan or rv32) and run its harness in every checked mode;
    rv32 runs under qemu with exact instruction counts per inference and reports the ELF's sizes."""
    output = build_and_run(project, build, timeout_s)
    lines = [m for m in map(_MODE_LINE.fullmatch, output.splitlines()) if m]
    n, check = project.window_count, project.check_modes
    found = _MISMATCH_LINE.search(output)
    if found is None or len(lines) != n * len(check):
        raise ToolchainError(
            f"{project.path}: the {build} harness stopped early ({len(lines)} of {n * len(check)} "
            f"inferences reported):\n{_tail(output)}"
        )
    counts = _adaptive_counts(project) if build == "rv32" else None
    runs, total_bad = [], 0
    for k, mode in enumerate(check):
        bad, exited = 0, []
        for line in lines[k * n : (k + 1) * n]:
            i, flag = int(line.group(2)), line.group(4) == "1"
            exited.append(flag)
            bad += bool(
                line.group(6) is not None
                or int(line.group(1)) != mode
                or flag != bool(project.expected_exits[k][i])
                or int(line.group(3)) != project.expected_classes[k][i]
                or int(line.group(5)) != project.expected_checksums[k][i]
            )
        total_bad += bad
        ins = () if counts is None else tuple(counts[k * n : (k + 1) * n])
        runs.append(ModeRun(mode, n, sum(exited), bad, ins, tuple(exited)))
    bad = max(total_bad, int(found.group(1)))
    if counts is None:
        return AdaptiveRunResult(build, len(lines), bad, modes=tuple(runs))
    ins = InstructionCount(tuple(counts), ())
    return AdaptiveRunResult(build, len(lines), bad, ins, elf_sizes(project), tuple(runs))


def _adaptive_counts(project: AdaptiveProject) -> list[int]:
    path = project.path / "build" / "rv32" / "icount.txt"
    totals = [int(line.split()[2]) for line in path.read_text().splitlines() if line.startswith("inference ")]
    expected = project.window_count * len(project.check_modes)
    if len(totals) != expected:
        raise ToolchainError(f"{path}: expected {expected} inferences, found {len(totals)}")
    return totals
