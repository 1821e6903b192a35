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

PEFT: ``adapter_config.json``'s ``auto_mapping`` (``{"base_model_class", "parent_library"}``)
makes ``AutoPeftModel.from_pretrained`` import ``parent_library``, whatever it names, and call
``from_pretrained`` on the class: a library outside transformers is reported.

diffusers: ``model_index.json`` (and ``modular_model_index.json``) maps each component to
``[library, class]``. A library that is not one diffusers loads from (``diffusers``,
``transformers``, ``onnxruntime.training``) nor a ``diffusers.pipelines`` module is custom code:
``<component>/<library>.py`` beside the weights, imported by ``get_class_from_dynamic_module``
(older diffusers did it without ``trust_remote_code``), or a module imported by name; a
``_class_name`` given as ``[module, class]`` names a custom pipeline file. Both are reported.

Reference: transformers ``dynamic_module_utils.get_class_from_dynamic_module``,
``models/auto/configuration_auto.py`` (``auto_map``), ``pipelines/__init__.py``
(``custom_pipelines``); sentence-transformers ``SentenceTransformer._load_sbert_model`` and
``_load_module_class_from_ref``, ``cross_encoder/CrossEncoder.py``; diffusers
``pipelines/pipeline_loading_utils.py`` (``get_class_obj_and_candidates``, ``LOADABLE_CLASSES``);
peft ``auto.py`` (``_BaseAutoPeftModel.from_pretrained``).
"""

from __future__ import annotations

import json
from typing import Any

from mlstix.scan.models._context import Context, Source
from mlstix.scan.models.formats.hydra import check_targets

__all__ = ["analyze_chat_template", "analyze_hf_config"]

_MAX = 32 << 20
_DIFFUSERS_INDEXES = frozenset(["model_index.json", "modular_model_index.json"])
_DIFFUSERS_LIBRARIES = frozenset(["diffusers", "transformers", "onnxruntime.training"])
# diffusers.pipelines modules (0.42.1, and older ones since moved to pipelines/deprecated):
# a component from one of them is diffusers' own code
_DIFFUSERS_PIPELINES = frozenset(
    ["ace_step", "allegro", "alt_diffusion", "amused", "animatediff", "anyflow",
     "audio_diffusion", "audioldm", "audioldm2", "aura_flow", "blip_diffusion", "bria",
     "bria_fibo", "bria_fibo2", "chroma", "chronoedit", "cogvideo", "cogview3", "cogview4",
     "consisid", "consistency_models", "controlnet", "controlnet_hunyuandit", "controlnet_sd3",
     "cosmos", "dance_diffusion", "ddim", "ddpm", "deepfloyd_if", "deprecated",
     "diffusion_gemma", "dit", "dreamlite", "easyanimate", "ernie_image", "flux", "flux2",
     "glm_image", "helios", "hidream_image", "hunyuan_image", "hunyuan_video",
     "hunyuan_video1_5", "hunyuan_video_framepack", "hunyuandit", "i2vgen_xl", "ideogram4",
     "joyimage", "kandinsky", "kandinsky2_2", "kandinsky3", "kandinsky5", "kandinsky6",
     "kolors", "krea2", "latent_consistency_models", "latent_diffusion", "latte", "ledits_pp",
     "llada2", "longcat_audio_dit", "longcat_image", "ltx", "ltx2", "lucy", "lumina",
     "lumina2", "marigold", "mochi", "motif_video", "musicldm", "nucleusmoe_image", "omnigen",
     "ovis_image", "pag", "paint_by_example", "pia", "pixart_alpha", "prx", "qwenimage",
     "qwenimage21", "rfd4_proteina", "sana", "sana_video", "sana_wm",
     "semantic_stable_diffusion", "shap_e", "skyreels_v2", "spectrogram_diffusion",
     "stable_audio", "stable_audio_3", "stable_cascade", "stable_diffusion",
     "stable_diffusion_3", "stable_diffusion_attend_and_excite", "stable_diffusion_diffedit",
     "stable_diffusion_gligen", "stable_diffusion_ldm3d", "stable_diffusion_panorama",
     "stable_diffusion_safe", "stable_diffusion_sag", "stable_diffusion_xl",
     "stable_video_diffusion", "t2i_adapter", "text_to_video_synthesis", "unclip",
     "unidiffuser", "versatile_diffusion", "visualcloze", "vq_diffusion", "wan", "wuerstchen",
     "z_image"]
)  # fmt: skip


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
    if src.name.rsplit("/", 1)[-1] in _DIFFUSERS_INDEXES:
        _diffusers_components(src, ctx, config)
    _templates(src, ctx, config.get("chat_template"))
    check_targets(src, ctx, config)  # Hydra-configured Hub models (uni2TS, FlexTok)
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
    peft = config.get("auto_mapping")
    library = peft.get("parent_library") if isinstance(peft, dict) else None
    if isinstance(library, str) and library and not library.startswith("transformers."):
        cls = peft.get("base_model_class") if isinstance(peft, dict) else None
        _import_hit(src, ctx, f"{library}.{cls}", "AutoPeftModel imports the module and loads "
                    "the base model with its class's from_pretrained")  # fmt: skip
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


def _diffusers_components(src: Source, ctx: Context, index: dict[str, Any]) -> None:
    for component, spec in list(index.items())[:1000]:
        if not (isinstance(spec, list) and len(spec) >= 2 and isinstance(spec[0], str)):
            continue
        library, cls = spec[0], spec[1]
        if component == "_class_name":
            what = f"diffusers loads the custom pipeline {cls} from {library}.py"
        elif library in _DIFFUSERS_LIBRARIES or library in _DIFFUSERS_PIPELINES:
            continue
        else:
            what = (
                f"diffusers imports its {component} component {cls} from {component}/"
                f"{library}.py beside the weights (older diffusers without trust_remote_code) "
                f"or from the module {library}"
            )
        _import_hit(src, ctx, f"{library}.{cls}", what)


def _import_hit(src: Source, ctx: Context, ref: str, what: str) -> None:
    ctx.hit(
        "models/shipped-python-code",
        f"{src.name} names {ref}: {what}",
        src,
        reference=ref,
    )


def analyze_chat_template(src: Source, ctx: Context) -> str:
    """``chat_template.jinja`` (transformers >= 4.50 saves the template on its own) and the
    named templates beside it (``additional_chat_templates/<name>.jinja``)."""
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
