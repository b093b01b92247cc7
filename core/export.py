"""ONNX export, one way for every family: traced, written atomically, and checked with onnxruntime.

`export_module` traces a network on an example input and writes the file through `core.files.atomic_path`;
then onnxruntime (CPU) runs the written file on a *probe* of another shape than the traced one (so the
dynamic axes are really dynamic) and its output is compared with PyTorch's. Above `TOLERANCE` the export is
refused with a `UserError` and no file is left. A family's `export_onnx(model, out)` only loads its model
and builds the two inputs; `OnnxExportJob` runs one as a job.

Torch and onnxruntime are imported inside the functions: the window imports this module at start-up, and
it must not pay for them.
"""

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError
from core.files import atomic_path
from core.jobs import JobContext
from core.safety import OutputType, check_output

if TYPE_CHECKING:
    from torch import Tensor, nn

ONNX_MODEL = OutputType("an ONNX model", frozenset({".onnx"}), "a name ending in .onnx")
OPSET = 17
# The largest max abs difference between onnxruntime's output and PyTorch's that an export may have, one
# for every family: both outputs lie in [0, 1] (pictures, probabilities). Measured on the CPU (torch 2.14,
# onnxruntime 1.32, opset 17), on each family's probe and on other shapes: fast style network untrained
# 2.0e-6, trained 30 steps 5.3e-6, every weight x3 1.6e-5; classifier (softmax of a sharpened head)
# scratch CompactResNet 1.2e-7, EfficientNet-Lite0 with its ImageNet weights at 224 / 160 / 28 px grey
# 3.0e-7 / 1.6e-6 / 1.3e-6. 1e-3 is 60 x the worst of them, room for other CPUs' kernels, and still a
# quarter of one 8-bit step of a pixel (3.9e-3); a broken export (a shape frozen into the trace, an op
# that means something else in ONNX) differs by 0.1 or more.
TOLERANCE = 1e-3


def export_module(
    net: "nn.Module",
    out: str | Path,
    *,
    example: "Tensor",
    probe: "Tensor",
    input_name: str,
    output_name: str,
    dynamic_axes: Mapping[int, str],
    metadata: Mapping[str, str] | None = None,
) -> float:
    """Write `net` to `out` as ONNX (opset `OPSET`), traced on `example`, with `dynamic_axes` ({axis:
    name}, the same for the input and the output) and `metadata` in the file's metadata_props. Returns the
    max abs difference between onnxruntime and PyTorch on `probe`, which must differ in shape from
    `example`; above `TOLERANCE`, a UserError and no file."""
    import torch

    if probe.shape == example.shape:
        raise ValueError(
            f"the probe must have another shape than the traced example, not {tuple(probe.shape)}"
        )
    net.eval()
    axes = dict(dynamic_axes)
    with atomic_path(out) as tmp:
        with warnings.catch_warnings():
            # The TorchScript exporter (the torch.export one needs onnxscript) warns that it is deprecated,
            # and that instance norm exports in "training" mode: which it is, statistics of each input.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net,
                (example,),
                str(tmp),
                dynamo=False,
                opset_version=OPSET,
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes={input_name: axes, output_name: axes},
            )
        if metadata:
            import onnx

            exported = onnx.load(str(tmp))
            for key, value in metadata.items():
                entry = exported.metadata_props.add()
                entry.key, entry.value = key, value
            onnx.save(exported, str(tmp))
        difference = onnx_difference(net, tmp, probe, input_name)
        if difference > TOLERANCE:
            raise UserError(f"The ONNX export differs from the model by {difference:.2g}: not saved.")
    return difference


def onnx_difference(net: "nn.Module", onnx_file: Path, probe: "Tensor", input_name: str) -> float:
    """The max abs difference between `net(probe)` in PyTorch and the ONNX file run by onnxruntime (CPU)."""
    import onnxruntime  # here: it takes a while to import and only exports need it
    import torch

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = net(probe)
    (got,) = session.run(None, {input_name: probe.numpy()})
    return float((torch.from_numpy(got) - expected).abs().max())


class OnnxExportJob:
    """An ONNX export as a job, so a window stays responsive while it traces and checks (seconds).
    `export(model, out)` writes the file and returns how far onnxruntime's output is from PyTorch's."""

    title = "Export to ONNX"

    def __init__(self, export: Callable[[Path, Path], float], model: Path, out: Path) -> None:
        self.export, self.model, self.out = export, Path(model), Path(out)

    def run(self, ctx: JobContext) -> Path:
        check_output(self.out, [self.model], ONNX_MODEL)
        ctx.progress(0, 1, stage="Exporting, then checking with onnxruntime")
        difference = self.export(self.model, self.out)
        ctx.message(f"Exported {self.out.name}: onnxruntime agrees with PyTorch to {difference:.1e}.")
        ctx.progress(1, 1, stage="Exported")
        return self.out
