"""Request and response bodies decoded into what the detectors compare.

An input becomes one or more *instances* (a batch request holds several), each one of:

- a **feature vector** (CSV rows, JSON numbers, lists, records, ``{"instances": ...}``,
  ``{"inputs": ...}``, Azure ML ``input_data``/MLflow ``dataframe_split``/``dataframe_records``);
- an **image** (base64 PNG or JPEG, decoded with Pillow; base64 NumPy ``.npy`` read with
  ``allow_pickle=False``), reduced to at most 32x32 pixels and scaled to [0, 1], the raw-pixel
  space in which Blacklight (Li et al., USENIX Security 2022) compares queries;
- **text** (``{"inputs": "..."}``, ``prompt``, chat ``messages``), turned into a 256-bucket
  hashed histogram of character trigrams, L2-normalised, so that Euclidean distance between two
  texts is a monotone function of their cosine similarity over trigrams: near-duplicate prompts
  (one word changed) are close, unrelated prompts are far.

An output becomes a predicted label per instance where it can (a class index, an argmax of
scores, a thresholded probability, a ``label`` field); PRADA compares queries per predicted
class and falls back to a single class when the output is absent.
"""

from __future__ import annotations

import base64
import binascii
import io
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._records import Body

__all__ = ["DecodeError", "Instance", "decode_input", "decode_labels", "text_vector"]

Vector = npt.NDArray[np.float32]

_MAX_DEPTH = 8
_MAX_FEATURES = 1 << 16
_IMAGE_SIDE = 32
_TEXT_DIM = 256
_BATCH_KEYS = ("instances", "inputs", "data", "features", "input_data", "ndarray",
               "dataframe_records", "dataframe_split", "input", "x", "X")  # fmt: skip
_TEXT_KEYS = ("inputs", "prompt", "text", "input", "query", "question")


_fast_loads: Callable[[str], Any] | None
try:
    from orjson import loads as _orjson_loads

    _fast_loads = _orjson_loads
except ModuleNotFoundError:  # optional speed-up (the detect extra has it)
    _fast_loads = None


class DecodeError(ValueError):
    """A body that cannot be decoded into instances."""


class Instance:
    """One query: ``kind`` is ``numeric``, ``image`` or ``text``; ``vector`` is what the
    detectors compare."""

    __slots__ = ("kind", "vector")

    def __init__(self, kind: str, vector: Vector) -> None:
        self.kind = kind
        self.vector = vector


def text_vector(text: str) -> Vector:
    """A 256-bucket histogram of the text's character trigrams (CRC-32 hashed), L2-normalised."""
    folded = " ".join(text.lower().split())
    out = np.zeros(_TEXT_DIM, dtype=np.float32)
    if len(folded) < 3:
        folded = folded.ljust(3)
    data = folded.encode("utf-8", "surrogatepass")
    for i in range(len(data) - 2):
        out[zlib.crc32(data[i : i + 3]) & (_TEXT_DIM - 1)] += 1.0
    norm = float(np.linalg.norm(out))
    return out / norm if norm else out


