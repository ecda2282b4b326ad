"""Hardware targets: every constant the cost model uses, loaded and validated from ``targets/<name>.yaml``.

Each YAML file holds ``version``, ``name``, ``description``, ``kernel_model`` (which loop-structure model
of ``harx.cost.latency`` counts its events), ``deploy_targets`` (the ``harx deploy --target`` names whose C
it describes), ``references`` and four groups of constants:
``operating_point`` (``frequency_mhz``), ``power_mw`` (components summed into the active power),
``memories`` (capacity and what each holds) and ``structure`` / ``coefficients`` (the kernel model's
parameters and per-event instruction counts). Every constant is ``{value: ..., source: "..."}``, so
that no number enters the model without saying where it comes from.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harx.errors import ConfigError

TARGETS_DIR = Path(__file__).resolve().parent / "targets"
TARGETS: tuple[str, ...] = tuple(sorted(p.stem for p in TARGETS_DIR.glob("*.yaml")))
# The target a search, a front or a cost table uses when none is named.
DEFAULT_TARGET = "gap8"

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster, same result

# What a memory can hold: the model's read-only arrays ("ro") and its RAM buffers ("ram").
HOLDINGS = ("ro", "ram")
# Kernel sets a target can price (``kernel_sets`` in its YAML): harx's optimized kernels, its reference.
KERNEL_SETS = ("opt", "ref")


@dataclass(frozen=True)
class Memory:
    """One on-chip or off-chip memory of a target and the part of it a model may use."""

    name: str
    size_bytes: int
    reserved_bytes: int
    holds: tuple[str, ...]

    @property
    def available_bytes(self) -> int:
        return self.size_bytes - self.reserved_bytes


@dataclass(frozen=True)
class Target:
    """A hardware target: operating point, power, memories and kernel-model constants (all from YAML)."""

    name: str
    version: int
    description: str
    kernel_model: str
    frequency_mhz: float
    power_mw: dict[str, float]
    memories: tuple[Memory, ...]
    structure: dict[str, float]
    coefficients: dict[str, float]
    path: Path = field(compare=False)
    deploy_targets: tuple[str, ...] = ()
    kernel_sets: tuple[str, ...] = ("ref",)

    @property
    def active_power_mw(self) -> float:
        """Power drawn while a model runs: the sum of the YAML's ``power_mw`` components."""
        return sum(self.power_mw.values())

    def kernel_set(self, kernels: str | None = None) -> str:
        """``kernels`` checked against the sets this target prices; None gives its default (the first)."""
        if kernels is None:
            return self.kernel_sets[0]
        if kernels not in self.kernel_sets:
            raise ConfigError(
                f"target {self.name} has no '{kernels}' kernel set (it prices: {', '.join(self.kernel_sets)})"
            )
        return kernels

    @property
    def cores(self) -> int:
        return int(self.structure["cores"])

    @property
    def alignment_bytes(self) -> int:
        return int(self.structure["alignment_bytes"])

    @property
    def cycles_per_instruction(self) -> float:
        return self.structure["cycles_per_instruction"]

    @property
    def word_bits(self) -> int:
        return int(self.structure["word_bits"])

    @property
    def simd_lanes(self) -> int:
        """8-bit lanes of one SIMD dot-product instruction (1 without SIMD)."""
        return int(self.structure["simd_lanes"])

    @property
    def stages_weights(self) -> bool:
        """True when kernels read weights from a RAM staging buffer filled by DMA before each layer."""
        return self.structure["weight_staging_buffers"] > 0


# Structure keys every kernel model reads (the memory plan needs them too).
COMMON_STRUCTURE = (
    "cores",
    "im2col_pixels_per_core",
    "weight_staging_buffers",
    "alignment_bytes",
    "cycles_per_instruction",
    "word_bits",
    "simd_lanes",
)


def _fail(path: Path, key: str, problem: str) -> ConfigError:
    return ConfigError(f"target file {path}: key '{key}' {problem}")


