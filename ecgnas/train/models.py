"""One door from an ECG arch to a torch model, whatever space it comes from.

``build_ecg_model(arch, settings, seed)`` builds an ``ecg1d`` cell network (settings:
``ECGModelConfig`` fields) or a manual-baseline CNN (settings: ``n_classes``, ``n_rr``). Both
take ``forward(beats [B, 1, W], rr [B, n_rr]) -> logits [B, n_classes]``. The classifier
bundle stores ``arch.to_json()`` and ``settings`` and rebuilds through this function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch

if TYPE_CHECKING:
    from torch import nn

ECG_SPACES = ("ecg1d", "manual")


def default_settings(
    arch: Arch, n_classes: int = 4, n_rr: int = 6, input_len: int = 256, in_channels: int = 1
) -> dict[str, Any]:
    """The full settings dict for ``arch``'s space with the given head and input sizes.

    ``in_channels`` is left out of the dict when it is 1, so a one-channel model's settings
    read as before it existed.
    """
    if arch.space == "ecg1d":
        from ecgnas.spaces.ecg1d_model import ECGModelConfig

        out = ECGModelConfig(
            n_classes=n_classes, n_rr=n_rr, input_len=input_len, in_channels=in_channels
        ).to_json()
    elif arch.space == "manual":
        out = {"n_classes": n_classes, "n_rr": n_rr, "in_channels": in_channels}
    else:
        raise ConfigError(
            f"space {arch.space!r} has no ECG model; ECG spaces: {', '.join(ECG_SPACES)}"
        )
    if in_channels == 1:
        out.pop("in_channels")
    return out


def build_ecg_model(
    arch: Arch, settings: dict[str, Any] | None = None, *, seed: int | None = None
) -> nn.Module:
    """The torch model of an ECG arch (``ConfigError`` for other spaces or bad settings)."""
    settings = dict(settings) if settings is not None else default_settings(arch)
    if arch.space == "ecg1d":
        from ecgnas.spaces.ecg1d_model import ECGModelConfig, build_model

        return build_model(arch, ECGModelConfig.from_json(settings), seed=seed)
    if arch.space == "manual":
        from ecgnas.spaces.manual import build_manual_model

        unknown = sorted(set(settings) - {"n_classes", "n_rr", "in_channels"})
        if unknown:
            raise ConfigError(f"manual baseline: unknown settings {unknown}")
        return build_manual_model(arch, **settings, seed=seed)
    raise ConfigError(f"space {arch.space!r} has no ECG model; ECG spaces: {', '.join(ECG_SPACES)}")


def parse_arch(text: str) -> Arch:
    """An arch from the command line: JSON (``{"space": ..., "ops": [...]}``), a compact key
    (``ecg1d:3,1,0,2,4,1``), or ``manual`` for the published manual-baseline network."""
    import json

    from ecgnas.spaces.registry import get_space

    text = text.strip()
    if text == "manual":
        from ecgnas.spaces.manual import ManualSpace

        return ManualSpace().published()
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
