"""Cost objectives of ECG archs for the multi-objective ECG search (``--objectives f1,COST``).

Each cost prices the network an arch would ship as: the one the recipe (``r3`` by default,
the shipped classifier's) builds for it, with the arch's own data choices applied
(``recipe.setup_for``: an ``ecgjoint`` arch's sampling rate, window, channels and RR set)
and ``recipe.model_settings`` (full width: not the narrowed proxy network that search
trains). Lower is better.

* ``params``: trainable parameters (BatchNorm running statistics excluded).
* ``macs``: multiply-accumulates of one beat (``ecg1d_model.count_flops`` on cell networks;
  the same convention, Conv1d and Linear only, counted by ``count_macs`` on the grid
  baselines ``manual`` and ``tiny``).
* ``latency``: milliseconds per beat on this machine's CPU: the untrained network exported to
  ONNX (a temporary file, TorchScript-based exporter, opset 17), run by ONNX Runtime with one
  intra-op and one inter-op thread at batch 1; the median of ``runs`` timed runs after
  ``warmup`` untimed ones. It is a measurement: noisy on a busy machine, and about 0.1-0.5 s
  per arch (export and runs). Needs ``onnx`` and ``onnxruntime`` (``ecgnas[export]``).

``ECGCost(objective)`` is the ``CostFunction`` of one objective (``cost(archs) ->
float64[n]``). It computes each canonical arch once (isomorphic archs build the same
network) and, with ``cache_file``, keeps the values in a JSON file (written atomically
whenever a value is added), so a resumed run reads back the very latencies it searched
with instead of measuring them again.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ecgnas.errors import ConfigError, RunError
from ecgnas.io import atomic_write_json
from ecgnas.spaces.base import Arch, SearchSpace

if TYPE_CHECKING:
    from torch import nn

    from ecgnas.classifier.recipe import Setup

log = logging.getLogger(__name__)

#: the first objective of ``--objectives``: the search signal (macro-F1), maximised
SIGNAL_OBJECTIVE: Final = "f1"


@dataclass(frozen=True)
class CostObjective:
    """One cost objective: its name, unit and a help line."""

    name: str
    unit: str
    help: str


COSTS: Final[dict[str, CostObjective]] = {
    c.name: c
    for c in (
        CostObjective("params", "parameters", "trainable parameters of the recipe's network"),
        CostObjective("latency", "ms", "ONNX Runtime latency, 1 thread, batch 1 (this CPU)"),
        CostObjective("macs", "MACs", "multiply-accumulates per beat"),
    )
}
"""Cost objective name -> its description (the table ``--objectives`` lists)."""

COST_NAMES: Final = tuple(COSTS)


def parse_objectives(text: str) -> tuple[str, ...]:
    """``"f1,params"`` -> ``("f1", "params")``: exactly two, the signal first, then a cost in
    ``COST_NAMES`` (``ConfigError`` in one line otherwise)."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    check_objectives(names)
    return names


def check_objectives(names: Sequence[str]) -> None:
    """``ConfigError`` unless ``names`` is (``"f1"``, one of ``COST_NAMES``)."""
    choices = ", ".join(f"{SIGNAL_OBJECTIVE},{c}" for c in COST_NAMES)
    if len(names) != 2:
        raise ConfigError(
            f"--objectives takes exactly two objectives, got {len(names)} "
            f"({','.join(names) or 'none'}); choose one of: {choices}"
        )
    if names[0] != SIGNAL_OBJECTIVE:
        raise ConfigError(
            f"the first objective must be {SIGNAL_OBJECTIVE} (the search signal), got "
            f"{names[0]!r}; choose one of: {choices}"
        )
    if names[1] not in COSTS:
        raise ConfigError(f"unknown cost objective {names[1]!r}; choose one of: {choices}")


# --- the network an arch ships as -----------------------------------------------------------


