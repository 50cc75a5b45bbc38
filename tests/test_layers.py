"""The package's imports go down its layers, never up.

    files, errors, ops, metrics, native -> layers -> entropy -> models -> codec -> eval / train / datasets -> cli

(``licodec/__init__.py`` and ``__main__.py`` are the entry points above them all.) An import
of a module from a higher layer, even a lazy one inside a function, fails this test.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "licodec"
LAYERS = {"files": 0, "errors": 0, "ops": 0, "metrics": 0, "native": 0, "pillow": 6, "layers": 1, "entropy": 2, "models": 3, "codec": 4, "eval": 5, "train": 5, "datasets": 5, "cli": 6}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    package = _module(path) if path.name == "__init__.py" else _module(path).rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            # "from . import x" names submodules: take each as imported
            found |= {f"{name}.{a.name}" for a in node.names} if node.module is None else {name}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {n for n in found if n.startswith("licodec.")}


def _layer(module: str) -> int | None:
    return LAYERS.get(module.split(".")[1]) if module.count(".") >= 1 else None


def test_every_licodec_module_has_a_layer():
    for path in PACKAGE.rglob("*.py"):
        module = _module(path)
        if module in ("licodec", "licodec.__main__"):
            continue
        assert _layer(module) is not None, f"{module}: add its layer to LAYERS"


def test_imports_go_down_the_layers():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module(path)
        own = _layer(module)
        if own is None:
            continue
        for target in _imports(path):
            theirs = _layer(target)
            if theirs is not None and theirs > own:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path):
    bad = tmp_path / "licodec" / "codec" / "x.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    from ..train.checkpoint import save_state\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "licodec"
    try:
        assert _imports(bad) == {"licodec.train.checkpoint"}
        assert _layer("licodec.codec.x") == 4 and _layer("licodec.train.checkpoint") == 5
    finally:
        PACKAGE = saved
