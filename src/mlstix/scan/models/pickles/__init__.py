"""The pickle machinery: an opcode reader (:mod:`.opcodes`), a symbolic virtual machine that
follows the stack and memo without unpickling (:mod:`.vm`), the allowlist of data constructors
(:mod:`.allowlist`), and what one stream amounts to (:mod:`.result`).

:func:`analyze_pickle_stream` is the entry point every format analyzer uses.
"""

from mlstix.scan.models.pickles.analyze import analyze_pickle_stream, looks_like_pickle

__all__ = ["analyze_pickle_stream", "looks_like_pickle"]
