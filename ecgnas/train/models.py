"""One door from an ECG arch to a torch model, whatever space it comes from.

``build_ecg_model(arch, settings, seed)`` builds an ``ecg1d`` cell network (settings:
``ECGModelConfig`` fields; an ``ecgjoint`` arch's network is its cell's, with the width,
depth and stem kernel of its macro choices as the default settings) or one of the hand-designed baselines of a grid space, the
``manual`` CNN of Acharya et al. 2017 or the ``tiny`` matched-filter CNN after Farag 2023
(settings: ``n_classes``, ``n_rr``, ``in_channels``). All take ``forward(beats
[B, in_channels, W], rr [B, n_rr]) -> logits [B, n_classes]``. The classifier bundle stores
``arch.to_json()`` and ``settings`` and rebuilds through this function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch

if TYPE_CHECKING:
    from torch import nn

ECG_SPACES = ("ecg1d", "ecgjoint", "manual", "tiny")

#: the grid-space baselines: space name -> (module, space class, model builder); the
#: builders take ``(arch, n_classes, n_rr, in_channels, *, seed)``
_BASELINES: dict[str, tuple[str, str, str]] = {
    "manual": ("ecgnas.spaces.manual", "ManualSpace", "build_manual_model"),
    "tiny": ("ecgnas.spaces.tiny", "TinySpace", "build_tiny_model"),
}
_BASELINE_SETTINGS = frozenset({"n_classes", "n_rr", "in_channels"})

_LATER_DEFAULTS: dict[str, object] = {
    "in_channels": 1,
    "pool_bins": 1,
    "head_hidden": 0,
    "reduction": "resblock",
}
"""Settings added after the first release, left out of ``default_settings`` at these values."""


def default_settings(
    arch: Arch, n_classes: int = 4, n_rr: int = 6, input_len: int = 256, in_channels: int = 1
) -> dict[str, Any]:
    """The full settings dict for ``arch``'s space with the given head and input sizes.

    Settings added after the first release (``in_channels``, ``pool_bins``, ``head_hidden``,
    ``reduction``) are left out of the dict at their defaults, so such a model's settings read as before
    they existed.
    """
    if arch.space == "ecg1d":
        from ecgnas.spaces.ecg1d_model import ECGModelConfig

        out = ECGModelConfig(
            n_classes=n_classes, n_rr=n_rr, input_len=input_len, in_channels=in_channels
        ).to_json()
    elif arch.space == "ecgjoint":
        from ecgnas.spaces.ecg1d_model import ECGModelConfig
        from ecgnas.spaces.ecgjoint import ECGJointSpace

        net = ECGJointSpace().net_choices(arch)
        out = ECGModelConfig(
            width=net.width,
            cells_per_stage=net.cells_per_stage,
            stem_kernel=net.stem_kernel,
            n_classes=n_classes,
            n_rr=n_rr,
            input_len=input_len,
            in_channels=in_channels,
        ).to_json()
    elif arch.space in _BASELINES:
        out = {"n_classes": n_classes, "n_rr": n_rr, "in_channels": in_channels}
    else:
        raise ConfigError(
            f"space {arch.space!r} has no ECG model; ECG spaces: {', '.join(ECG_SPACES)}"
        )
    for key, default in _LATER_DEFAULTS.items():
        if out.get(key) == default:
            del out[key]
    return out


def build_ecg_model(
    arch: Arch, settings: dict[str, Any] | None = None, *, seed: int | None = None
) -> nn.Module:
    """The torch model of an ECG arch (``ConfigError`` for other spaces or bad settings)."""
    settings = dict(settings) if settings is not None else default_settings(arch)
    if arch.space == "ecg1d":
        from ecgnas.spaces.ecg1d_model import ECGModelConfig, build_model

        return build_model(arch, ECGModelConfig.from_json(settings), seed=seed)
    if arch.space == "ecgjoint":
        from ecgnas.spaces.ecg1d_model import ECGModelConfig, build_model
        from ecgnas.spaces.ecgjoint import ECGJointSpace

        cell = ECGJointSpace().cell(arch)
        return build_model(cell, ECGModelConfig.from_json(settings), seed=seed)
    if arch.space in _BASELINES:
        import importlib

        module, _, builder = _BASELINES[arch.space]
        unknown = sorted(set(settings) - _BASELINE_SETTINGS)
        if unknown:
            raise ConfigError(f"{arch.space} baseline: unknown settings {unknown}")
        model: nn.Module = getattr(importlib.import_module(module), builder)(
            arch, **settings, seed=seed
        )
        return model
    raise ConfigError(f"space {arch.space!r} has no ECG model; ECG spaces: {', '.join(ECG_SPACES)}")


def parse_arch(text: str) -> Arch:
    """An arch from the command line: JSON (``{"space": ..., "ops": [...]}``), a compact key
    (``ecg1d:3,1,0,2,4,1``), or a baseline's name (``manual``, ``tiny``) for its published
    network."""
    import importlib
    import json

    from ecgnas.spaces.registry import get_space

    text = text.strip()
    if text in _BASELINES:
        module, space_class, _ = _BASELINES[text]
        published: Arch = getattr(importlib.import_module(module), space_class)().published()
        return published
    try:
        if text.startswith("{"):
            arch = Arch.from_json(json.loads(text))
        else:
            space_name, _, ops = text.partition(":")
            arch = Arch(space_name, tuple(int(o) for o in ops.split(",")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot parse arch {text!r}: {exc}") from exc
    space = get_space(arch.space)
    if not space.is_valid(arch):
        raise ConfigError(f"not a valid {arch.space} arch: {text!r}")
    return arch
