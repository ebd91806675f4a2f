"""Which nodes of an encoder stay float in the int8 export: everything the first int8 Conv's input depends on."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_model.errors import DfdError
from training.onnx_export import float_part


def _chain() -> helper.GraphProto:
    """x -> pad -> conv0 -> clip -> conv1 -> add(conv1, clip) -> conv2; the pad's sizes come from x's shape
    (as the tracer writes SAME padding), and a node after conv2 feeds no conv."""
    w = numpy_helper.from_array(np.ones((4, 4, 1, 1), np.float32), "w")
    w0 = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w0")
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Pad", ["x", "shape"], ["padded"], name="pad"),
        helper.make_node("Conv", ["padded", "w0"], ["c0"], name="conv0"),
        helper.make_node("Clip", ["c0"], ["r0"], name="clip"),
        helper.make_node("Conv", ["r0", "w"], ["c1"], name="conv1"),
        helper.make_node("Add", ["c1", "r0"], ["sum"], name="add"),
        helper.make_node("Conv", ["sum", "w"], ["c2"], name="conv2"),
        helper.make_node("Relu", ["c2"], ["y"], name="after"),
    ]
    return helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, w0])


def test_the_float_part_is_what_feeds_the_first_int8_conv():
    graph = _chain()
    assert float_part(graph, 0) == []
    assert set(float_part(graph, 1)) == {"shape", "pad", "conv0", "clip"}
    assert set(float_part(graph, 2)) == {"shape", "pad", "conv0", "clip", "conv1", "add"}


def test_a_float_part_past_the_last_conv_is_refused():
    with pytest.raises(DfdError, match=r"--float-convs must be in \[0, 2\] for this encoder, not 3"):
        float_part(_chain(), 3)
