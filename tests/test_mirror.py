"""``tests/`` mirrors ``ecgnas/``: every package module with logic has a test module of the
same name in the same place (``ecgnas/a/b.py`` -> ``tests/a/test_b.py``; private modules
drop the underscore: ``ecgnas/a/_c.py`` -> ``tests/a/test_c.py``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ecgnas"
TESTS = ROOT / "tests"

#: modules without a mirrored test module, and why (paths relative to ``ecgnas/``)
EXEMPT = {
    "predictor/base.py": "only the Predictor protocol and its type aliases",
    "cli/benchmark.py": "tested through the CLI: tests/cli/test_cli_choices.py, test_common.py,"
    " tests/benchmarks/test_predictor_bench.py, tests/test_readme_commands.py",
    "cli/benchmark_search.py": "tested through the CLI: tests/cli/test_cli_choices.py,"
    " tests/test_readme_commands.py",
    "cli/classifier.py": "tested through the CLI: tests/classifier/*, tests/test_readme_commands.py",
    "cli/worker.py": "tested through the CLI: tests/search/distributed/test_worker.py",
}


#: modules with logic still waiting for their own test module, and where they are exercised
#: today; each is a to-do (the test below fails once one gets its module: then drop it here)
PENDING = {
    "classifier/final.py": "through tests/classifier/test_cv.py and tests/classifier/conftest.py",
    "data/summary.py": "through `ecgnas data info` (tests/cli/test_data.py)",
    "predictor/encoder.py": "through tests/predictor/test_store.py, test_finetune.py",
    "predictor/pretrain.py": "through tests/predictor/test_store.py, test_finetune.py",
    "train/ecg_data.py": "through the mitbih evaluator (tests/test_ecg_search.py)",
    "train/ecg_evaluator.py": "through tests/test_ecg_search.py",
}


def mirrored(module: Path) -> Path:
    """``tests/<folder>/test_<name>.py`` of package module ``module``."""
    rel = module.relative_to(PACKAGE)
    return TESTS / rel.parent / f"test_{rel.stem.lstrip('_')}.py"


def untested() -> list[str]:
    out = []
    for module in sorted(PACKAGE.rglob("*.py")):
        rel = module.relative_to(PACKAGE).as_posix()
        if module.name in ("__init__.py", "__main__.py") or rel in EXEMPT or rel in PENDING:
            continue
        if not mirrored(module).is_file():
            out.append(f"ecgnas/{rel} -> {mirrored(module).relative_to(ROOT)}")
    return out


def test_mirrored_path_of_a_private_and_a_top_level_module() -> None:
    assert mirrored(PACKAGE / "search" / "distributed" / "_storage.py") == (
        TESTS / "search" / "distributed" / "test_storage.py"
    )
    assert mirrored(PACKAGE / "paths.py") == TESTS / "test_paths.py"


def test_every_module_with_logic_has_a_mirrored_test_module() -> None:
    missing = untested()
    assert not missing, "package modules without a mirrored test module:\n" + "\n".join(missing)


def test_exemptions_name_existing_modules_that_still_lack_a_test() -> None:
    listed = [*EXEMPT, *PENDING]
    stale = [rel for rel in listed if not (PACKAGE / rel).is_file()]
    assert not stale, f"exempt modules that no longer exist: {stale}"
    tested = [rel for rel in listed if mirrored(PACKAGE / rel).is_file()]
    assert not tested, f"exempt modules that now have a test module (drop them): {tested}"
