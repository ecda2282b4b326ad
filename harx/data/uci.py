"""Parsers for the two UCI smartphone archives: UCI-HAR (id 240) windows and UCI-HAPT (id 341) raw streams."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from harx.data.archive import Archive
from harx.data.cache import WindowedData
from harx.data.registry import DatasetSpec
from harx.data.windowing import cut_windows, segment_window_starts
from harx.errors import DataError

_HAR_MARKER = "train/y_train.txt"
_HAPT_MARKER = "RawData/labels.txt"


def _activity_labels(archive: Archive, name: str) -> dict[int, str]:
    """`id NAME` lines of an activity_labels.txt member (names may be padded with spaces)."""
    labels = {}
    for number, line in enumerate(archive.read(name).decode("latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        match = re.fullmatch(r"\s*(\d+)\s+(\S+)\s*", line)
        if match is None:
            raise DataError(
                f"{archive.label}: member '{name}' line {number} is not 'id NAME': {line.strip()!r}"
            )
        labels[int(match.group(1))] = match.group(2)
    return labels


def _class_names(archive: Archive, member: str, n_classes: int) -> tuple[str, ...]:
    labels = _activity_labels(archive, member)
    missing = [i for i in range(1, n_classes + 1) if i not in labels]
    if missing:
        raise DataError(f"{archive.label}: member '{member}' lacks activity id {missing[0]}")
    return tuple(labels[i] for i in range(1, n_classes + 1))


def parse_uci_har(
    path: Path, spec: DatasetSpec, window: int, step: int | None, *, max_unpacked_bytes: int | None = None
) -> WindowedData:
    """`UCI HAR Dataset/{train,test}/Inertial Signals/*` windows with the official subject split."""
    archive = Archive.open(path, _HAR_MARKER, max_unpacked_bytes=max_unpacked_bytes)
    root = archive.find(_HAR_MARKER)[: -len(_HAR_MARKER)]
    class_names = _class_names(archive, root + "activity_labels.txt", spec.n_classes)
    parts = {}
    for split in ("train", "test"):
        y = archive.read_table(f"{root}{split}/y_{split}.txt", np.int64, 1)[:, 0]
        subject = archive.read_table(f"{root}{split}/subject_{split}.txt", np.int64, 1)[:, 0]
        if len(subject) != len(y):
            raise DataError(
                f"{archive.label}: member '{root}{split}/subject_{split}.txt' has {len(subject)} rows, "
                f"y_{split}.txt has {len(y)}"
            )
        channels = []
        for channel in spec.channel_names:
            member = f"{root}{split}/Inertial Signals/{channel}_{split}.txt"
            table = archive.read_table(member, np.float32, window)
            if len(table) != len(y):
                raise DataError(
                    f"{archive.label}: member '{member}' has {len(table)} windows, y_{split}.txt has {len(y)}"
                )
            channels.append(table)
        parts[split] = (np.stack(channels, axis=1), y, subject)
    X = np.concatenate([parts["train"][0], parts["test"][0]])
    y = np.concatenate([parts["train"][1], parts["test"][1]])
    subject = np.concatenate([parts["train"][2], parts["test"][2]])
    if y.min() < 1 or y.max() > spec.n_classes:
        raise DataError(
            f"{archive.label}: activity ids outside 1..{spec.n_classes} in y_train.txt/y_test.txt"
        )
    test_subjects = np.unique(parts["test"][2])
    if np.intersect1d(test_subjects, parts["train"][2]).size:
        raise DataError(f"{archive.label}: subject_train.txt and subject_test.txt share subjects")
    return WindowedData(
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=y - 1,
        subject=subject,
        class_names=class_names,
        channel_names=spec.channel_names,
        fs_hz=spec.fs_hz,
        test_subjects=tuple(int(s) for s in test_subjects),
        preprocessing={"parser": "uci-har", "window": window, "split": "official"},
        report={"train_windows": len(parts["train"][1]), "test_windows": len(parts["test"][1])},
    )


def parse_uci_hapt(
    path: Path, spec: DatasetSpec, window: int, step: int | None, *, max_unpacked_bytes: int | None = None
) -> WindowedData:
    """`RawData/` 50 Hz streams cut into windows inside each labels.txt segment (0-based, end inclusive)."""
    archive = Archive.open(path, _HAPT_MARKER, max_unpacked_bytes=max_unpacked_bytes)
    labels_member = archive.find(_HAPT_MARKER)
    root = labels_member[: -len(_HAPT_MARKER)]
    n_classes = int(spec.options["classes"])
    class_names = _class_names(archive, root + "activity_labels.txt", n_classes)
    labels = archive.read_table(labels_member, np.int64, 5)
    if not len(labels):
        raise DataError(f"{archive.label}: member '{labels_member}' has no segments")
    windows, ys, subjects = [], [], []
    for exp in np.unique(labels[:, 0]):
        rows = labels[labels[:, 0] == exp]
        users = np.unique(rows[:, 1])
        if len(users) != 1:
            raise DataError(f"{archive.label}: member '{labels_member}' gives experiment {exp} several users")
        user = int(users[0])
        streams = [
            archive.read_table(f"{root}RawData/{sensor}_exp{exp:02d}_user{user:02d}.txt", np.float64, 3)
            for sensor in ("acc", "gyro")
        ]
        n_samples = min(len(s) for s in streams)
        rows = rows[(rows[:, 2] >= 1) & (rows[:, 2] <= n_classes)]
        if len(rows) and (
            rows[:, 3].min() < 0 or rows[:, 4].max() >= n_samples or (rows[:, 4] < rows[:, 3]).any()
        ):
            raise DataError(
                f"{archive.label}: member '{labels_member}' has a segment of experiment {exp} outside its "
                f"{n_samples} samples"
            )
        starts = segment_window_starts(rows[:, 3], rows[:, 4], window, step)
        signal = np.hstack([s[:n_samples] for s in streams])
        windows.append(cut_windows(signal, starts[:, 0], window))
        ys.append(rows[starts[:, 1], 2] - 1)
        subjects.append(np.full(len(starts), user, dtype=np.int64))
    subject = np.concatenate(subjects)
    present = set(np.unique(subject).tolist())
    return WindowedData(
        X=np.concatenate(windows),
        y=np.concatenate(ys).astype(np.int64),
        subject=subject,
        class_names=class_names,
        channel_names=spec.channel_names,
        fs_hz=spec.fs_hz,
        test_subjects=tuple(s for s in spec.test_subjects if s in present),
        preprocessing={"parser": "uci-hapt", "classes": n_classes, "window": window, "step": step},
        report={"segments": len(labels), "experiments": len(np.unique(labels[:, 0]))},
    )
