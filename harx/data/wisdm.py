"""Parser for WISDM v1.1 raw accelerometer text (`WISDM_ar_v1.1_raw.txt` in `WISDM_ar_latest.tar.gz`).

Records are `user,activity,timestamp,x,y,z;`. The official file has known defects that the parser
tolerates and counts: several records on one line, a missing or doubled `;`, a trailing `,`, records with
too few or too many fields or an empty value, and zero timestamps. Such records are skipped; a well-formed
record with an activity outside the six classes is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harx.data.archive import Archive
from harx.data.cache import WindowedData
from harx.data.registry import DatasetSpec
from harx.data.windowing import cut_windows, runs, segment_window_starts
from harx.errors import DataError

_MEMBER = "WISDM_ar_v1.1_raw.txt"


def _records(archive: Archive, member: str, class_ids: dict[str, int]):
    """Well-formed records as arrays, plus counts of what was skipped and why."""
    users, acts, stamps, values = [], [], [], []
    skipped = {"malformed": 0, "zero_timestamp": 0}
    text = archive.read(member).decode("latin-1")
    for line_no, line in enumerate(text.splitlines(), start=1):
        for record in line.split(";"):
            record = record.strip().rstrip(",")
            if not record:
                continue
            fields = record.split(",")
            if len(fields) != 6:
                skipped["malformed"] += 1
                continue
            try:
                user, stamp = int(fields[0]), int(fields[2])
                xyz = (float(fields[3]), float(fields[4]), float(fields[5]))
            except ValueError:
                skipped["malformed"] += 1
                continue
            if not all(np.isfinite(xyz)):
                skipped["malformed"] += 1
                continue
            activity = fields[1].strip()
            if activity not in class_ids:
                raise DataError(
                    f"{archive.label}: member '{member}' line {line_no}: unknown activity {activity!r} "
                    f"(expected one of {', '.join(class_ids)})"
                )
            if stamp == 0:
                skipped["zero_timestamp"] += 1
                continue
            users.append(user)
            acts.append(class_ids[activity])
            stamps.append(stamp)
            values.append(xyz)
    if not users:
        raise DataError(f"{archive.label}: member '{member}' holds no well-formed record")
    return (
        np.array(users, dtype=np.int64),
        np.array(acts, dtype=np.int64),
        np.array(stamps, dtype=np.int64),
        np.array(values, dtype=np.float64),
        skipped,
    )


def parse_wisdm(
    path: Path, spec: DatasetSpec, window: int, step: int | None, *, max_unpacked_bytes: int | None = None
) -> WindowedData:
    """Windows inside each run of one user and activity whose timestamps advance by at most `max_gap_s`."""
    archive = Archive.open(path, _MEMBER, max_unpacked_bytes=max_unpacked_bytes)
    member = archive.find(_MEMBER)
    class_ids = {name: i for i, name in enumerate(spec.class_names)}
    user, act, stamp, xyz, skipped = _records(archive, member, class_ids)
    # A record repeating the previous record's user, activity and timestamp is a duplicate line.
    duplicate = np.zeros(len(user), dtype=bool)
    duplicate[1:] = (user[1:] == user[:-1]) & (act[1:] == act[:-1]) & (stamp[1:] == stamp[:-1])
    skipped["duplicate_timestamp"] = int(duplicate.sum())
    keep = ~duplicate
    user, act, stamp, xyz = user[keep], act[keep], stamp[keep], xyz[keep]
    step_s = np.diff(stamp).astype(np.float64) * spec.extra["timestamp_unit_s"]
    gap = np.zeros(len(user), dtype=bool)
    gap[1:] = (step_s <= 0) | (step_s > spec.extra["max_gap_s"])
    seg_start, seg_end = runs([user, act], breaks=gap)
    starts = segment_window_starts(seg_start, seg_end, window, step)
    if not len(starts):
        raise DataError(f"{archive.label}: no run of one user and activity is {window} samples long")
    subject = user[starts[:, 0]]
    present = set(np.unique(subject).tolist())
    return WindowedData(
        X=cut_windows(xyz, starts[:, 0], window),
        y=act[starts[:, 0]],
        subject=subject,
        class_names=spec.class_names,
        channel_names=spec.channel_names,
        fs_hz=spec.fs_hz,
        test_subjects=tuple(s for s in spec.test_subjects if s in present),
        preprocessing={
            "parser": "wisdm",
            "window": window,
            "step": step,
            "max_gap_s": spec.extra["max_gap_s"],
        },
        report={"records": len(user), "segments": len(seg_start), "skipped_records": skipped},
    )
