"""Peak memory and time of refusing real-sized archive and `.npz` bombs (docs/datasets.md, "Unpacked size
limit"; issue 18).

Builds the bombs in a temporary folder from deflated zeros (tests/fixtures/bombs.py: each file is a few MB
at most, though it inflates to 1.2-1.5 GB), runs `harx fetch --import FILE` or `harx fetch uci-har --file
FILE --trust-archive` on each in a fresh process, and records the process's exit code, its stderr and its
peak resident memory (`os.wait4`'s ru_maxrss) and wall time. `harx fetch --list` is measured too: what the
interpreter and harx's imports take before any data. Writes bench/results/bad_inputs_memory.{json,md}.

    nice -n 10 python bench/bad_inputs_memory.py [--pythonpath DIR --stem NAME]

`--pythonpath` runs another checkout's harx (e.g. the code before the limit) on the same bombs, `--stem`
names the result files. One more case imports an honest `.npz` whose X is just under the limit: what an
accepted array of that size costs (it is not held to the refusals' bound).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.bombs import deflated, npy_header, npz_fields, stored, write_zip  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PEAK_LIMIT_MB = 500  # the bound on a refusal's peak memory
NPZ_SHAPE = (260_000, 9, 128)  # float32: 1,198,080,000 bytes
ZIP_BYTES = 1_500_000_000
LIE_BYTES = 64 * 1024
LABELS = "UCI HAR Dataset/activity_labels.txt"
MARKER = "UCI HAR Dataset/train/y_train.txt"


@dataclasses.dataclass
class Case:
    name: str
    args: list[str]
    file_bytes: int
    inflates_to_bytes: int
    headers_claim_bytes: int
    exit_code: int = -1
    stderr: str = ""
    peak_rss_mb: float = 0.0
    wall_s: float = 0.0
    expected_exit: int = 3
    bounded: bool = True  # held to PEAK_LIMIT_MB

    @property
    def ok(self) -> bool:
        return self.exit_code == self.expected_exit and (not self.bounded or self.peak_rss_mb < PEAK_LIMIT_MB)


def build(folder: Path) -> list[Case]:
    n_bytes = 4 * NPZ_SHAPE[0] * NPZ_SHAPE[1] * NPZ_SHAPE[2]
    honest_npz = write_zip(
        folder / "honest.npz", [deflated("X.npy", npy_header(NPZ_SHAPE), zeros=n_bytes), *npz_fields()]
    )
    small = (LIE_BYTES // (8 * 128 * 4), 8, 128)
    lying_npz = write_zip(
        folder / "lying.npz",
        [deflated("X.npy", npy_header(small), zeros=n_bytes, claimed_size=128 + LIE_BYTES), *npz_fields()],
    )
    under = (24, 9, (250 << 20) // (24 * 9 * 4))  # 24 windows, as many samples as fit in 250 MiB
    under_bytes = 4 * under[0] * under[1] * under[2]
    under_npz = write_zip(
        folder / "under.npz", [deflated("X.npy", npy_header(under), zeros=under_bytes), *npz_fields()]
    )
    pb_npz = write_zip(folder / "pb.npz", [stored("X.npy", npy_header((10**9, 9, 125_000)) + bytes(64))])
    bomb = deflated(LABELS, zeros=ZIP_BYTES)
    honest_zip = write_zip(folder / "honest.zip", [stored(MARKER, b"1\n"), bomb])
    lying_zip = write_zip(
        folder / "lying.zip", [stored(MARKER, b"1\n"), dataclasses.replace(bomb, claimed_size=LIE_BYTES)]
    )

    def imp(path: Path) -> list[str]:
        return ["fetch", "--import", str(path), "--name", "bomb"]

    def arc(path: Path) -> list[str]:
        return ["fetch", "uci-har", "--file", str(path), "--trust-archive"]

    size = lambda p: p.stat().st_size  # noqa: E731
    return [
        Case("baseline: harx fetch --list (no data)", ["fetch", "--list"], 0, 0, 0, expected_exit=0),
        Case(
            ".npz, honest headers, X inflates to 1.2 GB", imp(honest_npz), size(honest_npz), n_bytes, n_bytes
        ),
        Case(
            ".npz, zip entry and .npy header claim 64 KiB, X inflates to 1.2 GB",
            imp(lying_npz),
            size(lying_npz),
            n_bytes + 128,
            LIE_BYTES + 128,
        ),
        Case(
            ".npz, .npy header claims 4.0 PiB over 64 bytes",
            imp(pb_npz),
            size(pb_npz),
            64,
            4_500_000_000_000_000,
        ),
        Case(
            "zip, honest member inflates to 1.5 GB", arc(honest_zip), size(honest_zip), ZIP_BYTES, ZIP_BYTES
        ),
        Case(
            "zip, central directory claims 64 KiB, member inflates to 1.5 GB",
            arc(lying_zip),
            size(lying_zip),
            ZIP_BYTES,
            LIE_BYTES,
        ),
        Case(
            "accepted: .npz, honest X of 250 MiB (under the limit) imported",
            imp(under_npz),
            size(under_npz),
            under_bytes,
            under_bytes,
            expected_exit=0,
            bounded=False,
        ),
    ]


def measure(case: Case, pythonpath: Path, home: Path, folder: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "HARX_HOME": str(home)}
    env.pop("HARX_MAX_UNPACKED_MIB", None)
    env.pop("HARX_DATA_MIRROR", None)
    err_path = folder / "stderr.txt"
    started = time.perf_counter()
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harx", *case.args],
            env=env,
            cwd=folder,  # not the checkout: `-m` puts the working directory first on sys.path
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    case.wall_s = round(time.perf_counter() - started, 2)
    case.exit_code = os.waitstatus_to_exitcode(status)
    case.peak_rss_mb = round(usage.ru_maxrss / 1024, 1)  # Linux: KiB
    case.stderr = err_path.read_text().strip() or (
        f"(no stderr: killed by signal {-case.exit_code})" if case.exit_code < 0 else ""
    )


def harx_module(pythonpath: Path, folder: Path) -> str:
    """The harx package the cases run (checks that --pythonpath took effect)."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    cmd = [sys.executable, "-c", "import harx; print(harx.__file__)"]
    return subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True, check=True).stdout.strip()


