"""The one-way layers: no package module imports what its layer must not see.

Every import of every module in ``ecgnas/`` counts, the lazy ones inside functions too
(read with ``ast``, nothing is imported). A failure lists each violation as
``module: imports X (rule)``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ecgnas"

#: (importer prefix, forbidden import prefixes, rule); "only:" rules list what is allowed
SEARCH_FORBIDS = (
    "ecgnas.benchmarks", "ecgnas.train", "ecgnas.data", "ecgnas.classifier", "ecgnas.final",
    "ecgnas.tune", "ecgnas.export", "ecgnas.calibration", "ecgnas.ecg_search", "ecgnas.cli",
    "ecgnas.ecg_costs", "ecgnas.ecg_front",
)  # fmt: skip
FORBIDDEN: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("ecgnas.search", SEARCH_FORBIDS, "the search engine knows no benchmark, data or model"),
    ("ecgnas.predictor", ("ecgnas.data", "ecgnas.train"), "predictors know no ECG data"),
)
#: (importer prefix, allowed ecgnas prefixes, rule)
ONLY: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("ecgnas.spaces", ("ecgnas.spaces", "ecgnas.errors"), "spaces import only errors"),
)
#: the CLI is imported by itself and the ``python -m ecgnas`` entry point only
CLI_IMPORTERS = ("ecgnas.cli", "ecgnas.__main__")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def imports_of(path: Path) -> Iterator[str]:
    """Every ``ecgnas`` module ``path`` imports, anywhere in the file (``from A import b``
    counts as ``A.b``, so ``from ecgnas import cli`` is ``ecgnas.cli``)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for target in sorted(set(imports_of(path))):
            if not _within(target, "ecgnas"):
                continue
            for importer, forbidden, rule in FORBIDDEN:
                hit = next((f for f in forbidden if _within(target, f)), None)
                if _within(module, importer) and hit:
                    found.append(f"{module}: imports {target} ({importer} -/-> {hit}: {rule})")
            for importer, allowed, rule in ONLY:
                if _within(module, importer) and not any(_within(target, a) for a in allowed):
                    found.append(f"{module}: imports {target} ({rule})")
            if _within(target, "ecgnas.cli") and not any(_within(module, m) for m in CLI_IMPORTERS):
                found.append(f"{module}: imports {target} (nothing but ecgnas.cli imports the CLI)")
    return found


def test_reader_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    import ecgnas.spaces.registry as registry

    targets = set(imports_of(Path(registry.__file__)))
    assert "ecgnas.errors.ConfigError" in targets and "importlib" in targets
    lazy = set(imports_of(PACKAGE / "search" / "baselines.py"))
    assert "ecgnas.predictor.variants.make_predictor" in lazy  # inside named_predictor


def test_layers_are_one_way() -> None:
    found = violations()
    assert not found, "layer violations:\n" + "\n".join(found)
