"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020): 5 ops on 6 edges, 15,625 cells.

Op indices follow ``nb201.csv.gz`` (columns ``e0..e5``): 0 none, 1 skip_connect,
2 nor_conv_1x1, 3 nor_conv_3x3, 4 avg_pool_3x3. The official benchmark index of a cell is
not a function of its ops (it is the API's storage order): the table evaluator maps cells to
indices, see ``ecgnas.benchmarks.nb201_table``.
"""

from __future__ import annotations

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch
from ecgnas.spaces.cell import EDGES, CellSpace

NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)


class NB201Space(CellSpace):
    """NAS-Bench-201. ``to_string``/``from_string`` round-trip the official arch strings."""

    def __init__(self) -> None:
        super().__init__("nb201", NB201_OPS)

    def to_string(self, arch: Arch) -> str:
        """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` as in the official API."""
        parts = []
        for node in (1, 2, 3):
            cells = [
                f"{self.op_names[arch.ops[e]]}~{src}"
                for e, (src, dst) in enumerate(EDGES)
                if dst == node
            ]
            parts.append("|" + "|".join(cells) + "|")
        return "+".join(parts)

    def from_string(self, text: str) -> Arch:
        """Parse an official arch string (``ConfigError`` if malformed)."""
        nodes = text.strip().split("+")
        if len(nodes) != 3:
            raise ConfigError(f"not an NB201 arch string: {text!r}")
        by_edge: dict[tuple[int, int], int] = {}
        for node, part in enumerate(nodes, start=1):
            items = [p for p in part.split("|") if p]
            if len(items) != node:
                raise ConfigError(f"not an NB201 arch string: {text!r}")
            for item in items:
                name, _, src = item.partition("~")
                if name not in self.op_names or not src.isdigit():
                    raise ConfigError(f"not an NB201 arch string: {text!r} (bad item {item!r})")
                by_edge[(int(src), node)] = self.op_names.index(name)
        try:
            return Arch(self.name, tuple(by_edge[edge] for edge in EDGES))
        except KeyError as exc:
            raise ConfigError(f"not an NB201 arch string: {text!r} (missing edge)") from exc
