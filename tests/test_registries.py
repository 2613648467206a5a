"""The name tables as a whole: they import nothing heavy, package contracts resolve."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_registries_import_nothing_heavy() -> None:
    code = (
        "import sys; import ecgnas.search.registry, ecgnas.predictor.registry, "
        "ecgnas.spaces.registry; "
        "print(sorted(m for m in ('torch', 'optuna', "
        "'ecgnas.predictor.variants', 'ecgnas.spaces.nb101') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "package", ["ecgnas.predictor", "ecgnas.benchmarks", "ecgnas.spaces", "ecgnas.cli"]
)
def test_package_contract_names_resolve(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_light_packages_stay_light() -> None:
    code = (
        "import sys, ecgnas.predictor, ecgnas.benchmarks; "
        "print([m for m in ('torch', 'ecgnas.search', 'ecgnas.benchmarks.harness') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
