"""Hydra ``_target_`` references in model configurations: ``hydra.utils.instantiate`` imports
the dotted name and calls it with the rest of the node as arguments.

NeMo rebuilds a ``.nemo`` model from its ``model_config.yaml`` this way (CVE-2025-23304: any
``_target_`` ran before NeMo 2.3.2 restricted them), and libraries that publish Hydra-configured
models on the Hugging Face Hub do the same with ``config.json`` (Unit 42, 2026: uni2TS,
FlexTok). A target is reported when it is dangerous by the pickle denylist (``builtins.exec``,
``os.system``, ``subprocess.Popen``, re-exports through trusted packages) or outside the
libraries whose own classes such configs build (NeMo, PyTorch and Lightning, transformers,
Megatron, timm, the Hydra/OmegaConf helpers and the Hub libraries named above): either way the
loader imports it and calls it with arguments from the file.

Reference: hydra ``_internal/instantiate/_instantiate2.py`` (``_target_``, ``_args_``,
``_partial_``), NeMo ``core/classes/common.py`` (``from_config_dict``), ``.nemo`` archives
(``model_config.yaml`` beside ``model_weights.ckpt``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlstix.scan.models._context import Context, Source

__all__ = ["analyze_hydra_yaml", "check_targets"]

_MAX = 16 << 20
_MAX_NODES = 1_000_000
_LIBRARIES = frozenset(
    ["nemo", "torch", "torchvision", "torchaudio", "lightning", "pytorch_lightning",
     "lightning_fabric", "transformers", "megatron", "apex", "timm", "omegaconf", "hydra",
     "uni2ts", "flextok", "sentencepiece", "tokenizers"]
)  # fmt: skip


# bare names Hydra takes from builtins (older Hydra's _locate) that only build data
_DATA_BUILTINS = frozenset(["dict", "list", "tuple", "set", "int", "float", "str", "bool"])


def analyze_hydra_yaml(src: Source, ctx: Context) -> str:
    """``model_config.yaml`` (a ``.nemo`` archive's config), read as OmegaConf reads it."""
    import yaml

    src.fp.seek(0)
    raw = src.fp.read(_MAX + 1)
    if len(raw) > _MAX:
        ctx.malformed("models/unreadable", f"{src.name} is larger than {_MAX} bytes", src)
        return "hydra-config"
    try:
        doc = yaml.safe_load(raw)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        ctx.malformed("models/unrecognized-model-file", f"{src.name} is not YAML: {problem}",
                      src)  # fmt: skip
        return "hydra-config"
    check_targets(src, ctx, doc)
    return "hydra-config"


def check_targets(src: Source, ctx: Context, doc: Any) -> None:
    seen: set[str] = set()
    for target in _targets(doc):
        if target in seen:
            continue
        seen.add(target)
        if target.startswith("<more than"):
            ctx.hit("models/archive-limit", f"{src.name}: {target[1:-1]}: _target_s there were "
                    "not checked", src, limit="max_nodes")  # fmt: skip
            continue
        module, _, name = target.rpartition(".")
        root = target.split(".", 1)[0]
        if ctx.policy.verdict(module or "builtins", name) == "dangerous":
            why = "a callable that runs code or touches the system"
        elif root in _LIBRARIES or (not module and name in _DATA_BUILTINS):
            continue
        else:
            why = f"outside the libraries such configs build ({root})"
        ctx.hit(
            "models/shipped-python-code",
            f"{src.name}: _target_ {target!r} ({why}): hydra.utils.instantiate imports it and "
            "calls it with arguments from the file when the model loads",
            src,
            reference=target,
        )


def _targets(doc: Any) -> Iterator[str]:
    stack = [doc]
    nodes = 0
    while stack:
        if nodes >= _MAX_NODES:  # the rest is not followed: a target there may be anything
            yield f"<more than {_MAX_NODES:,} values not followed>"
            return
        node = stack.pop()
        nodes += 1
        if isinstance(node, dict):
            target = node.get("_target_")
            if isinstance(target, str) and target:
                yield target.strip()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