def _constant(path: Path, key: str, node: object, *, integer: bool = False) -> float:
    """Read one ``{value, source}`` constant; the source must say where the number comes from."""
    if not isinstance(node, dict):
        raise _fail(path, key, "must be a mapping with 'value' and 'source'")
    if "value" not in node:
        raise _fail(path, f"{key}.value", "is missing")
    value = node["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, f"{key}.value", f"must be a number, not {value!r}")
    if value < 0:
        raise _fail(path, f"{key}.value", f"must not be negative, is {value}")
    if integer and value != int(value):
        raise _fail(path, f"{key}.value", f"must be a whole number, is {value}")
    source = node.get("source")
    if not isinstance(source, str) or not source.strip():
        raise _fail(path, f"{key}.source", "is missing or empty: every constant must cite its source")
    return int(value) if integer else float(value)


def _mapping(path: Path, data: dict, key: str) -> dict:
    node = data.get(key)
    if not isinstance(node, dict) or not node:
        raise _fail(path, key, "is missing or not a non-empty mapping")
    return node


def _constants(path: Path, data: dict, key: str) -> dict[str, float]:
    return {name: _constant(path, f"{key}.{name}", node) for name, node in _mapping(path, data, key).items()}


def _memories(path: Path, data: dict) -> tuple[Memory, ...]:
    out = []
    for name, node in _mapping(path, data, "memories").items():
        where = f"memories.{name}"
        if not isinstance(node, dict):
            raise _fail(path, where, "must be a mapping")
        size = _constant(path, f"{where}.size_bytes", node.get("size_bytes"), integer=True)
        reserved = 0
        if "reserved_bytes" in node:
            reserved = _constant(path, f"{where}.reserved_bytes", node["reserved_bytes"], integer=True)
        holds = node.get("holds")
        if not isinstance(holds, list) or not holds or any(h not in HOLDINGS for h in holds):
            raise _fail(path, f"{where}.holds", f"must be a non-empty list drawn from {list(HOLDINGS)}")
        if reserved >= size:
            raise _fail(path, f"{where}.reserved_bytes", f"({reserved}) must be below size_bytes ({size})")
        out.append(Memory(name, int(size), int(reserved), tuple(holds)))
    return tuple(out)


def parse_target(data: object, path: Path) -> Target:
    """Validate a parsed target YAML document; raises ConfigError naming the file and the key."""
    from harx.cost.latency import KERNEL_MODELS  # latency imports Target

    if not isinstance(data, dict):
        raise ConfigError(f"target file {path}: expected a mapping at the top level")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _fail(path, "version", f"must be a positive integer, not {version!r}")
    for key in ("name", "description"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise _fail(path, key, "is missing or not a non-empty string")
    model = data.get("kernel_model")
    if model not in KERNEL_MODELS:
        raise _fail(path, "kernel_model", f"must be one of {sorted(KERNEL_MODELS)}, not {model!r}")
    refs = data.get("references")
    if (
        not isinstance(refs, dict)
        or not refs
        or not all(isinstance(v, str) and v.strip() for v in refs.values())
    ):
        raise _fail(path, "references", "must map short names to non-empty citations")
    op = _constants(path, data, "operating_point")
    if "frequency_mhz" not in op:
        raise _fail(path, "operating_point.frequency_mhz", "is missing")
    frequency = op["frequency_mhz"]
    if frequency <= 0:
        raise _fail(path, "operating_point.frequency_mhz.value", "must be positive")
    structure = _constants(path, data, "structure")
    coefficients = _constants(path, data, "coefficients")
    required_structure, required_coefficients = KERNEL_MODELS[model].required
    for key in (*COMMON_STRUCTURE, *required_structure):
        if key not in structure:
            raise _fail(path, f"structure.{key}", f"is missing (kernel model '{model}' needs it)")
    for key in required_coefficients:
        if key not in coefficients:
            raise _fail(path, f"coefficients.{key}", f"is missing (kernel model '{model}' needs it)")
    deploy = data.get("deploy_targets", [])
    if not isinstance(deploy, list) or not all(isinstance(d, str) and d.strip() for d in deploy):
        raise _fail(path, "deploy_targets", "must be a list of `harx deploy --target` names")
    sets = data.get("kernel_sets", ["ref"])
    if (
        not isinstance(sets, list)
        or not sets
        or any(not isinstance(s, str) or s not in KERNEL_SETS for s in sets)
        or len(set(sets)) != len(sets)
    ):
        raise _fail(path, "kernel_sets", f"must be a list of distinct names drawn from {list(KERNEL_SETS)}")
    if "opt" in sets:
        opt_required = KERNEL_MODELS[model].opt_required
        if not opt_required:
            raise _fail(path, "kernel_sets", f"lists 'opt', which kernel model '{model}' does not price")
        for key in opt_required:
            if key not in coefficients:
                raise _fail(path, f"coefficients.{key}", "is missing (the 'opt' kernel set needs it)")
    for key in ("cores", "im2col_pixels_per_core", "alignment_bytes", "word_bits", "simd_lanes"):
        if structure[key] < 1 or structure[key] != int(structure[key]):
            raise _fail(path, f"structure.{key}.value", "must be a positive whole number")
    return Target(
        name=data["name"],
        version=version,
        description=data["description"].strip(),
        kernel_model=model,
        frequency_mhz=frequency,
        power_mw=_constants(path, data, "power_mw"),
        memories=_memories(path, data),
        structure=structure,
        coefficients=coefficients,
        path=path,
        deploy_targets=tuple(deploy),
        kernel_sets=tuple(sets),
    )


def read_target_file(path: Path) -> Target:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"target file {path}: cannot be read ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"target file {path}: not valid YAML{where}") from None
    return parse_target(data, path)


@functools.cache
def _packaged(name: str) -> Target:
    return read_target_file(TARGETS_DIR / f"{name}.yaml")


def deploy_plan_targets() -> dict[str, str]:
    """``harx deploy --target`` name -> the packaged cost target that plans and prices its C (the YAMLs'
    ``deploy_targets``)."""
    plans: dict[str, str] = {}
    for name in TARGETS:
        for deploy in _packaged(name).deploy_targets:
            plans.setdefault(deploy, name)
    return plans


def load_target(target: str | Path) -> Target:
    """A packaged target by name (one of ``TARGETS``) or a target YAML file by path."""
    if isinstance(target, str) and target in TARGETS:
        return _packaged(target)
    path = Path(target)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return read_target_file(path)
    raise ConfigError(
        f"unknown target '{target}': use one of {', '.join(TARGETS)} or a path to a target YAML file"
    )
