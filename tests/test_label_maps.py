"""Label-map input encoding shared by pix2pixHD and SPADE: one-hot, the don't-care label, instance boundaries."""
from __future__ import annotations

import pytest
import torch

from i2ikit.nn.label_maps import (
    LabelValueError,
    dontcare_to_channel,
    encode_label_map,
    input_channels,
    instance_edges,
    one_hot_labels,
)


def test_one_hot_puts_a_one_at_each_id() -> None:
    label = torch.tensor([[[[0, 2], [1, 2]]]])
    x = one_hot_labels(label, 3)
    assert x.shape == (1, 3, 2, 2) and x.dtype == torch.float32
    assert torch.equal(x.argmax(1, keepdim=True), label) and torch.equal(x.sum(1), torch.ones(1, 2, 2))
    # Float ids as ToTensor() * 255 gives them are whole numbers too.
    assert torch.equal(one_hot_labels(label.float(), 3), x)


def test_an_id_outside_the_width_names_the_id_and_what_to_set() -> None:
    with pytest.raises(LabelValueError, match=r"cityscapes/a\.png: label id 255 is outside 0\.\.34 .*label_nc.*contain_dontcare_label"):
        one_hot_labels(torch.tensor([[[[3, 255]]]]), 35, where="cityscapes/a.png")
    with pytest.raises(LabelValueError, match="label id -1"):
        one_hot_labels(torch.tensor([[[[-1, 0]]]]), 2)
    with pytest.raises(LabelValueError, match="not whole numbers"):
        one_hot_labels(torch.tensor([[[[0.5]]]]), 2)


def test_spade_sends_dontcare_to_the_extra_channel_pix2pixhd_refuses_it() -> None:
    label = torch.tensor([[[[0, 255], [1, 1]]]])
    assert torch.equal(dontcare_to_channel(label, 2), torch.tensor([[[[0, 2], [1, 1]]]]))
    x = encode_label_map(label, 2, contain_dontcare_label=True)
    assert x.shape == (1, 3, 2, 2) and x[0, 2, 0, 1] == 1 and x[0, 2].sum() == 1
    with pytest.raises(LabelValueError):
        encode_label_map(label, 2)


def test_instance_edges_mark_both_sides_of_each_boundary() -> None:
    inst = torch.tensor([[[[1, 1, 2, 2],
                           [1, 1, 2, 2],
                           [3, 3, 3, 3]]]])
    expected = torch.tensor([[[[0, 1, 1, 0],
                               [1, 1, 1, 1],
                               [1, 1, 1, 1]]]], dtype=torch.float32)
    assert torch.equal(instance_edges(inst), expected)
    assert torch.equal(instance_edges(torch.zeros(2, 1, 3, 3)), torch.zeros(2, 1, 3, 3))


def test_the_encoding_appends_the_boundary_channel_after_the_one_hot() -> None:
    label, inst = torch.randint(0, 35, (2, 1, 8, 16)), torch.randint(0, 4, (2, 1, 8, 16))
    x = encode_label_map(label, 35, instance=inst)
    assert x.shape[1] == input_channels(35, instance=True) == 36  # Cityscapes
    assert torch.equal(x[:, :35], one_hot_labels(label, 35)) and torch.equal(x[:, 35:], instance_edges(inst))
    assert input_channels(150, contain_dontcare_label=True) == 151  # ADE20K
    assert input_channels(182, contain_dontcare_label=True, instance=True) == 184  # COCO-Stuff
