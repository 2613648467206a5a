"""The flow encoder: data-flow levels by hand, one embedding per arch whatever the batch."""

from __future__ import annotations

import pytest
import torch

from ecgnas.errors import ConfigError
from ecgnas.predictor.encoder import ArchTensors, EncoderSettings, build_encoder
from ecgnas.predictor.flow import FlowEncoder, flow_levels
from ecgnas.predictor.pretrain import CLPSettings
from ecgnas.predictor.store import entry_key
from ecgnas.spaces.nb201 import NB201Space


def test_levels_of_a_chain_and_a_dead_node_by_hand() -> None:
    # Nodes: 0 input -> 1 -> 2 -> 4 output, and 3 (no predecessor, feeds the output).
    adj = torch.zeros(1, 5, 5)
    for dst, src in ((1, 0), (2, 1), (4, 2), (4, 3)):
        adj[0, dst, src] = 1.0
    mask = torch.ones(1, 5, dtype=torch.bool)
    fwd, bwd = flow_levels(adj, mask)
    assert fwd.tolist() == [[0, 1, 2, 0, 3]]  # the longest route from a source
    assert bwd.tolist() == [[3, 2, 1, 1, 0]]  # the longest route to the sink


def test_levels_are_zero_on_padding() -> None:
    space = NB201Space()
    archs = [space.make((3, 3, 3, 3, 3, 3)), space.make((0, 0, 0, 1, 0, 0))]
    t = ArchTensors.build(space, archs)
    fwd, bwd = flow_levels(t.adj, t.mask)
    # the full cell: input 0, ops (0,1),(0,2),(0,3) at 1, (1,2),(1,3) at 2, (2,3) at 3, output 4
    assert fwd[0].tolist() == [0, 1, 1, 2, 1, 2, 3, 4]
    assert fwd[1, 3:].tolist() == [0] * 5 and bwd[1, 3:].tolist() == [0] * 5
    assert fwd[1, :3].tolist() == [0, 1, 2]


def test_flow_embedding_does_not_depend_on_the_batch() -> None:
    space = NB201Space()
    archs = space.enumerate()[::997]
    torch.manual_seed(0)
    enc = build_encoder(
        space.n_node_types, EncoderSettings(hidden=16, layers=2, emb_dim=8, kind="flow")
    )
    assert isinstance(enc, FlowEncoder)
    enc.eval()
    with torch.no_grad():
        together = enc(ArchTensors.build(space, archs))
        alone = torch.cat([enc(ArchTensors.build(space, [a])) for a in archs])
    assert together.shape == (len(archs), 8)
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(together[0], together[1])


def test_flow_tells_apart_two_orders_of_the_same_ops() -> None:
    # conv1x1 then conv3x3 on the chain 0->1->2->3 against the reverse order: the same ops,
    # the same node set and mean, only the data flow differs. The flow encoder must tell
    # them apart from the initial weights already.
    space = NB201Space()
    a = space.make((2, 0, 3, 0, 0, 1))
    b = space.make((3, 0, 2, 0, 0, 1))
    torch.manual_seed(0)
    enc = build_encoder(
        space.n_node_types, EncoderSettings(hidden=16, layers=1, emb_dim=8, kind="flow")
    )
    with torch.no_grad():
        out = enc(ArchTensors.build(space, [a, b]))
    assert (out[0] - out[1]).abs().max() > 1e-4


def test_kind_is_checked_and_the_gin_default_keeps_old_keys() -> None:
    with pytest.raises(ConfigError):
        EncoderSettings(kind="transformer")
    default = CLPSettings()
    assert "kind" not in default.to_json()["encoder"]
    assert CLPSettings.from_json(default.to_json()) == default
    flow = CLPSettings(encoder=EncoderSettings(kind="flow", layers=2))
    assert flow.to_json()["encoder"]["kind"] == "flow"
    assert CLPSettings.from_json(flow.to_json()) == flow
    assert entry_key("nb201", flow, 0) != entry_key("nb201", default, 0)