def write(cases: list[Case], module: str, stem: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "harx": module,
        "python": sys.version.split()[0],
        "peak_limit_mb": PEAK_LIMIT_MB,
        "cases": [{**dataclasses.asdict(c), "ok": c.ok} for c in cases],
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# Refusing archive and .npz bombs: peak memory and time",
        "",
        f"`nice -n 10 python bench/bad_inputs_memory.py` (harx: `{module}`), one fresh process per case,",
        "default limit (256 MiB per member or array), on the shared 2-core development machine. Peak RSS is the",
        f"process's `ru_maxrss`; the bound on a refusal is {PEAK_LIMIT_MB} MB (the accepted import is not held to it).",
        "",
        "| case | file | inflates to | headers claim | exit | peak RSS MB | wall s | as expected |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        lines.append(
            f"| {c.name} | {c.file_bytes:,} B | {c.inflates_to_bytes:,} B | {c.headers_claim_bytes:,} B | "
            f"{c.exit_code} | {c.peak_rss_mb:.0f} | {c.wall_s:.2f} | {'yes' if c.ok else 'NO'} |"
        )
    lines += ["", "Messages (stderr):", ""]
    lines += [
        f"- {c.name}: `{c.stderr.splitlines()[-1] if c.stderr else ''}`" for c in cases if c.expected_exit
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pythonpath", type=Path, default=ROOT, help="checkout whose harx runs (default: this)"
    )
    parser.add_argument("--stem", default="bad_inputs_memory", help="result file names under bench/results/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="harx-bombs-") as tmp:
        folder = Path(tmp)
        cases = build(folder)
        module = harx_module(args.pythonpath.resolve(), folder)
        print(f"harx: {module}", flush=True)
        for case in cases:
            measure(case, args.pythonpath.resolve(), folder / "home", folder)
            print(
                f"{case.name}: exit {case.exit_code}, {case.peak_rss_mb:.0f} MB, {case.wall_s:.2f} s",
                flush=True,
            )
    write(cases, module, args.stem)
    return 0 if all(c.ok for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
