"""Ship an exported model: optional float16 copy, then install it with its Kodak results.

    # 1. (optional) a float16 copy: half the file, and a model of its own (rounded weights,
    #    rebuilt coding tables), so evaluate that copy, not the float32 file
    python tools/ship_model.py half runs/export/mbt2018-vr192.safetensors runs/export16/mbt2018-vr192.safetensors
    # 2. evaluate exactly the file that will ship (real .lic files); --report adds the BD-rates
    LICODEC_MODEL_PATH=runs/export licodec eval ../shared/datasets/kodak --model mbt2018-vr192 \\
        --report --out results/kodak-s4 --classical-dir results/classical-kodak-fresh
    # 3. install into licodec/weights: the card gets the measured Kodak results, the Kodak
    #    trajectory (kodak_history) gains a row, curated fields of the installed card are kept
    python tools/ship_model.py install runs/export/mbt2018-vr192.safetensors --results results/kodak-s4

``install`` refuses results measured on other weights (the eval records the weights'
SHA-256) and copies the tensors byte for byte: only the card changes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WEIGHTS = ROOT / "licodec" / "weights"


def history_entry(card: dict, results: dict, bd: dict | None) -> dict:
    r = results["results"]
    entry = {"steps": card["training"]["steps"], "pixels_seen": card["training"]["pixels_seen"],
             "bpp": [round(v, 3) for v in r["bpp"]], "psnr": [round(v, 2) for v in r["psnr-rgb"]]}
    if "entropy_refinement" in card:  # the same training steps, the entropy side refined (train/refine.py)
        entry["entropy_refinement"] = True
    if bd:
        by = {v["name"]: v["psnr"] for v in bd["versus"]}
        entry["bd_rate_psnr"] = {k: round(by[k], 1) for k in ("jpeg420", "webp", "jpeg2000", "measured_bpg444") if k in by}
    return entry


def merge_card(card: dict, old: dict, results: dict, bd: dict | None, source: str) -> dict:
    """The new card: ``card`` (from the export) + Kodak results + what ``old`` curated."""
    card = dict(card)
    card["kodak"] = {"source": source, "weights_sha256": results.get("weights_sha256"), "results": results["results"]}
    if bd:
        card["kodak"]["bd_rate"] = bd
    # Sessions recorded before the history kept the learning rate get it from the old card.
    old_lr = {(s["start_step"], s["end_step"]): s["lr"] for s in old.get("training", {}).get("sessions", []) if "lr" in s}
    # Sessions recorded before the history kept crop and batch ran with the old card's.
    old_t = old.get("training", {})
    for s in card.get("training", {}).get("sessions", []):
        if "lr" not in s and (s["start_step"], s["end_step"]) in old_lr:
            s["lr"] = old_lr[(s["start_step"], s["end_step"])]
        if "crop" not in s and "crop" in old_t and "batch_per_process" in old_t:
            s["crop"], s["batch"] = old_t["crop"], old_t["batch_per_process"]
    entry = history_entry(card, results, bd)
    key = (entry["steps"], entry.get("entropy_refinement"))  # a refined export keeps its unrefined row
    card["kodak_history"] = [h for h in old.get("kodak_history", []) if (h["steps"], h.get("entropy_refinement")) != key] + [entry]
    for key, value in old.items():
        card.setdefault(key, value)
    for key in ("lr_schedule",):
        if key in old.get("training", {}):
            card["training"].setdefault(key, old["training"][key])
    return card


def write_with_card(src: Path, dst: Path, card: dict) -> None:
    """Copy the model file ``src`` to ``dst`` with a new card (tensors unchanged), and the card to .json."""
    from safetensors.torch import load_file, save

    from licodec.files import atomic_write, read_metadata

    meta = read_metadata(src)
    meta["licodec_card"] = json.dumps(card)
    atomic_write(dst, save(load_file(str(src)), metadata=meta))
    dst.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")


def install(args: argparse.Namespace) -> int:
    from licodec.files import read_metadata
    from licodec.models.io import read_card

    src = Path(args.model)
    name = args.name or src.stem
    results = json.loads((Path(args.results) / f"{name}.json").read_text())
    bd_path = Path(args.results) / f"bd-{name}.json"
    bd = json.loads(bd_path.read_text()) if bd_path.is_file() else None
    sha = read_metadata(src).get("licodec_weights_sha256")
    if results.get("weights_sha256") != sha:
        print(f"ship_model: {results.get('weights_sha256')!r} in the results, {sha!r} in {src}: "
              "evaluate the file you ship", file=sys.stderr)
        return 1
    into = Path(args.into)
    old_path = into / f"{name}.json"
    old = json.loads(old_path.read_text()) if old_path.is_file() else {}
    source = f"licodec eval {results.get('dataset', '')} --model {name}{' --report' if bd else ''} (real .lic files)"
    card = merge_card(read_card(src), old, results, bd, source)
    if args.lr_schedule:
        card["training"]["lr_schedule"] = args.lr_schedule
    if args.status:
        card.setdefault("configuration_choice", {})["status"] = args.status
    for item in args.set or []:
        key, _, value = item.partition("=")
        try:
            card[key] = json.loads(value)
        except json.JSONDecodeError:
            card[key] = value
    write_with_card(src, into / f"{name}.safetensors", card)
    print(json.dumps(card["kodak_history"][-1]))
    return 0


def half(args: argparse.Namespace) -> int:
    from licodec.train.export import halve_model_file

    out = halve_model_file(args.src, args.dst)
    print(f"{args.src}: {os.path.getsize(args.src):,} bytes -> {out}: {os.path.getsize(out):,} bytes")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("half", help="write a float16 copy of an exported model (evaluate it before shipping)")
    h.add_argument("src")
    h.add_argument("dst")
    h.set_defaults(fn=half)
    i = sub.add_parser("install", help="install a model with its evaluated Kodak results in its card")
    i.add_argument("model", help="the exported model file that was evaluated")
    i.add_argument("--results", required=True, help="licodec eval --out folder (NAME.json, bd-NAME.json)")
    i.add_argument("--name", help="installed name (default: the file's stem)")
    i.add_argument("--into", default=str(WEIGHTS), help="model folder (default licodec/weights)")
    i.add_argument("--lr-schedule", help="text for training.lr_schedule")
    i.add_argument("--status", help="text for configuration_choice.status")
    i.add_argument("--set", action="append", metavar="KEY=VALUE", help="a top-level card field (VALUE: JSON or text)")
    i.set_defaults(fn=install)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
