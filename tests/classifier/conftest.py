"""Fixtures for the classifier tests: a tiny bundle built without data, one trained on real
DS1 beats in seconds, and the CLI with the classifier commands registered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One torch thread per test: on a shared 2-core machine more threads only contend (a
    tiny training run is several times slower with 2 threads under load)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_contract(arch_text: str = "manual", temperature: float = 1.5) -> tuple[Any, dict]:
    """An untrained model of ``arch_text`` and a contract for it (no DS2 metrics)."""
    from ecgnas.classifier import package_versions, preprocessing_contract
    from ecgnas.data.preprocess import PreprocessConfig
    from ecgnas.train.models import build_ecg_model, default_settings, parse_arch

    arch = parse_arch(arch_text)
    settings = default_settings(arch)
    if arch.space == "ecg1d":
        settings["width"] = 4
    model = build_ecg_model(arch, settings, seed=0).eval()
    contract = {
        "name": "tiny",
        "arch": arch.to_json(),
        "model_settings": settings,
        "preprocessing": preprocessing_contract(PreprocessConfig()),
        "class_names": ["N", "S", "V", "F"],
        "temperature": temperature,
        "metrics": {},
        "training": {"note": "untrained test model"},
        "versions": package_versions(),
    }
    return model, contract


@pytest.fixture
def make_tiny() -> Callable[..., tuple[Any, dict]]:
    """``make_tiny(arch_text="manual", temperature=1.5) -> (model, contract)``."""
    return tiny_contract


@pytest.fixture
def tiny_bundle(tmp_path: Path) -> tuple[Path, Any]:
    """``(bundle_dir, model)``: an untrained manual-baseline bundle written by ``save_bundle``."""
    from ecgnas.classifier import save_bundle

    model, contract = tiny_contract()
    path = save_bundle(tmp_path / "bundle", model.state_dict(), contract, "# card\n")
    return path, model


@pytest.fixture(scope="session")
def trained_fit(real_data_dir: Path, shared_cache_dir: Path) -> Any:
    """The manual baseline trained for one short epoch on DS1 (a few seconds)."""
    import torch

    from ecgnas.classifier.final import fit_final
    from ecgnas.classifier.recipe import Hyperparams, Setup
    from ecgnas.train.models import parse_arch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    setup = Setup(max_majority=2000, min_epochs=1, max_epochs=1)
    hp = Hyperparams(epochs=1, batch_size=256, lr=3e-3, class_weight_power=0.0)
    try:
        return fit_final(
            parse_arch("manual"),
            hp,
            setup,
            seed=0,
            data_dir=real_data_dir,
            cache_dir=shared_cache_dir,
        )
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def trained_bundle(trained_fit: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle of ``trained_fit`` (no DS2 metrics in it: the tests do not need them)."""
    from ecgnas.classifier import save_bundle
    from ecgnas.classifier.final import contract_for

    path = tmp_path_factory.mktemp("trained") / "bundle"
    contract = contract_for(trained_fit, None, "tiny-trained")
    return save_bundle(path, trained_fit.state_dict, contract, "# tiny\n")


@pytest.fixture(scope="session")
def cli() -> Callable[[list[str]], int]:
    """``run(argv) -> exit code`` through ``ecgnas.cli.main`` (the classifier commands are
    registered here until the root app wires them itself)."""
    from ecgnas.cli import app, main
    from ecgnas.cli.classifier import register

    if "predict" not in {c.name for c in app.registered_commands}:
        register(app)

    def run(argv: list[str]) -> int:
        try:
            return main(argv)
        except SystemExit as exc:
            return int(exc.code or 0)

    return run