def shipped_network(arch: Arch, recipe: str = "r3") -> tuple[nn.Module, Setup]:
    """The untrained network the recipe builds for ``arch`` (eval mode, seed 0) and the
    setup it is built for (``recipe.setup_for``: the arch's data choices applied)."""
    from ecgnas.classifier.recipe import model_factory, model_settings, setup_for
    from ecgnas.classifier.recipes import get_recipe

    base, hp = get_recipe(recipe)
    setup = setup_for(arch, base)
    settings = model_settings(arch, setup, hp.dropout)
    model = model_factory(arch, settings, hp.dropout, seed=0)()
    return model.eval(), setup


def shipped_params(arch: Arch, recipe: str = "r3") -> int:
    """Trainable parameters of the network ``recipe`` builds for ``arch`` (one model, not
    the final ensemble of five)."""
    from ecgnas.spaces.ecg1d_model import count_params

    return count_params(shipped_network(arch, recipe)[0])


def example_inputs(setup: Setup, batch: int = 1) -> tuple[Any, Any]:
    """Seeded ``(beats [batch, C, W], rr [batch, k])`` float32 tensors for ``setup``."""
    import torch

    gen = torch.Generator().manual_seed(0)
    c, w, k = setup.inputs.n_channels, setup.preprocess.window, setup.inputs.n_rr
    return torch.randn(batch, c, w, generator=gen), torch.rand(batch, k, generator=gen) + 0.5


def count_macs(model: nn.Module, setup: Setup) -> int:
    """Multiply-accumulates of one beat through ``model``.

    Cell networks (with a ``config``) go through ``ecg1d_model.count_flops``; any other
    model (the grid baselines) is counted by ``_hooked_macs`` under the same convention.
    """
    if hasattr(model, "config"):
        from ecgnas.spaces.ecg1d_model import count_flops

        return int(count_flops(model))
    return _hooked_macs(model, setup)


def _hooked_macs(model: nn.Module, setup: Setup) -> int:
    """``count_flops``'s convention on any model: each ``Conv1d`` output element costs
    ``in_channels / groups * kernel`` MACs, each ``Linear`` output ``in_features``, a bias one
    more; nothing else counts. Shapes come from one forward pass at batch 1 in eval mode
    (training mode and hooks restored afterwards)."""
    import torch
    from torch import nn

    total = 0

    def hook(module: nn.Module, inputs: tuple[Any, ...], out: torch.Tensor) -> None:
        nonlocal total
        n_out = out.numel() // out.shape[0]
        if isinstance(module, nn.Conv1d):
            per_output = (module.in_channels // module.groups) * module.kernel_size[0]
        else:
            assert isinstance(module, nn.Linear)
            per_output = module.in_features
        total += n_out * per_output + (n_out if module.bias is not None else 0)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv1d | nn.Linear)
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*example_inputs(setup))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total


def onnx_bytes(model: nn.Module, setup: Setup) -> bytes:
    """``model`` exported to ONNX (TorchScript-based exporter, opset 17, batch 1; inputs
    ``beats``, ``rr``, output ``logits``), through a temporary file."""
    import torch

    from ecgnas.classifier.export import ONNX_OPSET

    with tempfile.TemporaryDirectory(prefix="ecgnas-latency-") as tmp:
        path = Path(tmp) / "model.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's deprecation chatter
            torch.onnx.export(
                model.eval(),
                example_inputs(setup),
                str(path),
                dynamo=False,
                input_names=["beats", "rr"],
                output_names=["logits"],
                opset_version=ONNX_OPSET,
            )
        return path.read_bytes()


def measure_latency(model: nn.Module, setup: Setup, *, runs: int = 200, warmup: int = 20) -> float:
    """Median milliseconds of one batch-1 inference of ``model`` under ONNX Runtime on the
    CPU, one intra-op and one inter-op thread, after ``warmup`` untimed runs.

    ``ConfigError`` when ``onnxruntime`` (or ``onnx``) is missing.
    """
    if runs < 1 or warmup < 0:
        raise ConfigError(f"latency needs runs >= 1 and warmup >= 0, got {runs}, {warmup}")
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ConfigError(
            "the latency objective needs onnxruntime: pip install 'ecgnas[export]'"
        ) from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    session = ort.InferenceSession(
        onnx_bytes(model, setup), options, providers=["CPUExecutionProvider"]
    )
    beats, rr = example_inputs(setup)
    # a network whose cells pass nothing on does not read ``beats``: the exporter drops it
    given = {"beats": beats.numpy(), "rr": rr.numpy()}
    feed = {i.name: given[i.name] for i in session.get_inputs()}
    for _ in range(warmup):
        session.run(None, feed)
    times = np.empty(runs, dtype=np.float64)
    for i in range(runs):
        start = time.perf_counter_ns()
        session.run(None, feed)
        times[i] = time.perf_counter_ns() - start
    return float(np.median(times) / 1e6)


