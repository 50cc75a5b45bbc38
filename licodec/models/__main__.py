"""``python -m licodec.models``: parameter count of every registered model."""
from __future__ import annotations

import argparse

from . import create, names


def parameter_table(sizes: list[tuple[int, int]]) -> str:
    rows = [f"{'model':<22}" + "".join(f"{f'N={n},M={m}':>16}" for n, m in sizes)]
    for name in names():
        counts = [sum(p.numel() for p in create(name, N=n, M=m).parameters()) for n, m in sizes]
        rows.append(f"{name:<22}" + "".join(f"{c:>16,}" for c in counts))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m licodec.models", description=__doc__)
    ap.parse_args(argv)
    print(parameter_table([(192, 192), (192, 320)]))


if __name__ == "__main__":
    main()
