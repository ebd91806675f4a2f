"""Quantization-aware fine-tuning: fp32 encoder weights that lose less when ONNX Runtime quantizes them.

Static int8 error compounds through the network: quantized from stage 2 on, the 128 px encoder's scores
moved by 0.077 at the 95th percentile (the bound is 0.05), so stages 1-3 stayed float, which costs
0.5 ms a face of the encoder's 1.8 on a 2-core AMD EPYC (training/reports/int8_tuning/). Here a copy of
the fp32 encoder is fine-tuned with the int8 model's rounding simulated, to reproduce the fp32 encoder's
own embeddings (distillation: the fp32 encoder is the teacher and no label is used), and the int8 encoder
is quantized from that copy. The fp32 encoder in the model folder is left as it is: it stays the
reference the parity bound and the threshold are measured against.

The network is run from the fp32 ONNX file itself (`OnnxEncoder`), with its folded convolutions, so
the weights tuned are the ones the quantizer reads and no PyTorch module has to match the export.
The rounding is simulated where the quantizer put it, read off a first quantized copy: per-channel
symmetric int8 weights, and uint8 activations with that copy's scales at every tensor it quantized.
Gradients pass the rounding unchanged (the straight-through estimator).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from edge_model.errors import DfdError
from edge_model.manifest import ENCODER_INPUT, ENCODER_OUTPUT
from edge_model.runner import make_session

OPS = {"Conv", "Clip", "Add", "ReduceMean", "Gemm", "LayerNormalization"}


@dataclass(frozen=True)
class TuningOptions:
    """The defaults took the packaged 128 px model to 6 float convolutions (training/reports/int8_tuning/)."""

    steps: int = 800
    lr: float = 3e-6  # Adam, cosine to 0: higher rates (3e-5) moved the embeddings further than int8 did
    batch: int = 48
    crops: int = 4000  # training split face crops, real and fake, with their mirror images
    seed: int = 0


def _straight_through(x: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
    return x + (rounded - x).detach()


class OnnxEncoder(torch.nn.Module):
    """The fp32 encoder's ONNX graph run in PyTorch, its initializers trainable, with int8 rounding
    simulated where `qdq` (the same graph quantized by onnxruntime, QDQ format) rounds; without it, unrounded."""

    def __init__(self, fp32: Path, qdq: Path | None = None) -> None:
        super().__init__()
        self.graph = onnx.load(str(fp32))
        self.weights = torch.nn.ParameterList()
        self.index: dict[str, int] = {}
        for init in self.graph.graph.initializer:
            self.index[init.name] = len(self.weights)
            self.weights.append(torch.nn.Parameter(torch.from_numpy(numpy_helper.to_array(init).copy())))
        self.constants: dict[str, torch.Tensor] = {}
        self.nodes: list[tuple[str, list[str], str, dict]] = []
        for n in self.graph.graph.node:
            if n.op_type == "Constant":
                self.constants[n.output[0]] = torch.from_numpy(numpy_helper.to_array(n.attribute[0].t).copy())
            elif n.op_type in OPS:
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
                self.nodes.append((n.op_type, list(n.input), n.output[0], attrs))
            else:
                raise DfdError(f"int8 tuning runs the encoders `dfd export` writes; {fp32} has a {n.op_type} node")
        self.activations, self.int8_weights = _rounding_points(qdq) if qdq else ({}, set())

    def weight(self, name: str) -> torch.Tensor:
        w = self.weights[self.index[name]]
        if name not in self.int8_weights:
            return w
        scale = w.detach().abs().amax(dim=tuple(range(1, w.dim())), keepdim=True).clamp_min(1e-12) / 127
        return _straight_through(w, torch.clamp(torch.round(w / scale), -127, 127) * scale)

    def rounded(self, name: str, y: torch.Tensor) -> torch.Tensor:
        """Activation `name` through its uint8 quantization, where the quantizer put one."""
        if name not in self.activations:
            return y
        scale, zero = self.activations[name]
        return _straight_through(y, (torch.clamp(torch.round(y / scale) + zero, 0, 255) - zero) * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {ENCODER_INPUT: self.rounded(ENCODER_INPUT, x), **self.constants}

        def get(name: str) -> torch.Tensor:
            return env[name] if name in env else self.weight(name)

        for op, inputs, output, a in self.nodes:
            args = [get(name) for name in inputs]
            if op == "Conv":
                top, left, bottom, right = a.get("pads", [0, 0, 0, 0])
                y = F.conv2d(F.pad(args[0], (left, right, top, bottom)), args[1], args[2] if len(args) > 2 else None,
                             stride=a.get("strides", 1), groups=a.get("group", 1))
            elif op == "Clip":
                y = torch.clamp(args[0], float(args[1].detach()), float(args[2].detach()))
            elif op == "Add":
                y = args[0] + args[1]
            elif op == "ReduceMean":
                y = args[0].mean(dim=a["axes"], keepdim=bool(a.get("keepdims", 1)))
            elif op == "Gemm":
                y = F.linear(args[0], args[1] if a.get("transB") else args[1].T, args[2])
            else:  # LayerNormalization over the last axis
                y = F.layer_norm(args[0], args[0].shape[-1:], args[1], args[2], a.get("epsilon", 1e-5))
            env[output] = self.rounded(output, y)
        return env[ENCODER_OUTPUT]

    def save(self, path: Path) -> None:
        """The graph with the tuned weights: an fp32 encoder for the quantizer."""
        tuned = copy.deepcopy(self.graph)
        for init in tuned.graph.initializer:
            init.CopyFrom(numpy_helper.from_array(self.weights[self.index[init.name]].detach().numpy(), init.name))
        onnx.save(tuned, str(path))


def _rounding_points(qdq: Path) -> tuple[dict[str, tuple[float, int]], set[str]]:
    """From a QDQ graph: each quantized activation's (scale, zero point), and the weights quantized."""
    graph = onnx.load(str(qdq)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    activations = {
        n.input[0]: (float(inits[n.input[1]]), int(inits[n.input[2]]))
        for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits
    }
    weights = {
        n.input[0].removesuffix("_quantized") for n in graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].dtype == np.int8
    }
    return activations, weights


