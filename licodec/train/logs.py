"""A run's CSV logs: writing rows, dropping rows past a checkpoint, and reading the
validation log back from a run folder's ``val.csv`` or an exported model's card.

The trainer writes one row per validation step and level (``step, level, lambda, bpp, psnr``)
to ``OUT/val.csv`` and keeps the same rows in the model card of every export
(``card["validation"]``), so trajectories can be compared after the run folder is gone.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..files import atomic_write


def validation_rows(source: str | Path) -> list[dict]:
    """The validation rows of a run folder (``val.csv``), a log file (``.csv``, e.g. a run's
    ``val-ema.csv``), a model file or an installed model's name.

    Raises FileNotFoundError when ``source`` is none of them.
    """
    log = Path(source) if Path(source).suffix == ".csv" else Path(source) / "val.csv"
    if log.is_file():
        with open(log, newline="") as f:
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


def append_csv(path: Path, row: dict) -> None:
    """Append ``row`` to the CSV log at ``path`` (with a header line when the file is new)."""
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def truncate_csv(path: Path, step: int) -> None:
    """Drop the rows of a log whose step is past ``step``."""
    if not path.exists():
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2 or "step" not in rows[0]:
        return
    col = rows[0].index("step")
    keep = [rows[0]] + [r for r in rows[1:] if len(r) > col and r[col].isdigit() and int(r[col]) <= step]
    if len(keep) == len(rows):
        return
    text = io.StringIO(newline="")
    csv.writer(text).writerows(keep)
    atomic_write(path, text.getvalue())
