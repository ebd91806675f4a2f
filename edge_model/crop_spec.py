"""The crop contract's numbers (size, margin, alignment, normalization), as model.json stores them.

Apart from edge_model.crop, which makes the crops with OpenCV, so that reading
a model's manifest (the supervisor does, for the model's id and threshold)
never loads OpenCV.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class CropSpec:
    """How a crop is made; stored in model.json so the run time reads it from the model."""

    size: int = 112
    margin: float = 1.2  # side of the square = margin * the longer side of the face box (training/reports/crop_margin.md)
    align: bool = True  # rotate so that the eyes are level
    mean: tuple[float, float, float] = field(default=(0.5, 0.5, 0.5))
    std: tuple[float, float, float] = field(default=(0.5, 0.5, 0.5))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CropSpec:
        return cls(
            size=int(d["size"]),
            margin=float(d["margin"]),
            align=bool(d["align"]),
            mean=tuple(float(x) for x in d["mean"]),
            std=tuple(float(x) for x in d["std"]),
        )