def _image(data: bytes) -> Instance:
    try:
        from PIL import Image, UnidentifiedImageError
    except ModuleNotFoundError as exc:  # pragma: no cover - Pillow is in the detect extra
        raise DecodeError("image bodies need Pillow (pip install 'mlstix[detect]')") from exc
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("L", (_IMAGE_SIDE, _IMAGE_SIDE))
            gray = img.convert("L")
            if max(gray.size) > _IMAGE_SIDE:
                gray = gray.resize((_IMAGE_SIDE, _IMAGE_SIDE), Image.Resampling.BILINEAR)
            pixels = np.asarray(gray, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DecodeError(f"image cannot be decoded: {exc}") from None
    return Instance("image", pixels.reshape(-1))


def _npy(data: bytes) -> Instance:
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DecodeError(f".npy body cannot be read: {exc}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise DecodeError(".npy body is not a numeric array")
    if array.ndim >= 2 and min(array.shape[:2]) >= 8:
        from PIL import Image

        plane = array if array.ndim == 2 else array.mean(axis=tuple(range(2, array.ndim)))
        plane = plane.astype(np.float32)
        span = float(plane.max() - plane.min()) or 1.0
        img = Image.fromarray(((plane - plane.min()) / span * 255).astype(np.uint8))
        if max(img.size) > _IMAGE_SIDE:
            img = img.resize((_IMAGE_SIDE, _IMAGE_SIDE), Image.Resampling.BILINEAR)
        return Instance("image", (np.asarray(img, dtype=np.float32) / 255.0).reshape(-1))
    if array.size > _MAX_FEATURES:
        raise DecodeError(f".npy body has {array.size} values (limit {_MAX_FEATURES})")
    return Instance("numeric", array.astype(np.float32).reshape(-1))


def _binary(data: bytes) -> list[Instance]:
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff":
        return [_image(data)]
    if data[:6] == b"\x93NUMPY":
        return [_npy(data)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("binary body is neither PNG, JPEG, .npy nor UTF-8 text") from None
    return _text_body(text)


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"body is not base64: {exc}") from None


def _row(row: str) -> Vector:
    """One CSV row of numbers (orjson reads it as a JSON array, several times faster than
    ``float()`` per value; anything it refuses, such as ``nan``, takes the slow path)."""
    if _fast_loads is not None:
        try:
            values = _fast_loads("[" + row + "]")
        except ValueError:
            pass
        else:
            array = np.asarray(values)  # numbers only: booleans, nulls or text change the kind
            if array.ndim == 1 and array.size and array.dtype.kind in "iuf":
                return array.astype(np.float32)
    try:
        return np.array([float(v) for v in row.split(",")], dtype=np.float32)
    except ValueError:
        raise DecodeError("CSV body has a value that is not a number") from None


def _csv(text: str) -> list[Instance]:
    if "\n" not in text:
        return [Instance("numeric", _row(text))]
    out = [Instance("numeric", _row(row)) for row in text.splitlines() if row.strip()]
    if not out:
        raise DecodeError("CSV body is empty")
    return out


def _text_body(text: str) -> list[Instance]:
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        import json

        try:
            return _from_json(json.loads(text), 0)
        except ValueError:
            pass
    try:
        return _csv(text)
    except DecodeError:
        return [Instance("text", text_vector(text))]


def _numbers(value: list[Any]) -> Vector | None:
    if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        if len(value) > _MAX_FEATURES:
            raise DecodeError(f"an instance has {len(value)} values (limit {_MAX_FEATURES})")
        return np.asarray(value, dtype=np.float32)
    return None


def _nested_numbers(value: list[Any]) -> Vector | None:
    """A nested numeric list (an image as rows of pixels) flattened, or None."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError):
        return None
    if array.dtype != np.float32 or array.size > _MAX_FEATURES:
        return None
    return array.reshape(-1)


def _from_json(value: Any, depth: int) -> list[Instance]:
    if depth > _MAX_DEPTH:
        raise DecodeError("JSON body nested too deeply to hold a model input")
    if isinstance(value, str):
        if value.startswith(("iVBOR", "/9j/", "k05VTVBZ")):  # base64 PNG, JPEG, .npy
            return _binary(_b64(value))
        return [Instance("text", text_vector(value))]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [Instance("numeric", np.asarray([value], dtype=np.float32))]
    if isinstance(value, list):
        return _from_list(value, depth)
    if isinstance(value, dict):
        return _from_dict(value, depth)
    raise DecodeError(f"JSON body holds {type(value).__name__}, not a model input")


def _from_list(value: list[Any], depth: int) -> list[Instance]:
    flat = _numbers(value)
    if flat is not None:
        return [Instance("numeric", flat)]
    if not value:
        raise DecodeError("JSON body is an empty list")
    if all(isinstance(v, list) for v in value):
        rows = [_numbers(v) for v in value]
        if all(r is not None for r in rows):
            return [Instance("numeric", r) for r in rows if r is not None]
        if depth == 0 or all(isinstance(x, list) for v in value for x in v):
            nested = [_nested_numbers(v) for v in value]
            if all(n is not None for n in nested):
                return [Instance("numeric", n) for n in nested if n is not None]
    out: list[Instance] = []
    for item in value:
        out.extend(_from_json(item, depth + 1))
    return out


def _from_dict(value: dict[str, Any], depth: int) -> list[Instance]:
    if "b64" in value and isinstance(value["b64"], str):
        return _binary(_b64(value["b64"]))
    if "messages" in value and isinstance(value["messages"], list):
        parts = [m.get("content") for m in value["messages"] if isinstance(m, dict)]
        return [Instance("text", text_vector(" ".join(p for p in parts if isinstance(p, str))))]
    if isinstance(value.get("data"), list) and isinstance(value.get("columns"), list):
        return _from_json(value["data"], depth + 1)  # pandas/MLflow split orientation
    for key in _BATCH_KEYS:
        if key in value:
            return _from_json(value[key], depth + 1)
    for key in _TEXT_KEYS:
        if isinstance(value.get(key), str):
            return [Instance("text", text_vector(value[key]))]
    items = sorted(value.items())
    numbers = [v for _, v in items]
    flat = _numbers(numbers)
    if flat is not None:
        return [Instance("numeric", flat)]  # one record of named features, in key order
    raise DecodeError("JSON object has no recognizable model input (instances, inputs, data…)")


def decode_input(body: Body) -> list[Instance]:
    """The instances of a request body; raises :class:`DecodeError` (also for NaN or infinite
    values, which no distance can be taken from)."""
    instances = _decode(body)
    for instance in instances:
        if not np.isfinite(instance.vector).all():
            raise DecodeError("the input has a NaN or infinite value")
    return instances


def _decode(body: Body) -> list[Instance]:
    data = body.data
    encoding = body.encoding
    if data is None:
        raise DecodeError("the request body is empty")
    if encoding == "OBJECT":
        return _from_json(data, 0)
    if not isinstance(data, str):
        raise DecodeError(f"{encoding} body is not a string")
    if encoding == "BASE64":
        return _binary(_b64(data))
    if encoding == "CSV":
        return _csv(data)
    return _text_body(data)  # JSON, TEXT, or an unknown encoding: read by content


def _label(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer() and not 0.0 < value < 1.0:
            return int(value)
        return int(value >= 0.5) if 0.0 <= value <= 1.0 else None
    if isinstance(value, list):
        scores = _numbers(value)
        if scores is not None and len(scores) > 1:
            return int(np.argmax(scores))
        if scores is not None:
            return _label(float(scores[0]))
        return None
    if isinstance(value, dict):
        for key in ("label", "predicted_label", "class", "prediction", "predictions",
                    "probabilities", "scores", "probability", "score"):  # fmt: skip
            if key in value:
                return _label(value[key])
    if isinstance(value, str):
        try:
            return _label(float(value))
        except ValueError:
            return hash(value) & 0x7FFFFFFF if len(value) <= 64 else None
    return None


def _output_items(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for key in ("predictions", "outputs", "output", "data", "result", "results"):
            if isinstance(value.get(key), list):
                return list(value[key])
        return [value]
    if isinstance(value, list):
        return value
    return [value]


def decode_labels(body: Body | None, count: int) -> list[int | None]:
    """One predicted label per instance (``None`` where the output says nothing usable)."""
    if body is None or body.data is None:
        return [None] * count
    data = body.data
    try:
        if body.encoding == "OBJECT":
            items = list(_output_items(data))
        elif body.encoding == "BASE64" and isinstance(data, str):
            items = [_b64(data).decode("utf-8", "replace")]
        else:
            items = [data]
        if len(items) == 1 and isinstance(items[0], str):
            text = items[0].strip()
            if text[:1] in ("{", "["):
                import json

                items = list(_output_items(json.loads(text)))
            elif count == 1 and "\n" not in text and "," in text:
                return [int(np.argmax(_row(text)))]  # the common case: one row of scores
            else:
                rows = [r for r in text.splitlines() if r.strip()]
                items = [_row(r).tolist() if "," in r else r for r in rows]
    except (ValueError, DecodeError):
        return [None] * count
    labels = [_label(item) for item in items]
    if count == 1 and len(labels) > 1:
        return [_label(items)]  # one instance, a vector of scores
    if len(labels) != count:
        return [None] * count
    return labels
