"""The subjects corpus (tests/corpus/subjects): photos, hand-marked boxes, and the keep score."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "subjects"
# The crop shapes the issue asks about, as width / height: a square avatar and a wide
# 3:1 banner.
SHAPES: dict[str, float] = {"square": 1.0, "3:1": 3.0}
# A crop keeps the subject when at least this share of the subject's box is inside it.
KEEP = 0.9

Box = tuple[float, float, float, float]  # left, top, right, bottom


@dataclass(frozen=True)
class Subject:
    """One photo of the corpus and the box of its subject, in the stored image's pixels."""

    file: str
    box: Box
    description: str

    @property
    def path(self) -> Path:
        return CORPUS / self.file

    def open(self) -> Image.Image:
        image = Image.open(self.path)
        image.load()
        return image


def load_subjects() -> list[Subject]:
    with (CORPUS / "subjects.csv").open(newline="") as handle:
        return [
            Subject(
                row["file"],
                (float(row["left"]), float(row["top"]), float(row["right"]), float(row["bottom"])),
                row["subject"],
            )
            for row in csv.DictReader(handle)
        ]


def kept_share(window: tuple[float, float, float, float], box: Box) -> float:
    """How much of ``box`` (left, top, right, bottom) lies inside ``window`` (l, t, w, h)."""
    left, top, width, height = window
    inside_w = max(0.0, min(box[2], left + width) - max(box[0], left))
    inside_h = max(0.0, min(box[3], top + height) - max(box[1], top))
    return inside_w * inside_h / ((box[2] - box[0]) * (box[3] - box[1]))


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two windows given as (left, top, width, height)."""
    inter_w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


Cropper = Callable[[Subject, Image.Image, float], tuple[float, float, float, float]]


def keep_table(cropper: Cropper) -> dict[str, dict[str, float]]:
    """For every shape and photo, the share of the subject's box ``cropper``'s window keeps."""
    table: dict[str, dict[str, float]] = {shape: {} for shape in SHAPES}
    for subject in load_subjects():
        image = subject.open()
        for shape, aspect in SHAPES.items():
            table[shape][subject.file] = kept_share(cropper(subject, image, aspect), subject.box)
    return table
