"""Write small model files with the frameworks' own save functions, for the tests that prove
the scanner reads every format as its current writer writes it and raises no alarm on it.

Run it in a separate environment that has the frameworks (they are not mlstix dependencies):

    python3 -m venv /work/fixture-venv-b
    /work/fixture-venv-b/bin/pip install torch keras onnx h5py safetensors numpy gguf
    KERAS_BACKEND=torch /work/fixture-venv-b/bin/python tests/scan_models/real/make_frameworks.py

It writes ``frameworks/*`` and ``frameworks/VERSIONS.json`` (the library versions that made
them). Nothing here is ever loaded by the tests; they only scan the bytes.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

OUT = Path(__file__).resolve().parent / "frameworks"


def _torch(out: Path) -> dict[str, str]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    torch.save(model.state_dict(), out / "torch_state_dict.pt")
    torch.save({"epoch": 3, "model": model.state_dict(), "lr": 0.1}, out / "torch_checkpoint.pth")
    torch.save(model.state_dict(), out / "torch_legacy.pt", _use_new_zipfile_serialization=False)
    scripted = torch.jit.script(model)
    torch.jit.save(scripted, out / "torchscript.pt")
    exported = torch.export.export(model, (torch.zeros(1, 4),))
    torch.export.save(exported, out / "torch_export.pt2")
    return {"torch": torch.__version__}


def _keras(out: Path) -> dict[str, str]:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)]
    )
    model.save(out / "keras_model.keras")
    model.save(out / "keras_legacy.h5")
    model.save_weights(out / "keras_weights.weights.h5")
    return {"keras": keras.__version__, "keras_backend": keras.backend.backend()}


def _onnx(out: Path) -> dict[str, str]:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [weight],
    )
    model = helper.make_model(graph, producer_name="mlstix-fixture")
    onnx.save(model, out / "onnx_model.onnx")
    onnx.save_model(
        model,
        out / "onnx_external.onnx",
        save_as_external_data=True,
        location="onnx_external.data",
        size_threshold=0,
    )
    return {"onnx": onnx.__version__}


def _safetensors(out: Path) -> dict[str, str]:
    import numpy as np
    import safetensors
    from safetensors.numpy import save_file

    save_file(
        {"w": np.ones((2, 3), dtype=np.float32)},
        out / "weights.safetensors",
        metadata={"format": "np"},
    )
    return {"safetensors": safetensors.__version__}


def _gguf(out: Path) -> dict[str, str]:
    """Tensors of three ggml types (one quantized, written as raw blocks) and a chat
    template, with ggml's own Python writer."""
    import gguf
    import numpy as np

    for name, alignment in (("model.gguf", None), ("model_align64.gguf", 64)):
        writer = gguf.GGUFWriter(out / name, "llama")
        if alignment is not None:
            writer.add_custom_alignment(alignment)
        writer.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
        writer.add_tensor("tok_embd.weight", np.ones((4, 8), dtype=np.float32))
        writer.add_tensor("norm.weight", np.ones(3, dtype=np.float16))
        blocks = np.zeros((2, 34), dtype=np.uint8)  # 2 rows of one Q8_0 block (32 values)
        writer.add_tensor("q.weight", blocks, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return {"gguf": gguf.__version__ if hasattr(gguf, "__version__") else _version("gguf")}


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    versions: dict[str, str] = {"python": platform.python_version()}
    for make in (_torch, _keras, _onnx, _safetensors, _gguf):
        versions.update(make(OUT))
    (OUT / "VERSIONS.json").write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    print(json.dumps(versions), file=sys.stderr)


if __name__ == "__main__":
    main()
