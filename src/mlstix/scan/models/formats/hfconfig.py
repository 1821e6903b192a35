"""Hugging Face configuration files that make ``from_pretrained`` import Python code.

Their chat templates (``tokenizer_config.json``'s ``chat_template``, ``chat_template.json``,
``chat_template.jinja``) are judged as GGUF templates are (:func:`tensors.check_template`).

``config.json``, ``tokenizer_config.json``, ``processor_config.json``,
``preprocessor_config.json``, ``feature_extractor_config.json`` and ``image_processor_config``
may hold an ``auto_map``: Auto class name -> ``"module.Class"`` (a ``module.py`` shipped beside
the weights) or ``"repo_id--module.Class"`` (a module of another Hub repository). With
``trust_remote_code=True``, transformers downloads and imports that module: its code runs
when the model loads, whatever the weights are (a tokenizer entry may be a pair, slow and
fast). Reported as shipped code, and code from another repository as such.

``config.json``'s ``custom_pipelines`` (task -> ``{"impl": "module.Class"}``) is the same for
``transformers.pipeline(trust_remote_code=True)``.

sentence-transformers: each entry of ``modules.json`` names the class of one module by a
dotted ``type``, which ``SentenceTransformer`` resolves with ``import_from_string`` (any
installed module, then ``.load(path)`` on it) or, when the model is loaded from a local folder
or with ``trust_remote_code``, with ``get_class_from_dynamic_module`` (a ``module.py`` shipped
beside the weights is imported, without ``trust_remote_code`` for a local folder). A type
outside ``sentence_transformers.`` is reported. A CrossEncoder's ``config.json`` names its
activation function (``sentence_transformers.activation_fn``, older
``sbert_ce_default_activation_function``), imported and called on load: outside ``torch.`` it
is reported too.

Reference: transformers ``dynamic_module_utils.get_class_from_dynamic_module``,
``models/auto/configuration_auto.py`` (``auto_map``), ``pipelines/__init__.py``
(``custom_pipelines``); sentence-transformers ``SentenceTransformer._load_sbert_model`` and
``_load_module_class_from_ref``, ``cross_encoder/CrossEncoder.py``.
"""

from __future__ import annotations

import json
from typing import Any

from mlstix.scan.models._context import Context, Source

__all__ = ["analyze_chat_template", "analyze_hf_config"]

_MAX = 32 << 20


def analyze_hf_config(src: Source, ctx: Context) -> str:
    src.fp.seek(0)
    raw = src.fp.read(_MAX + 1)
    if len(raw) > _MAX:
        ctx.malformed("models/unreadable", f"{src.name} is larger than {_MAX} bytes", src)
        return "hf-config"
    try:
        config = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        ctx.malformed("models/unrecognized-model-file",
                      f"{src.name} is not JSON: {type(exc).__name__}", src)  # fmt: skip
        return "hf-config"
    if isinstance(config, list):
        _sentence_modules(src, ctx, config)
    if not isinstance(config, dict):
        return "hf-config"
    _templates(src, ctx, config.get("chat_template"))
    auto_map = config.get("auto_map")
    if isinstance(auto_map, dict):
        for auto, target in auto_map.items():
            for ref in target if isinstance(target, list) else [target]:
                if isinstance(ref, str) and ref:
                    _report(src, ctx, str(auto), ref)
    pipelines = config.get("custom_pipelines")
    if isinstance(pipelines, dict):
        for task, spec in pipelines.items():
            impl = spec.get("impl") if isinstance(spec, dict) else None
            if isinstance(impl, str) and impl:
                _report(src, ctx, f"the {task} pipeline", impl)
    st = config.get("sentence_transformers")
    for ref in (st.get("activation_fn") if isinstance(st, dict) else None,
                config.get("sbert_ce_default_activation_function")):  # fmt: skip
        if isinstance(ref, str) and ref and not ref.startswith("torch."):
            _import_hit(src, ctx, ref, "CrossEncoder imports and calls its activation function")
    return "hf-config"


def _sentence_modules(src: Source, ctx: Context, modules: list[Any]) -> None:
    for entry in modules[:1000]:
        ref = entry.get("type") if isinstance(entry, dict) else None
        if isinstance(ref, str) and ref and not ref.startswith("sentence_transformers."):
            _import_hit(
                src, ctx, ref,
                "SentenceTransformer imports it (a module.py shipped beside the weights when "
                "the model is loaded from a local folder, even without trust_remote_code, or "
                "any installed module) and builds the module with it",
            )  # fmt: skip


def _import_hit(src: Source, ctx: Context, ref: str, what: str) -> None:
    ctx.hit(
        "models/shipped-python-code",
        f"{src.name} names {ref}: {what}",
        src,
        reference=ref,
    )


def analyze_chat_template(src: Source, ctx: Context) -> str:
    """``chat_template.jinja`` (transformers >= 4.50 saves the template on its own)."""
    src.fp.seek(0)
    raw = src.fp.read(_MAX + 1)
    _templates(src, ctx, raw[:_MAX].decode("utf-8", "replace"))
    return "chat-template"


def _templates(src: Source, ctx: Context, value: Any) -> None:
    """A config's chat template(s): one string, or a list of ``{"name", "template"}``."""
    from mlstix.scan.models.formats.tensors import check_template

    if isinstance(value, str):
        check_template(src, ctx, "chat_template", value)
    elif isinstance(value, list):
        for item in value[:1000]:
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                check_template(src, ctx, f"chat_template {item.get('name')!r}", item["template"])


def _report(src: Source, ctx: Context, auto: str, ref: str) -> None:
    repo, sep, dotted = ref.rpartition("--")
    module = dotted.rsplit(".", 1)[0]
    where: Any = f"{module}.py of the Hub repository {repo!r}" if sep else f"{module}.py"
    ctx.hit(
        "models/shipped-python-code",
        f"{src.name} maps {auto} to {ref}: from_pretrained(trust_remote_code=True) imports "
        f"{where} and runs it when the model loads",
        src,
        auto_class=auto,
        reference=ref,
        remote_repository=repo if sep else None,
    )
