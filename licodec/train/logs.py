"""Reading a run's validation log back: a run folder's ``val.csv`` or an exported model's card.

The trainer writes one row per validation step and level (``step, level, lambda, bpp, psnr``)
to ``OUT/val.csv`` and keeps the same rows in the model card of every export
(``card["validation"]``), so trajectories can be compared after the run folder is gone.
"""
from __future__ import annotations

import csv
from pathlib import Path


def validation_rows(source: str | Path) -> list[dict]:
    """The validation rows of a run folder (``val.csv``), a model file or an installed model's name.

    Raises FileNotFoundError when ``source`` is none of them.
    """
    if (Path(source) / "val.csv").is_file():
        with open(Path(source) / "val.csv", newline="") as f:
            return list(csv.DictReader(f))
    from ..codec import zoo
    from ..models.io import read_card

    path = Path(source) if Path(source).is_file() else zoo.installed().get(str(source))
    if path is None:
        raise FileNotFoundError(f"{source}: neither a run folder with val.csv, a model file nor an installed model")
    return read_card(path).get("validation", [])


def by_step(rows: list[dict]) -> dict[int, tuple[list[float], list[float]]]:
    """{step: (bpp per level, PSNR per level)}, levels in order (rows as written, CSV strings or numbers)."""
    out: dict[int, tuple[list[float], list[float]]] = {}
    for r in sorted(rows, key=lambda r: (int(float(r["step"])), int(float(r["level"] or 0)))):
        bpp, psnr = out.setdefault(int(float(r["step"])), ([], []))
        bpp.append(float(r["bpp"]))
        psnr.append(float(r["psnr"]))
    return out
