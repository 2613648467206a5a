"""The classifier bundle: a directory holding a model's weights, contract and model card.

* ``model.safetensors``: the weights (``safetensors.torch.save_file``). They are only ever
  read with ``safetensors.torch.load_file``, never ``torch.load``/pickle.
* ``contract.json``: everything needed to rebuild the model and reproduce its inputs (see
  ``CONTRACT_KEYS``): format name and version, arch, model settings, preprocessing
  (``PreprocessConfig.to_json()``, lead, sampling rate, beat window, RR features), class
  names, temperature, metrics (labelled DS1-validation and DS2-test), training settings,
  package versions, and ``weights_sha256``, the SHA-256 of ``model.safetensors``.
* ``MODEL_CARD.md``: intended use, data, protocol, results, limitations.

**Writing.** ``save_bundle`` and ``ship_bundle`` build the new bundle in a temporary
directory beside the target and then swap it into place (``_publish_dir``): on Linux one
``renameat2(RENAME_EXCHANGE)`` call exchanges the two directories, so the target is at every
moment the whole old bundle or the whole new one; elsewhere the old bundle is moved aside
and the new one moved in (two renames; the old one is put back when the second fails).
A crash before the swap leaves the old bundle untouched. A directory that is not a bundle
is never replaced (``ConfigError``).

**Reading.** ``read_contract`` validates the contract (format and version, required keys
and their types, preprocessing, arch); ``read_weights`` checks the weights' SHA-256 against
the contract *before* parsing them. Anything wrong raises ``DataError`` naming the problem.
``ecgnas.classifier.predict.load_classifier`` builds the model from both.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ecgnas.errors import ConfigError, DataError
from ecgnas.io import atomic_write_json
from ecgnas.spaces.base import Arch

if TYPE_CHECKING:
    import torch

    from ecgnas.data.inputs import InputConfig
    from ecgnas.data.preprocess import PreprocessConfig

FORMAT_NAME: Final = "ecgnas-classifier"
FORMAT_VERSION: Final = 1
WEIGHTS_FILE: Final = "model.safetensors"
CONTRACT_FILE: Final = "contract.json"
CARD_FILE: Final = "MODEL_CARD.md"
BUNDLE_FILES: Final = (WEIGHTS_FILE, CONTRACT_FILE, CARD_FILE)
SHIPPED_BUNDLE: Final = "classifier"
"""Sub-directory of ``ecgnas/assets`` holding the default shipped bundle."""
DEFAULT_BUNDLE: Final = "default"
BUNDLES: Final[dict[str, str]] = {
    DEFAULT_BUNDLE: SHIPPED_BUNDLE,
    "tiny": "classifier_tiny",
}
"""The shipped bundles: name -> sub-directory of ``ecgnas/assets``. ``default`` is the
general classifier (r3); ``tiny`` is the wearable one (at most 5,000 parameters,
``reports/ecg_tiny.md``)."""

CONTRACT_KEYS: Final[dict[str, type | tuple[type, ...]]] = {
    "format": str,
    "format_version": int,
    "name": str,
    "arch": dict,
    "model_settings": dict,
    "preprocessing": dict,
    "class_names": list,
    "temperature": (int, float),
    "metrics": dict,
    "training": dict,
    "versions": dict,
    "weights_sha256": str,
}
"""Required top-level keys of ``contract.json`` and their JSON types."""

PREPROCESSING_KEYS: Final[dict[str, type | tuple[type, ...]]] = {
    "config": dict,
    "digest": str,
    "lead": str,
    "fs": (int, float),
    "window_before": int,
    "window_after": int,
    "rr_features": dict,
}

RR_DEFINITION: Final = (
    "pre-RR, post-RR and local mean RR (local_rr_beats intervals centred on the beat) in "
    "seconds, from the R-peak sequence of the whole recording; then the same three divided "
    "by the recording's mean RR (ecgnas.data.beats.rr_features). First beat: pre-RR = "
    "post-RR; last beat: post-RR = pre-RR."
)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages a bundle depends on (ecgnas, torch, numpy, wfdb, python)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import ecgnas

    out = {"ecgnas": ecgnas.__version__, "python": platform.python_version()}
    for pkg in ("torch", "numpy", "scipy", "wfdb", "safetensors"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def preprocessing_contract(
    config: PreprocessConfig, lead: str = "MLII", *, inputs: InputConfig | None = None
) -> dict[str, Any]:
    """The ``preprocessing`` section of a contract for ``config``; ``inputs`` (the model
    inputs built from the beats, ``ecgnas.data.inputs``) is recorded when it is not the
    default, so a bundle without it reads as before."""
    from ecgnas.data.beats import RR_COLUMNS
    from ecgnas.data.inputs import InputConfig

    extra: dict[str, Any] = {}
    if inputs is not None and inputs != InputConfig():
        extra["inputs"] = {
            "config": inputs.to_json(),
            "rr_columns": list(inputs.rr_columns),
            "channels": inputs.n_channels,
        }
    return {
        **extra,
        "config": config.to_json(),
        "digest": config.digest(),
        "lead": lead,
        "fs": config.fs,
        "window_before": config.window_before,
        "window_after": config.window_after,
        "rr_features": {
            "columns": list(RR_COLUMNS),
            "definition": RR_DEFINITION,
            "local_rr_beats": config.local_rr_beats,
            "normalisation": "the *_ratio columns divide by the recording's mean RR; the "
            "model batch-normalises all six with statistics learned on DS1",
        },
    }


# --- writing --------------------------------------------------------------------------------

_AT_FDCWD: Final = -100
_RENAME_EXCHANGE: Final = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False where the system or the filesystem cannot, so the caller falls back.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no libc symbol (glibc < 2.28, musl)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _publish_dir(tmp: Path, target: Path) -> None:
    """Put the finished directory ``tmp`` at ``target`` (a sibling), replacing it wholly."""
    if not target.exists():
        os.replace(tmp, target)
        return
    if _exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old bundle
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _refuse_foreign(target: Path) -> None:
    """``ConfigError`` when ``target`` exists and is neither a bundle nor an empty directory."""
    if target.exists() and not (target / CONTRACT_FILE).is_file():
        if not target.is_dir() or any(target.iterdir()):
            raise ConfigError(f"{target} exists and is not a classifier bundle; not replacing it")


def _temp_beside(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))


def _share(tmp: Path) -> None:
    # temporary files are private (0600/0700); a bundle is meant to be shared
    for name in BUNDLE_FILES:
        os.chmod(tmp / name, 0o644)
    os.chmod(tmp, 0o755)


def save_bundle(
    path: str | os.PathLike[str],
    state_dict: Mapping[str, torch.Tensor],
    contract: Mapping[str, Any],
    model_card: str,
) -> Path:
    """Write a bundle directory atomically and return its path.

    ``contract`` is completed here with ``format``, ``format_version`` and
    ``weights_sha256``, then validated like ``read_contract`` does (``DataError`` when a
    required key is missing). An existing *bundle* at ``path`` is replaced wholly; an
    existing directory that is not a bundle is refused (``ConfigError``), never deleted.
    """
    from safetensors.torch import save_file

    target = Path(path)
    _refuse_foreign(target)
    tmp = _temp_beside(target)
    try:
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
        full = dict(contract)
        full["format"] = FORMAT_NAME
        full["format_version"] = FORMAT_VERSION
        full["weights_sha256"] = sha256_file(tmp / WEIGHTS_FILE)
        validate_contract(full)
        atomic_write_json(tmp / CONTRACT_FILE, full)
        (tmp / CARD_FILE).write_text(model_card, encoding="utf-8")
        _share(tmp)
        _publish_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def ship_bundle(
    source: str | os.PathLike[str], target: str | os.PathLike[str] | None = None
) -> Path:
    """Copy the bundle at ``source`` over ``target`` (``None``: the shipped bundle) atomically.

    The source is checked first (contract and weights' SHA-256), copied file by file into a
    temporary directory beside ``target``, checked again there, then swapped into place: an
    interruption at any point leaves the old bundle whole. Only the bundle's files
    (``BUNDLE_FILES``) are copied. Raises ``DataError`` for an invalid source and
    ``ConfigError`` for a ``target`` that is not a bundle.
    """
    src = Path(source)
    dest = Path(target) if target is not None else shipped_bundle_path()
    _check_weights(src, read_contract(src))
    _refuse_foreign(dest)
    tmp = _temp_beside(dest)
    try:
        for name in BUNDLE_FILES:
            shutil.copyfile(src / name, tmp / name)
        _check_weights(tmp, read_contract(tmp))
        _share(tmp)
        _publish_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


# --- validating and loading -------------------------------------------------------------------


def _type_name(t: type | tuple[type, ...]) -> str:
    types = t if isinstance(t, tuple) else (t,)
    names = {"str": "a string", "int": "an integer", "float": "a number", "dict": "an object"}
    names["list"] = "a list"
    return " or ".join(names.get(x.__name__, x.__name__) for x in types)


def _check_keys(obj: Mapping[str, Any], spec: Mapping[str, Any], where: str) -> None:
    missing = [k for k in spec if k not in obj]
    if missing:
        raise DataError(f"{where}: missing key(s) {', '.join(missing)}")
    for key, want in spec.items():
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, want):
            raise DataError(f"{where}: {key!r} must be {_type_name(want)}")


def validate_contract(contract: object, where: str = CONTRACT_FILE) -> None:
    """Raise ``DataError`` naming the first thing wrong with a contract (see ``CONTRACT_KEYS``)."""
    from ecgnas.data.preprocess import PreprocessConfig
    from ecgnas.spaces.registry import get_space

    if not isinstance(contract, dict):
        raise DataError(f"{where}: not a JSON object")
    if contract.get("format") != FORMAT_NAME:
        raise DataError(
            f"{where}: format is {contract.get('format')!r}, expected {FORMAT_NAME!r} "
            "(not an ecgnas classifier bundle)"
        )
    version = contract.get("format_version")
    if version != FORMAT_VERSION:
        raise DataError(
            f"{where}: unsupported format_version {version!r} (this ecgnas reads "
            f"version {FORMAT_VERSION})"
        )
    _check_keys(contract, CONTRACT_KEYS, where)
    _check_keys(contract["preprocessing"], PREPROCESSING_KEYS, f"{where} preprocessing")
    names = contract["class_names"]
    if len(names) < 2 or not all(isinstance(n, str) and n for n in names):
        raise DataError(f"{where}: class_names must be a list of at least two class letters")
    temperature = float(contract["temperature"])
    if not (math.isfinite(temperature) and temperature > 0):
        raise DataError(f"{where}: temperature must be a positive number, got {temperature}")
    sha = contract["weights_sha256"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise DataError(f"{where}: weights_sha256 is not a SHA-256 hex digest")
    pre = contract["preprocessing"]
    try:
        config = PreprocessConfig.from_json(pre["config"])
    except (ConfigError, TypeError) as exc:
        raise DataError(f"{where}: bad preprocessing config ({exc})") from exc
    if config.digest() != pre["digest"]:
        raise DataError(f"{where}: preprocessing digest does not match its config")
    if (config.fs, config.window_before, config.window_after) != (
        float(pre["fs"]),
        pre["window_before"],
        pre["window_after"],
    ):
        raise DataError(f"{where}: preprocessing fs/window disagree with its config")
    try:
        arch = Arch.from_json(contract["arch"])
        space = get_space(arch.space)
    except (KeyError, ValueError, TypeError, ConfigError) as exc:
        raise DataError(f"{where}: bad arch ({exc})") from exc
    if not space.is_valid(arch):
        raise DataError(f"{where}: arch {arch.key()} is not valid in space {arch.space!r}")
    if contract["model_settings"].get("n_classes") != len(names):
        raise DataError(f"{where}: model_settings.n_classes disagrees with class_names")
    _check_inputs(pre, where)
    _check_ensemble(contract.get("ensemble"), where)


def contract_inputs(contract: dict[str, Any]) -> InputConfig:
    """The ``InputConfig`` a bundle was trained with (the default for bundles without one)."""
    from ecgnas.data.inputs import InputConfig

    section = contract["preprocessing"].get("inputs")
    return InputConfig() if section is None else InputConfig.from_json(section["config"])


def _check_inputs(pre: dict[str, Any], where: str) -> None:
    from ecgnas.data.inputs import InputConfig

    section = pre.get("inputs")
    if section is None:
        return
    try:
        inputs = InputConfig.from_json(section["config"])
    except (ConfigError, TypeError, KeyError) as exc:
        raise DataError(f"{where}: bad inputs config ({exc})") from exc
    if list(section.get("rr_columns", [])) != list(inputs.rr_columns):
        raise DataError(f"{where}: inputs rr_columns disagree with the inputs config")


def _check_ensemble(section: object, where: str) -> None:
    if section is None:
        return
    if not isinstance(section, dict):
        raise DataError(f"{where}: ensemble must be an object")
    temps = section.get("temperatures")
    members = section.get("members")
    if not isinstance(temps, list) or not isinstance(members, int) or len(temps) != members:
        raise DataError(f"{where}: ensemble needs members and one temperature per member")
    if members < 1 or not all(isinstance(t, int | float) and t > 0 for t in temps):
        raise DataError(f"{where}: ensemble temperatures must be positive numbers")


def read_contract(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``<bundle>/contract.json`` (``DataError`` when absent or invalid)."""
    bundle = Path(path)
    file = bundle / CONTRACT_FILE
    if not bundle.is_dir():
        raise DataError(f"no classifier bundle at {bundle} (not a directory)")
    if not file.is_file():
        raise DataError(f"{bundle} is not a classifier bundle: no {CONTRACT_FILE}")
    try:
        contract = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{file}: not valid JSON ({exc})") from exc
    validate_contract(contract, str(file))
    return contract


def shipped_bundle_path(name: str = DEFAULT_BUNDLE) -> Path:
    """Where the shipped bundle ``name`` (``BUNDLES``) lives inside the package
    (``default``: ``ecgnas/assets/classifier``). ``ConfigError`` for an unknown name."""
    try:
        folder = BUNDLES[name]
    except KeyError:
        raise ConfigError(
            f"unknown bundle {name!r} (shipped bundles: {', '.join(BUNDLES)}; "
            "or give a bundle directory)"
        ) from None
    return Path(__file__).resolve().parents[1] / "assets" / folder


def resolve_bundle(spec: str | os.PathLike[str] | None = None) -> Path:
    """The bundle directory ``spec`` names: ``None`` is the default shipped bundle; a ``str``
    without a path separator that is a shipped bundle's name (``BUNDLES``: ``default``,
    ``tiny``) is that bundle (the name wins over a same-named directory; write ``./tiny``
    for the directory); any other ``str`` or path is a directory. A bare word that is neither
    a name nor an existing path raises ``ConfigError`` listing the names."""
    if spec is None:
        return shipped_bundle_path()
    if isinstance(spec, str) and "/" not in spec and os.sep not in spec:
        if spec in BUNDLES:
            return shipped_bundle_path(spec)
        if not Path(spec).exists():
            shipped_bundle_path(spec)  # raises: an unknown name
    return Path(spec)


def _check_weights(bundle: Path, contract: Mapping[str, Any]) -> Path:
    """The weights file, after checking it exists and its SHA-256 is the contract's."""
    weights = bundle / WEIGHTS_FILE
    if not weights.is_file():
        raise DataError(f"{bundle}: missing {WEIGHTS_FILE}")
    actual = sha256_file(weights)
    if actual != contract["weights_sha256"]:
        raise DataError(
            f"{weights}: SHA-256 {actual[:12]}... does not match the contract's "
            f"{contract['weights_sha256'][:12]}... (corrupt or replaced weights)"
        )
    return weights


def read_weights(
    bundle: str | os.PathLike[str], contract: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """The weights of a bundle whose contract was read (``read_contract``), on the CPU.

    Order of checks: file present, SHA-256 equal to ``weights_sha256``, safetensors parse.
    Any failure raises ``DataError``; nothing is unpickled.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = _check_weights(Path(bundle), contract)
    try:
        return load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataError(f"{weights}: not a readable safetensors file ({exc})") from exc
