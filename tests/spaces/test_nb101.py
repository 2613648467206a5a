"""NB101Space on hand-made cells: validity, pruning, hash, variation, encodings (no data)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.spaces.nb101 import (
    CONV1X1,
    CONV3X3,
    INPUT,
    MAXPOOL3X3,
    OUTPUT,
    NB101Space,
    arch_from_bits,
    bits_to_matrix,
    hash_from_bits,
    matrix_to_bits,
    module_hash,
    prune,
)

I, C1, C3, MP, O = INPUT, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT  # noqa: E741


# Row 0 of nb101.npz (sorted by hash), copied here so the hash is checked without data.
ROW0_BITS, ROW0_OPS, ROW0_HASH = 1394777, (0, 2, 3, 2, 2, 1, 4), "00005c142e6f48ac74fdcf73e3439874"


# The Inception-like cell of the NB101 API docstring (7 vertices, 9 edges).
INCEPTION_MATRIX = (
    (0, 1, 1, 1, 0, 1, 0),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 1, 0, 0),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 0, 0, 0),
)


INCEPTION_OPS = (I, C1, C3, C3, C3, MP, O)


@pytest.fixture(scope="module")
def space() -> NB101Space:
    return NB101Space()


def brute_force_form(arch: Arch) -> tuple:
    """An exact canonical form: the smallest (ops, matrix) over all interior relabellings."""
    n = len(arch.ops)
    m = np.array(arch.matrix)
    best = None
    for perm in itertools.permutations(range(1, n - 1)):
        order = [0, *perm, n - 1]
        form = (tuple(arch.ops[v] for v in order), m[np.ix_(order, order)].tobytes())
        best = form if best is None or form < best else best
    return best


def random_cells(space: NB101Space, n: int, seed: int) -> list[Arch]:
    """Valid cells of 3-7 vertices in which every vertex lies on a path (the benchmark's
    sampler mostly yields small cells after pruning, too few for isomorphism tests)."""
    rng = np.random.default_rng(seed)
    out: list[Arch] = []
    while len(out) < n:
        k = int(rng.integers(3, 8))
        m = np.zeros((k, k), dtype=int)
        for v in range(1, k - 1):
            m[int(rng.integers(0, v)), v] = 1
            m[v, int(rng.integers(v + 1, k))] = 1
        m |= np.triu(rng.random((k, k)) < 0.15, k=1)
        ops = [INPUT, *rng.integers(1, 4, size=k - 2).tolist(), OUTPUT]
        raw = Arch("nb101", tuple(ops), tuple(tuple(r) for r in m.tolist()))
        if space.is_valid(raw):
            out.append(space.pruned(raw))
    return out


@pytest.fixture(scope="module")
def table(nasbench_dir: Path) -> dict[str, np.ndarray]:
    with np.load(nasbench_dir / "nb101.npz") as z:
        return {k: z[k] for k in ("hash", "adj_bits", "ops", "n_vertices")}


@pytest.fixture(scope="module")
def partial(nasbench_dir: Path) -> dict[str, np.ndarray]:
    with np.load(nasbench_dir / "nb101_partial.npz") as z:
        return {k: z[k] for k in z.files}


def in_table(table: dict[str, np.ndarray], hashes: list[str]) -> np.ndarray:
    keys = np.array(hashes, dtype="S32")
    idx = np.minimum(np.searchsorted(table["hash"], keys), len(table["hash"]) - 1)
    return table["hash"][idx] == keys


def test_space_contract(space: NB101Space) -> None:
    assert isinstance(space, SearchSpace)
    assert space.name == "nb101"
    assert space.op_names == ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output")
    assert space.n_node_types == 5
    assert space.path_length == 364 == 1 + 3 + 9 + 27 + 81 + 243
    assert space.size() == 423_624
    with pytest.raises(ConfigError, match="too many to enumerate"):
        space.enumerate()


def test_registry_builds_the_space() -> None:
    from ecgnas.spaces.registry import get_space

    built = get_space("nb101")
    assert isinstance(built, NB101Space)
    assert built.canonical(arch_from_bits(ROW0_BITS, ROW0_OPS, 7)) == ROW0_HASH


def test_hash_of_a_known_table_row(space: NB101Space) -> None:
    arch = arch_from_bits(ROW0_BITS, ROW0_OPS, 7)
    assert hash_from_bits(ROW0_BITS, [*ROW0_OPS], 7) == ROW0_HASH
    assert module_hash(arch.matrix, arch.ops) == ROW0_HASH
    assert space.canonical(arch) == ROW0_HASH
    # the labels follow the benchmark's op list (conv3x3 first): swapping the two conv codes
    # gives another cell and another hash
    swapped = tuple({C1: C3, C3: C1}.get(o, o) for o in arch.ops)
    assert space.canonical(Arch("nb101", swapped, arch.matrix)) != ROW0_HASH


def test_bits_round_trip() -> None:
    assert matrix_to_bits(bits_to_matrix(ROW0_BITS, 7)) == ROW0_BITS
    assert matrix_to_bits(INCEPTION_MATRIX) == matrix_to_bits(
        bits_to_matrix(matrix_to_bits(INCEPTION_MATRIX), 7)
    )
    # bit b is pair b of numpy.triu_indices(7, 1)
    iu = np.triu_indices(7, 1)
    for b in range(21):
        m = bits_to_matrix(1 << b, 7)
        assert m[iu[0][b]][iu[1][b]] == 1 and sum(map(sum, m)) == 1
    with pytest.raises(ConfigError):
        bits_to_matrix(1 << 20, 3)  # edge (5, 6) in a 3-vertex cell


def test_prune_removes_vertices_off_the_paths() -> None:
    # 0->1->4, 0->2 (2 is a dead end), 3->4 (3 is not reachable from the input)
    matrix = (
        (0, 1, 1, 0, 0),
        (0, 0, 0, 0, 1),
        (0, 0, 0, 0, 0),
        (0, 0, 0, 0, 1),
        (0, 0, 0, 0, 0),
    )
    pruned = prune(matrix, (I, C3, C1, MP, O))
    assert pruned == (((0, 1, 0), (0, 0, 1), (0, 0, 0)), (I, C3, O))
    assert prune(((0, 1, 0), (0, 0, 0), (0, 0, 0)), (I, C3, O)) is None  # output unreachable


def test_validity_rules(space: NB101Space) -> None:
    good = space.make(INCEPTION_MATRIX, INCEPTION_OPS)
    assert space.is_valid(good) and good.matrix == INCEPTION_MATRIX
    m = [list(r) for r in INCEPTION_MATRIX]
    bad: dict[str, Arch] = {
        "wrong space": Arch("nb201", good.ops, good.matrix),
        "input not first": Arch("nb101", (C3, *good.ops[1:]), good.matrix),
        "output not last": Arch("nb101", (*good.ops[:-1], C3), good.matrix),
        "interior input op": Arch("nb101", (I, I, *good.ops[2:]), good.matrix),
        "interior output op": Arch("nb101", (I, O, *good.ops[2:]), good.matrix),
        "op out of range": Arch("nb101", (I, 7, *good.ops[2:]), good.matrix),
        "matrix too short": Arch("nb101", good.ops, good.matrix[:-1]),
        "ragged": Arch("nb101", good.ops, (*good.matrix[:-1], (0, 0))),
        "not 0/1": Arch("nb101", good.ops, ((0, 2, 1, 1, 0, 1, 0), *good.matrix[1:])),
        "lower triangle": Arch(
            "nb101", good.ops, tuple(tuple(r) for r in [*m[:6], [0, 0, 0, 0, 0, 1, 0]])
        ),
        "self loop": Arch("nb101", good.ops, ((1, 1, 1, 1, 0, 1, 0), *good.matrix[1:])),
        "disconnected": Arch("nb101", (I, C3, O), ((0, 1, 0), (0, 0, 0), (0, 0, 0))),
        "one vertex": Arch("nb101", (I,), ((0,),)),
        "8 vertices": Arch("nb101", (I, *[C3] * 6, O), tuple((0,) * 8 for _ in range(8))),
    }
    # 10 edges that all stay after pruning
    ten = [list(r) for r in INCEPTION_MATRIX]
    ten[1][4] = 1
    bad["10 edges"] = Arch("nb101", INCEPTION_OPS, tuple(tuple(r) for r in ten))
    for why, arch in bad.items():
        assert not space.is_valid(arch), why
        with pytest.raises(ConfigError):
            space.canonical(arch)


def test_edges_are_counted_after_pruning(space: NB101Space) -> None:
    """As in the benchmark: a spec with 10 edges, 2 of them into a dead-end vertex, is the
    valid 8-edge cell it prunes to."""
    m = [list(r) for r in INCEPTION_MATRIX]
    m[5] = [0] * 7  # vertex 5 (maxpool) loses its output edge: dead end
    m[1][5] = m[2][5] = 1  # ... and gets two more inputs: 10 edges
    raw = Arch("nb101", INCEPTION_OPS, tuple(tuple(r) for r in m))
    assert sum(map(sum, raw.matrix)) == 10
    assert space.is_valid(raw)
    pruned = space.pruned(raw)
    assert len(pruned.ops) == 6 and sum(map(sum, pruned.matrix)) == 7
    assert space.canonical(raw) == space.canonical(pruned) == module_hash(pruned.matrix, pruned.ops)


def test_arch_json_round_trip(space: NB101Space) -> None:
    arch = space.make(INCEPTION_MATRIX, INCEPTION_OPS)
    again = Arch.from_json(json.loads(json.dumps(arch.to_json())))
    assert again == arch and hash(again) == hash(arch)
    assert space.canonical(again) == space.canonical(arch)


def test_isomorphic_relabelling_keeps_hash_and_paths(space: NB101Space) -> None:
    rng = np.random.default_rng(1)
    archs = [a for a in random_cells(space, 600, seed=1) if len(a.ops) >= 5]
    changed = 0
    for arch in archs:
        twin = space.relabel(arch, rng)
        changed += twin != arch
        assert space.canonical(twin) == space.canonical(arch)
        assert np.array_equal(space.path_encoding([twin]), space.path_encoding([arch]))
        assert np.all(np.tril(np.array(twin.matrix)) == 0)
        assert sorted(twin.ops) == sorted(arch.ops) and twin.ops[0] == 0 and twin.ops[-1] == 4
    assert len(archs) > 250 and changed > len(archs) // 4  # many copies really differ


def test_hash_equality_is_graph_isomorphism(space: NB101Space) -> None:
    """Two cells share a hash exactly when a brute-force relabelling makes them equal."""
    rng = np.random.default_rng(3)
    archs = random_cells(space, 600, seed=2) + [space.sample(rng) for _ in range(200)]
    by_hash: dict[str, tuple] = {}
    by_form: dict[tuple, str] = {}
    for a in archs:
        h, form = space.canonical(a), brute_force_form(a)
        assert by_hash.setdefault(h, form) == form
        assert by_form.setdefault(form, h) == h
    assert len(by_hash) > 300


def test_sampling_is_deterministic_valid_and_pruned(space: NB101Space) -> None:
    a = [space.sample(np.random.default_rng(5)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    rng = np.random.default_rng(6)
    sizes = set()
    for _ in range(2000):
        arch = space.sample(rng)
        assert space.is_valid(arch)
        assert prune(arch.matrix, arch.ops) == (arch.matrix, arch.ops)  # stored pruned
        assert sum(map(sum, arch.matrix)) <= 9
        sizes.add(len(arch.ops))
    assert max(sizes) == 7 and min(sizes) <= 4


def test_mutation_always_valid_and_new(space: NB101Space) -> None:
    rng = np.random.default_rng(7)
    arch = space.sample(rng)
    n_flipped = []
    for _ in range(3000):
        child = space.mutate(arch, rng)
        assert space.is_valid(child)
        assert prune(child.matrix, child.ops) == (child.matrix, child.ops)
        assert space.canonical(child) != space.canonical(arch)
        n_flipped.append(len(child.ops))
        arch = child
    assert len(set(n_flipped)) >= 3  # the walk visits cells of several sizes


def test_mutation_rate_controls_step_size() -> None:
    rng = np.random.default_rng(8)
    small, large = NB101Space(mutation_rate=0.5), NB101Space(mutation_rate=3.0)
    parent = small.make(INCEPTION_MATRIX, INCEPTION_OPS)

    def mean_distance(space: NB101Space) -> float:
        p = np.array(parent.matrix)
        d = []
        for _ in range(300):
            c = space.mutate(parent, rng)
            full = np.zeros((7, 7), dtype=int)
            k = len(c.ops)
            idx = [*range(k - 1), 6]
            full[np.ix_(idx, idx)] = c.matrix
            d.append(int((full != p).sum()))
        return float(np.mean(d))

    assert mean_distance(small) < mean_distance(large)
    with pytest.raises(ConfigError):
        NB101Space(mutation_rate=0.0)


def test_crossover_always_valid(space: NB101Space) -> None:
    rng = np.random.default_rng(9)
    parents = [space.sample(rng) for _ in range(200)]
    from_parent = 0
    for k in range(3000):
        a, b = parents[k % 200], parents[(7 * k + 3) % 200]
        child = space.crossover(a, b, rng)
        assert space.is_valid(child)
        assert prune(child.matrix, child.ops) == (child.matrix, child.ops)
        from_parent += space.canonical(child) in (space.canonical(a), space.canonical(b))
    assert from_parent < 1500  # most children are new cells


def test_crossover_of_a_cell_with_itself_is_the_cell(space: NB101Space) -> None:
    rng = np.random.default_rng(10)
    for _ in range(100):
        a = space.sample(rng)
        assert space.canonical(space.crossover(a, a, rng)) == space.canonical(a)


def test_crossover_falls_back_to_a_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    space = NB101Space(crossover_tries=3)
    monkeypatch.setattr(space, "_arch_from_arrays", lambda matrix, ops: None)
    rng = np.random.default_rng(11)
    a = space.make(INCEPTION_MATRIX, INCEPTION_OPS)
    b = space.make(((0, 1, 0), (0, 0, 1), (0, 0, 0)), (I, MP, O))
    seen = {space.crossover(a, b, rng) for _ in range(50)}
    assert seen == {a, b}


def test_variation_rejects_invalid_parents(space: NB101Space) -> None:
    bad = Arch("nb101", (I, C3, O), ((0, 1, 0), (0, 0, 0), (0, 0, 0)))
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError):
        space.mutate(bad, rng)
    with pytest.raises(ConfigError):
        space.crossover(bad, bad, rng)
    with pytest.raises(ConfigError):
        space.to_graph(bad)
    with pytest.raises(ConfigError):
        space.path_encoding([bad])


def test_graph_encoding(space: NB101Space) -> None:
    arch = space.make(INCEPTION_MATRIX, INCEPTION_OPS)
    g = space.to_graph(arch)
    assert g.x.dtype == np.float32 and g.x.shape == (7, 5)
    assert g.edge_index.dtype == np.int64 and g.edge_index.shape == (2, 9)
    assert np.array_equal(g.x.argmax(1), INCEPTION_OPS) and np.all(g.x.sum(1) == 1)
    assert g.x[0, 0] == 1 and g.x[-1, 4] == 1
    assert np.all(g.edge_index[0] < g.edge_index[1])
    rebuilt = np.zeros((7, 7), dtype=int)
    rebuilt[g.edge_index[0], g.edge_index[1]] = 1
    assert np.array_equal(rebuilt, INCEPTION_MATRIX)
    # a direct input -> output cell: 2 nodes, 1 edge
    tiny = space.to_graph(space.make(((0, 1), (0, 0)), (I, O)))
    assert tiny.x.shape == (2, 5) and tiny.edge_index.tolist() == [[0], [1]]


def test_path_template_and_index(space: NB101Space) -> None:
    template = space.path_template()
    assert len(template) == 364 and len(set(template)) == 364
    assert [space.path_index(p) for p in template] == list(range(364))
    assert template[:5] == [(), (C1,), (C3,), (MP,), (C1, C1)]
    assert template[-1] == (MP,) * 5


def test_path_encoding_by_hand(space: NB101Space) -> None:
    # input->output, input->conv3x3->output, input->maxpool->conv1x1->output
    matrix = (
        (0, 1, 1, 0, 1),
        (0, 0, 0, 0, 1),
        (0, 0, 0, 1, 0),
        (0, 0, 0, 0, 1),
        (0, 0, 0, 0, 0),
    )
    arch = space.make(matrix, (I, C3, MP, C1, O))
    assert space.paths(arch) == [(), (C3,), (MP, C1)]
    enc = space.path_encoding([arch, space.make(INCEPTION_MATRIX, INCEPTION_OPS)])
    assert enc.dtype == np.uint8 and enc.shape == (2, 364)
    assert np.flatnonzero(enc[0]).tolist() == [0, 2, 4 + 2 * 3 + 0]
    # inception: 1x1, 3x3, 3x3->3x3, maxpool
    assert np.flatnonzero(enc[1]).tolist() == sorted(
        space.path_index(p) for p in [(C1,), (C3,), (C3, C3), (MP,)]
    )
    assert space.path_encoding([]).shape == (0, 364)


def test_path_encoding_is_deterministic_and_batched(space: NB101Space) -> None:
    rng = np.random.default_rng(12)
    archs = [space.sample(rng) for _ in range(2000)]
    enc = space.path_encoding(archs)
    assert enc.shape == (2000, 364)
    assert np.array_equal(enc, space.path_encoding(archs))
    assert np.array_equal(enc[17:18], space.path_encoding([archs[17]]))
    assert enc.sum(1).min() >= 1  # every cell has a path


def test_longest_path_is_indexed() -> None:
    space = NB101Space()
    chain = tuple(tuple(int(j == i + 1) for j in range(7)) for i in range(7))
    ops = (I, C1, C3, MP, MP, C1, O)
    enc = space.path_encoding([space.make(chain, ops)])
    digits = [0, 1, 2, 2, 0]  # op code - 1
    assert np.flatnonzero(enc[0]).tolist() == [121 + int("".join(map(str, digits)), 3)]


def test_pickled_space_drops_its_cache() -> None:
    import pickle

    space = NB101Space(mutation_rate=2.0)
    arch = arch_from_bits(ROW0_BITS, ROW0_OPS, 7)
    space.canonical(arch)
    assert len(space._hash_cache) == 1
    copy = pickle.loads(pickle.dumps(space))
    assert copy._hash_cache == {} and copy.mutation_rate == 2.0
    assert copy.canonical(arch) == ROW0_HASH


@pytest.mark.realdata
def test_table_has_423624_distinct_sorted_hashes(table: dict[str, np.ndarray]) -> None:
    h = table["hash"]
    assert len(h) == 423_624
    assert bool(np.all(h[:-1] < h[1:]))  # sorted, hence distinct


@pytest.mark.realdata
def test_hash_of_5000_random_rows(table: dict[str, np.ndarray], space: NB101Space) -> None:
    rows = np.random.default_rng(0).choice(len(table["hash"]), size=5000, replace=False)
    for k, r in enumerate(rows.tolist()):
        bits, ops, n = (
            int(table["adj_bits"][r]),
            table["ops"][r].tolist(),
            int(table["n_vertices"][r]),
        )
        expected = table["hash"][r].decode()
        assert hash_from_bits(bits, ops, n) == expected, r
        if k < 1000:  # the Arch path too (pruning, validity)
            arch = arch_from_bits(bits, ops, n)
            assert space.is_valid(arch) and space.pruned(arch) == arch
            assert space.canonical(arch) == expected


@pytest.mark.realdata
def test_the_30_full_records(
    table: dict[str, np.ndarray], partial: dict[str, np.ndarray], space: NB101Space
) -> None:
    full = np.flatnonzero(partial["source"] == 0)
    assert len(full) == 30
    for r in full.tolist():
        arch = arch_from_bits(
            int(partial["adj_bits"][r]), partial["ops"][r].tolist(), int(partial["n_vertices"][r])
        )
        expected = str(partial["hash"][r])
        assert space.canonical(arch) == expected
        row = int(np.searchsorted(table["hash"], expected.encode()))
        assert table["hash"][row].decode() == expected
        assert (
            arch_from_bits(
                int(table["adj_bits"][row]),
                table["ops"][row].tolist(),
                int(table["n_vertices"][row]),
            )
            == arch
        )


@pytest.mark.realdata
def test_naslib_cells_prune_into_the_table(
    table: dict[str, np.ndarray], partial: dict[str, np.ndarray], space: NB101Space
) -> None:
    """The 500 NASLib cells are stored unpruned (7 vertices); pruned and hashed, all are rows."""
    rows = np.flatnonzero(partial["source"] == 1)
    assert len(rows) == 500
    hashes = []
    for r in rows.tolist():
        arch = arch_from_bits(int(partial["adj_bits"][r]), partial["ops"][r].tolist(), 7)
        assert space.is_valid(arch)
        hashes.append(space.canonical(arch))
    assert in_table(table, hashes).all()


@pytest.mark.realdata
def test_relabelled_table_cells_hash_the_same(
    table: dict[str, np.ndarray], space: NB101Space
) -> None:
    rng = np.random.default_rng(1)
    rows = rng.choice(len(table["hash"]), size=500, replace=False)
    changed = 0
    for r in rows.tolist():
        arch = arch_from_bits(
            int(table["adj_bits"][r]), table["ops"][r].tolist(), int(table["n_vertices"][r])
        )
        twin = space.relabel(arch, rng)
        changed += twin != arch
        assert space.canonical(twin) == table["hash"][r].decode()
    assert changed > 100


@pytest.mark.realdata
def test_samples_and_children_are_table_rows(
    table: dict[str, np.ndarray], space: NB101Space
) -> None:
    rng = np.random.default_rng(2)
    samples = [space.sample(rng) for _ in range(3000)]
    # mutation walks from table cells (large ones) and from samples
    starts: list[Arch] = [
        arch_from_bits(
            int(table["adj_bits"][r]), table["ops"][r].tolist(), int(table["n_vertices"][r])
        )
        for r in rng.choice(len(table["hash"]), size=1500, replace=False).tolist()
    ] + samples[:1500]
    children = [space.mutate(a, rng) for a in starts]
    crossed = [space.crossover(starts[k], starts[-1 - k], rng) for k in range(3000)]
    for name, archs in (("sample", samples), ("mutate", children), ("crossover", crossed)):
        assert all(space.is_valid(a) for a in archs), name
        assert in_table(table, [space.canonical(a) for a in archs]).all(), name