# --- the cost function ----------------------------------------------------------------------


class ECGCost:
    """The cost function of one objective (``COST_NAMES``) over ECG archs: ``cost(archs) ->
    float64[n]``, each canonical arch computed once (see the module docstring).

    ``cache_file``: a JSON file of the values (read if present, written on every addition);
    a file made for another objective, recipe or latency protocol is a ``RunError``.
    ``computed`` counts the values computed (not read from the cache) by this object.
    """

    def __init__(
        self,
        objective: str,
        *,
        recipe: str = "r3",
        cache_file: str | Path | None = None,
        runs: int = 200,
        warmup: int = 20,
    ) -> None:
        if objective not in COSTS:
            raise ConfigError(
                f"unknown cost objective {objective!r}; known: {', '.join(COST_NAMES)}"
            )
        self.objective = objective
        self.unit = COSTS[objective].unit
        self.recipe = recipe
        self.runs, self.warmup = runs, warmup
        self.cache_file = Path(cache_file) if cache_file is not None else None
        self.computed = 0
        self._values: dict[str, float] = {}
        self._spaces: dict[str, SearchSpace] = {}
        if self.cache_file is not None and self.cache_file.is_file():
            self._values = self._read(self.cache_file)

    def describe(self) -> dict[str, Any]:
        """What the values mean (also the header of the cache file)."""
        out: dict[str, Any] = {"objective": self.objective, "unit": self.unit}
        out["recipe"] = self.recipe
        if self.objective == "latency":
            out["latency"] = {
                "runtime": "onnxruntime CPUExecutionProvider",
                "threads": 1,
                "batch": 1,
                "statistic": "median",
                "runs": self.runs,
                "warmup": self.warmup,
            }
        return out

    def _read(self, path: Path) -> dict[str, float]:
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            header, values = saved["cost"], saved["values"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RunError(f"{path}: not a readable cost cache ({exc})") from exc
        if header != self.describe():
            raise RunError(f"{path} holds costs {header}, not {self.describe()}")
        return {str(k): float(v) for k, v in values.items()}

    def value(self, arch: Arch) -> float:
        """The cost of one arch (cached by canonical hash)."""
        return float(self([arch])[0])

    def _key(self, arch: Arch) -> str:
        from ecgnas.spaces.registry import get_space

        if arch.space not in self._spaces:
            self._spaces[arch.space] = get_space(arch.space)
        return self._spaces[arch.space].canonical(arch)

    def _compute(self, arch: Arch) -> float:
        if self.objective == "params":
            return float(shipped_params(arch, self.recipe))
        model, setup = shipped_network(arch, self.recipe)
        if self.objective == "macs":
            return float(count_macs(model, setup))
        ms = measure_latency(model, setup, runs=self.runs, warmup=self.warmup)
        log.debug("latency of %s: %.4f ms", arch.key(), ms)
        return ms

    def __call__(self, archs: Sequence[Arch]) -> np.ndarray:
        out = np.empty(len(archs), dtype=np.float64)
        added = False
        for i, arch in enumerate(archs):
            key = self._key(arch)
            if key not in self._values:
                self._values[key] = self._compute(arch)
                self.computed += 1
                added = True
            out[i] = self._values[key]
        if added and self.cache_file is not None:
            atomic_write_json(self.cache_file, {"cost": self.describe(), "values": self._values})
        return out


__all__ = [
    "COSTS",
    "COST_NAMES",
    "SIGNAL_OBJECTIVE",
    "CostObjective",
    "ECGCost",
    "check_objectives",
    "count_macs",
    "measure_latency",
    "parse_objectives",
    "shipped_network",
]