def _embed(encoder: OnnxEncoder, crops: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """Embeddings without gradients, a chunk at a time: the graph's every activation is held until its end."""
    with torch.no_grad():
        return torch.cat([encoder(crops[i:i + chunk]) for i in range(0, len(crops), chunk)])


def tune_for_int8(fp32: Path, qdq: Path, crops: np.ndarray, out: Path, opts: TuningOptions,
                  log: Callable[[str], object] = print) -> dict:
    """Fine-tune `fp32` on normalized NCHW `crops` so that its int8 copy stays near the fp32 encoder; writes the
    tuned fp32 graph to `out`. Returns the simulated int8's relative embedding error before and after, on the
    last eighth of the crops, which training does not see."""
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    held = max(1, len(crops) // 8)
    train, check = crops[:-held], torch.from_numpy(crops[-held:])
    teacher = make_session(fp32, threads=torch.get_num_threads())  # the fp32 encoder's embeddings, as run
    mirrored = np.ascontiguousarray(train[..., ::-1])

    def targets(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.concatenate([teacher.run(None, {ENCODER_INPUT: x[i:i + 64]})[0]
                                                for i in range(0, len(x), 64)]))

    inputs = (torch.from_numpy(train), torch.from_numpy(mirrored))  # a face, and its mirror image
    wanted = (targets(train), targets(mirrored))
    check_target = targets(crops[-held:])
    student = OnnxEncoder(fp32, qdq)

    def error() -> float:
        return float(torch.linalg.norm(_embed(student, check) - check_target) / torch.linalg.norm(check_target))

    before = error()
    opt = torch.optim.Adam(student.parameters(), lr=opts.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, opts.steps)
    for step in range(1, opts.steps + 1):
        side = int(rng.integers(2))
        idx = torch.from_numpy(rng.choice(len(train), min(opts.batch, len(train)), replace=False))
        loss = F.mse_loss(student(inputs[side][idx]), wanted[side][idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if step % 100 == 0 or step == opts.steps:
            log(f"int8 tuning step {step}/{opts.steps}: loss {loss.item():.5f}")
    student.save(out)
    return {"steps": opts.steps, "lr": opts.lr, "batch": opts.batch, "crops": len(train),
            "simulated_rel_error": {"before": before, "after": error()}}
