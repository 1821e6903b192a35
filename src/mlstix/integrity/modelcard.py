"""What a model folder says about itself: its model card, config and declared frameworks.

Read, never executed: the YAML front matter of a Hugging Face style ``README.md`` model card
(https://huggingface.co/docs/hub/model-cards: ``pipeline_tag``, ``datasets``, ``license``,
``library_name``, ``tags``, ``base_model``), a Transformers ``config.json`` (``architectures``,
``model_type``, ``task``, ``transformers_version``), and a pip ``requirements.txt``. Every file
is size-bounded and parsed with a safe loader; one that cannot be parsed becomes a warning, so
a BOM is still written from the rest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Framework", "ModelInfo", "read_model_info"]

_MAX_TEXT = 1 << 20  # a model card, config or requirements file larger than this is not read
_FRONT_MATTER = re.compile(
    r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S
)
_REQUIREMENT = re.compile(
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:==\s*([^\s;,#]+))?"
)

# Input and output data of the common Hugging Face pipeline tasks (CycloneDX modelCard
# `inputs`/`outputs` formats).
_IO: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "text-classification": (("text",), ("label",)),
    "token-classification": (("text",), ("token labels",)),
    "zero-shot-classification": (("text", "candidate labels"), ("label",)),
    "question-answering": (("question text", "context text"), ("text span",)),
    "fill-mask": (("text",), ("text",)),
    "text-generation": (("text",), ("text",)),
    "text2text-generation": (("text",), ("text",)),
    "summarization": (("text",), ("text",)),
    "translation": (("text",), ("text",)),
    "feature-extraction": (("text",), ("embedding vector",)),
    "sentence-similarity": (("text",), ("similarity score",)),
    "image-classification": (("image",), ("label",)),
    "object-detection": (("image",), ("bounding boxes",)),
    "image-segmentation": (("image",), ("segmentation mask",)),
    "image-to-text": (("image",), ("text",)),
    "text-to-image": (("text",), ("image",)),
    "automatic-speech-recognition": (("audio",), ("text",)),
    "audio-classification": (("audio",), ("label",)),
    "text-to-speech": (("text",), ("audio",)),
    "tabular-classification": (("tabular data",), ("label",)),
    "tabular-regression": (("tabular data",), ("number",)),
}

_TRANSFORMER_FAMILY = "transformer"


@dataclass(frozen=True)
class Framework:
    """A library the model declares it needs, with the version when it is pinned."""

    name: str
    version: str | None
    source: str  # the file that declares it


@dataclass(frozen=True)
class ModelInfo:
    """What the model's own files say; every field optional."""

    task: str | None = None
    architecture_family: str | None = None
    model_architecture: str | None = None
    model_type: str | None = None
    datasets: tuple[str, ...] = ()
    license: str | None = None
    library_name: str | None = None
    tags: tuple[str, ...] = ()
    base_model: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    frameworks: tuple[Framework, ...] = ()
    sources: tuple[str, ...] = ()  # files the card was built from
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_card(self) -> bool:
        return bool(
            self.task or self.model_architecture or self.architecture_family or self.datasets
        )


def _read_text(path: Path, warnings: list[str]) -> str | None:
    try:
        if not path.is_file() or path.is_symlink():
            return None
        if path.stat().st_size > _MAX_TEXT:
            warnings.append(f"{path.name} is larger than {_MAX_TEXT} bytes; not read")
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        warnings.append(f"cannot read {path.name}: {exc}")
        return None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str | int | float) and str(v).strip())
    return ()


def _front_matter(readme: Path, warnings: list[str]) -> dict[str, Any]:
    text = _read_text(readme, warnings)
    if text is None:
        return {}
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        warnings.append(f"{readme.name}: the model card front matter is not valid YAML{where}")
        return {}
    if not isinstance(data, dict):
        warnings.append(f"{readme.name}: the model card front matter is not a mapping")
        return {}
    return data


def _config(path: Path, warnings: list[str]) -> dict[str, Any]:
    text = _read_text(path, warnings)
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        warnings.append(f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}")
        return {}
    if not isinstance(data, dict):
        warnings.append(f"{path.name} is not a JSON object")
        return {}
    return data


def _requirements(path: Path, warnings: list[str]) -> list[Framework]:
    text = _read_text(path, warnings)
    if text is None:
        return []
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith(("-", "git+", "http:", "https:", "file:", ".", "/")):
            continue
        match = _REQUIREMENT.match(line)
        if match:
            out.append(Framework(match.group(1).lower(), match.group(2), path.name))
    return out


def read_model_info(model_path: Path) -> ModelInfo:
    """Gather the model card of ``model_path`` (a folder, or the folder of a single file)."""
    folder = model_path if model_path.is_dir() else model_path.parent
    warnings: list[str] = []
    sources: list[str] = []
    card = _front_matter(folder / "README.md", warnings)
    if card:
        sources.append("README.md")
    config = _config(folder / "config.json", warnings)
    if config:
        sources.append("config.json")

    task = card.get("pipeline_tag") if isinstance(card.get("pipeline_tag"), str) else None
    if task is None and isinstance(config.get("task"), str):
        task = config["task"]
    if task is None and isinstance(config.get("task_specific_params"), dict):
        tasks = sorted(k for k in config["task_specific_params"] if isinstance(k, str))
        task = tasks[0] if tasks else None
    architectures = _strings(config.get("architectures"))
    model_type = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    library = card.get("library_name") if isinstance(card.get("library_name"), str) else None
    # CycloneDX: the family is e.g. "transformer"; the architecture e.g. "BertForMaskedLM".
    family = model_type
    if "transformers_version" in config or (library or "").lower() == "transformers":
        family = _TRANSFORMER_FAMILY
    architecture = architectures[0] if architectures else model_type
    license_value = card.get("license")
    license_name = str(license_value) if isinstance(license_value, str | int) else None

    frameworks: dict[str, Framework] = {}
    for fw in _requirements(folder / "requirements.txt", warnings):
        frameworks.setdefault(fw.name, fw)
    transformers_version = config.get("transformers_version")
    if isinstance(transformers_version, str):
        frameworks.setdefault(
            "transformers", Framework("transformers", transformers_version, "config.json")
        )
    if library:
        frameworks.setdefault(library.lower(), Framework(library.lower(), None, "README.md"))
    if frameworks and (folder / "requirements.txt").is_file():
        sources.append("requirements.txt")
    inputs, outputs = _IO.get(task or "", ((), ()))
    return ModelInfo(
        task=task,
        architecture_family=family,
        model_architecture=architecture,
        model_type=model_type,
        datasets=_strings(card.get("datasets")),
        license=license_name,
        library_name=library,
        tags=_strings(card.get("tags")),
        base_model=_strings(card.get("base_model")),
        inputs=inputs,
        outputs=outputs,
        frameworks=tuple(frameworks[k] for k in sorted(frameworks)),
        sources=tuple(sources),
        warnings=tuple(warnings),
    )
