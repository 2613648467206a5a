"""``ecgnas space ...``: inspect search spaces.

``ecgnas space info nb201|nb101|ecg1d|ecgjoint|manual|tiny [--seed N] [--data-dir DIR] [--json]``
prints the space's size, its ops, the widths of both encodings and an example arch with its
parameter count (ecg1d: the network built at the default ``ECGModelConfig``; ecgjoint: the
arch's network on the inputs its macro choices give under recipe r3; manual, tiny:
the baseline CNN with 4 classes and 6 RR features; nb201: ``params_M_c10``
from ``nasbench/nb201.csv.gz``; nb101: ``trainable_params`` from ``nasbench/nb101.npz``; a
missing table prints "unavailable" with the reason).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from ecgnas.cli._common import data_dir_option, one_of
from ecgnas.spaces.registry import SPACE_NAMES

app = typer.Typer(help="Inspect search spaces.", no_args_is_help=True)


@app.command("info")
def info(
    name: str = typer.Argument(..., help=f"Space name, {one_of(SPACE_NAMES)}."),
    seed: int = typer.Option(0, "--seed", help="Seed of the example arch."),
    data_dir: Path | None = data_dir_option(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead."),
) -> None:
    """Size, ops, encoding lengths and an example arch (with its parameter count)."""
    import numpy as np

    from ecgnas.spaces.cell import CellSpace
    from ecgnas.spaces.nb201 import NB201Space
    from ecgnas.spaces.registry import get_space

    space = get_space(name)
    arch = space.sample(np.random.default_rng(seed))
    report: dict[str, Any] = {
        "space": space.name,
        "size": int(space.size()),
        "ops": list(space.op_names),
        "graph_node_features": int(space.n_node_types),
        "path_length": int(space.path_length),
        "seed": seed,
        "example": arch.to_json(),
    }
    if isinstance(space, CellSpace):
        report["graph_note"] = "one node per edge whose op is not 'none', plus input and output"
    if isinstance(space, NB201Space):
        report["example_string"] = space.to_string(arch)
    report.update(_params(space.name, arch, data_dir))

    if as_json:
        typer.echo(json.dumps(report, sort_keys=True))
        return
    rows = [
        ("space", report["space"]),
        ("size", f"{report['size']:,} archs"),
        (f"ops ({len(report['ops'])})", ", ".join(report["ops"])),
        (
            "graph encoding",
            f"{report['graph_node_features']} node features"
            + (f" ({report['graph_note']})" if "graph_note" in report else ""),
        ),
        ("path encoding", f"{report['path_length']} bits"),
        (f"example (seed {seed})", json.dumps(report["example"], sort_keys=True)),
    ]
    if "example_string" in report:
        rows.append(("  string", report["example_string"]))
    if report["params"] is None:
        rows.append(("  params", f"unavailable ({report['params_source']})"))
    else:
        rows.append(("  params", f"{report['params']:,} ({report['params_source']})"))
    if "macs" in report:
        rows.append(("  MACs per beat", f"{report['macs']:,}"))
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"{label + ':':<{width}}{value}" for label, value in rows]
    typer.echo("\n".join(lines))


def _params(space_name: str, arch: Any, data_dir: Path | None) -> dict[str, Any]:
    """``params`` (an int, or None when unavailable) and where it came from."""
    from ecgnas.errors import DataError
    from ecgnas.paths import data_dir as resolve_data_dir

    if space_name == "ecg1d":
        from ecgnas.spaces.ecg1d_model import ECGModelConfig, build_model, count_flops, count_params

        config = ECGModelConfig()
        model = build_model(arch, config, seed=0)
        return {
            "params": count_params(model),
            "params_source": (
                f"network at the default ECGModelConfig: width {config.width}, "
                f"{config.cells_per_stage} cell(s) per stage, {config.n_classes} classes, "
                f"{config.input_len}-sample beats"
            ),
            "macs": count_flops(model),
        }
    if space_name == "ecgjoint":
        return _joint_params(arch)
    if space_name in ("manual", "tiny"):
        from ecgnas.spaces.ecg1d_model import count_params
        from ecgnas.train.models import build_ecg_model

        network = "manual-baseline CNN" if space_name == "manual" else "tiny matched-filter CNN"
        return {
            "params": count_params(build_ecg_model(arch, seed=0)),
            "params_source": f"{network}, 4 classes, 6 RR features",
        }
    if space_name == "nb201":
        from ecgnas.benchmarks.nb201_table import NB201Table

        try:
            table = NB201Table.load(data_dir)
        except DataError as exc:
            return {"params": None, "params_source": str(exc)}
        row = table.row_of(arch)
        params = int(round(table.columns["params_M_c10"][row] * 1e6))
        return {
            "params": params,
            "params_source": "params_M_c10 of nb201.csv.gz, the CIFAR-10 network",
        }
    if space_name == "nb101":
        return _nb101_params(arch, resolve_data_dir(data_dir) / "nasbench" / "nb101.npz")
    return {"params": None, "params_source": "no parameter count for this space"}


def _nb101_params(arch: Any, path: Path) -> dict[str, Any]:
    """Look the arch's NB101 module hash up in ``nb101.npz`` (rows sorted by hash)."""
    import numpy as np

    from ecgnas.spaces.registry import get_space

    if not path.is_file():
        return {"params": None, "params_source": f"{path} not found"}
    key = get_space("nb101").canonical(arch).encode()
    try:
        with np.load(path) as table:
            hashes = table["hash"]
            row = int(np.searchsorted(hashes, key))
            if row >= len(hashes) or hashes[row] != key:
                return {"params": None, "params_source": f"hash {key.decode()} not in {path}"}
            params = int(table["trainable_params"][row])
    except (OSError, KeyError, ValueError) as exc:
        return {"params": None, "params_source": f"cannot read {path}: {exc}"}
    return {"params": params, "params_source": "trainable_params of nb101.npz"}


def _joint_params(arch: Any) -> dict[str, Any]:
    """An ``ecgjoint`` arch's network on the inputs its choices give under recipe r3."""
    from ecgnas.classifier.recipe import model_settings, setup_for
    from ecgnas.classifier.recipes import get_recipe
    from ecgnas.spaces.ecg1d_model import count_flops, count_params
    from ecgnas.spaces.ecgjoint import ECGJointSpace
    from ecgnas.train.models import build_ecg_model

    base, hp = get_recipe("r3")
    setup = setup_for(arch, base)
    settings = model_settings(arch, setup, hp.dropout)
    model = build_ecg_model(arch, settings, seed=0)
    values = ", ".join(f"{k} {v}" for k, v in ECGJointSpace().values(arch).items())
    return {
        "params": count_params(model),
        "params_source": (
            f"the arch's network on recipe r3's inputs ({values}; "
            f"{setup.inputs.n_channels} channel(s) of {setup.preprocess.window} samples, "
            f"{setup.inputs.n_rr} RR/morphology features)"
        ),
        "macs": count_flops(model),
        "macro": ECGJointSpace().values(arch),
    }
