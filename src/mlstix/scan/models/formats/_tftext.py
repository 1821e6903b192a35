"""TensorFlow graphs in protobuf *text* format: ``saved_model.pbtxt`` (``tf.saved_model.load``
reads it when there is no ``saved_model.pb``), ``graph.pbtxt`` (``tf.io.write_graph`` writes
text by default; Estimators leave one in every model folder) and text ``.meta`` files
(``tf.compat.v1.train.import_meta_graph`` parses a ``.meta`` as text when it is not binary).

The ops are judged as in binary graphs (:mod:`.protobuf`), from every string literal of the
file, decoded as the text format decodes them: C escapes (``"Py\\106unc"``, ``"\\x50yFunc"``) and
adjacent literals joined (``op: "Py" "Func"``), so no spelling hides an op name.

Reference: protobuf text format specification (string literals, escapes, concatenation);
``tensorflow/python/saved_model/loader_impl.py`` (``parse_saved_model``),
``tensorflow/python/framework/meta_graph.py`` (``read_meta_graph_file``).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from mlstix.scan.models._context import Context, Source

__all__ = ["analyze_tf_text", "text_strings"]

_MAX_TEXT = 256 << 20
_LITERAL = re.compile(rb'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'')
_GAP = re.compile(rb"(?:\s|#[^\n]*)*")


def text_strings(data: bytes) -> Iterator[str]:
    """Every string value of a text-format message: adjacent literals joined, escapes
    decoded."""
    pos = 0
    while (m := _LITERAL.search(data, pos)) is not None:
        parts = [m.group()]
        end = m.end()
        while (n := _LITERAL.match(data, _GAP.match(data, end).end())) is not None:  # type: ignore[union-attr]
            parts.append(n.group())
            end = n.end()
        yield b"".join(_unescape(p[1:-1]) for p in parts).decode("utf-8", "replace")
        pos = end


def _unescape(body: bytes) -> bytes:
    try:
        return codecs.escape_decode(body)[0]
    except ValueError:
        return body


def analyze_tf_text(src: Source, ctx: Context) -> str:
    from mlstix.scan.models.formats.protobuf import ops_in, report_ops

    kind = "tf-savedmodel" if src.name == "saved_model.pbtxt" else "tf-graphdef"
    if src.size > _MAX_TEXT:
        message = f"text-format graph larger than {_MAX_TEXT} bytes: not read"
        ctx.malformed("models/unrecognized-model-file", message, src)
        return kind
    src.fp.seek(0)
    report_ops(src, ctx, ops_in(text_strings(src.fp.read(src.size))))
    return kind
