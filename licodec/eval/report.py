"""Markdown reports of evaluations: BD-rate tables of a model against the codecs and
reference curves, and the report of a classical sweep. Text in, text out: the command
lines (cli.py) write and print them."""
from __future__ import annotations

import os

from .bdrate import bd_rate, bd_table, bd_versus, format_bd_table, format_bd_versus
from .results import REFERENCE_PAIRS

__all__ = ["model_bd_report", "classical_report"]


def model_bd_report(name: str, ours: dict, classical: dict, refs: dict, shown_refs: dict) -> tuple[str, dict]:
    """(Markdown, JSON rows) of the BD-rates of model curve ``ours[name]`` against this run's
    classical curves and the reference curves, then every curve against BPG 4:4:4."""
    labels = {k: v.get("label", k) for k, v in {**refs, **classical}.items()}
    # this run's classical curves, then the references: measured codecs not run here (BPG, VVC, ...),
    # the paper's own points and CompressAI's re-implementation
    twins = {REFERENCE_PAIRS[k] for k in classical if k in REFERENCE_PAIRS}
    anchors = {**classical, **{k: v for k, v in refs.items() if (k.startswith("measured_") and k not in twins)
                               or k in ("paper_mbt2018", "compressai_mbt2018")}}
    versus = bd_versus(ours[name], anchors)
    md = [f"# {name}: BD-rates", "", format_bd_versus(versus, name, labels=labels), ""]
    if "measured_bpg444" in refs:
        allc = {**ours, **classical, **shown_refs}
        md += ["", format_bd_table(bd_table(allc, "measured_bpg444"), "measured_bpg444",
                                   labels={k: v.get("label", k) for k, v in allc.items()}), ""]
    return "\n".join(md), {"test": name, "versus": versus}


def classical_report(ours: dict, computed: int, refs: dict, anchor: str | None, n_images: int, wall: float, workers: int = 1) -> str:
    """Markdown report of a classical sweep: its curves, their agreement with the measured
    reference curves of the same codecs, and every curve's BD-rate against ``anchor``.
    ValueError for an anchor that is no curve."""
    lines = [f"# Classical codecs on {n_images} images", "", f"Sweep wall time: {wall:.0f} s with {workers} worker process(es) on {os.cpu_count()} CPUs; "
             f"{computed} points computed, the rest from the cache.", ""]
    lines += ["| codec | settings | points | bpp range | PSNR range (dB) |", "|---|---|---|---|---|"]
    for n, c in ours.items():
        settings = str(c.get("codec", "")).split(": ", 1)[-1]
        lines.append(f"| {c['label']} | {settings} | {len(c['bpp'])} | {min(c['bpp']):.3f}–{max(c['bpp']):.3f} "
                     f"| {min(c['psnr']):.2f}–{max(c['psnr']):.2f} |")
    twins = set()
    if refs:
        lines += ["", "## Against the measured reference curves (same codec, same settings)", "",
                  "BD-rate of this run's curve against the reference (0 = identical), and the largest per-point "
                  "differences where both have the same knobs.", "",
                  "| codec | reference | BD-rate PSNR | BD-rate MS-SSIM (dB) | max abs Δbpp | max abs ΔPSNR |",
                  "|---|---|---|---|---|---|"]
        for n, c in ours.items():
            r = refs.get(REFERENCE_PAIRS.get(n, ""))
            if not r:
                continue
            twins.add(r["name"])
            cells = []
            for m in ("psnr", "ms_ssim_db"):
                try:
                    v = bd_rate(r["bpp"], r[m], c["bpp"], c[m])
                    cells.append("0.0000%" if abs(v) < 5e-5 else f"{v:+.4f}%")
                except (ValueError, KeyError):
                    cells.append("n/a")
            if r.get("knob") is not None and list(r["knob"]) == list(c.get("knob") or []):
                db = max(abs(a - b) for a, b in zip(c["bpp"], r["bpp"]))
                dp = max(abs(a - b) for a, b in zip(c["psnr"], r["psnr"]))
                cells += [f"{db:.2g}", f"{dp:.2g} dB"]
            else:
                cells += ["(other knobs)", "(other knobs)"]
            lines.append(f"| {c['label']} | {r['name']} | " + " | ".join(cells) + " |")
    allc = {**ours, **{k: v for k, v in refs.items() if k not in twins and
                       (k.startswith("measured_") or k.startswith("paper_mbt2018") or k == "compressai_mbt2018")}}
    anchor = anchor or ("measured_bpg444" if "measured_bpg444" in allc else next(iter(ours)))
    if anchor not in allc:
        raise ValueError(f"anchor {anchor!r} is not a curve; choose from: {', '.join(allc)}")
    labels = {k: v.get("label", k) for k, v in allc.items()}
    lines += ["", f"## Every curve against {labels[anchor]}", "", format_bd_table(bd_table(allc, anchor), anchor, labels=labels)]
    return "\n".join(lines) + "\n"
