"""Attributes a BUILD state sets on an object that code outside the stream calls later.

A BUILD without ``__setstate__`` (or with one that updates ``__dict__``, as scikit-learn's
``BaseEstimator.__setstate__`` does) puts the state's items into the instance dict, and a slot
state goes through ``setattr``. Python looks special methods up on the type for operators and
``obj(...)``, but the libraries below look these names up on the *instance*, so a callable
stored under one of them runs:

- by the loader itself: ``__setstate__`` (``load_build`` in ``Lib/pickle.py`` and
  ``Modules/_pickle.c`` take it with ``getattr(inst, "__setstate__")``: a later BUILD on the same
  object calls it with the state; handled where BUILD is followed);
- when the object is saved or copied: ``__reduce_ex__``, ``__reduce__``, ``__getstate__``
  (``pickle``/``torch.save``: ``getattr(obj, "__reduce_ex__")``), ``__deepcopy__`` and
  ``__copy__`` (``copy.deepcopy``/``copy.copy``: ``getattr(x, "__deepcopy__")``);
- on the user's next normal call: ``forward``, ``_call_impl`` and ``_wrapped_call_impl`` of a
  ``torch.nn.Module`` (``Module.__call__`` runs ``self._call_impl`` -> ``self.forward``),
  submodules in ``_modules`` (``Module.__getattr__`` hands them to ``forward``'s code), the
  estimator API (``predict``, ``transform``, ... : ``model.predict(X)`` finds the instance
  attribute first; ``summary`` of statsmodels results, ``inplace_predict`` of XGBoost, the
  ``torch.nn.Module`` API), ``get_params`` (``BaseEstimator.__repr__`` and ``clone`` call it),
  the hooks scikit-learn's helpers call on the instance (``__sklearn_tags__``/``_more_tags``
  by ``get_tags``, ``__sklearn_is_fitted__`` by ``check_is_fitted`` before every predict,
  ``__sklearn_clone__`` by ``clone``) and the ``BaseEstimator`` helpers ``predict`` and
  ``transform`` call through ``self`` (``_validate_data``, ``_check_n_features``, ...).

Operator dunders (``__call__``, ``__getattr__``, ``__repr__``, ...) set on an instance are
ignored by Python and stay what they were.
"""

from __future__ import annotations

from typing import Any

from mlstix.scan.models.pickles.opcodes import Call, Global

__all__ = ["RUNS_ON_USE", "state_dicts"]

_SAVED = "when the object is saved or copied (pickle, torch.save, copy)"
_COPIED = "when the object is copied (copy.copy, copy.deepcopy)"
_CALLED = "when the module is called (torch.nn.Module.__call__)"
_API = "when the model's method of that name is called"

RUNS_ON_USE: dict[str, str] = {
    "__reduce_ex__": _SAVED,
    "__reduce__": _SAVED,
    "__getstate__": _SAVED,
    "__deepcopy__": _COPIED,
    "__copy__": _COPIED,
    "forward": _CALLED,
    "_call_impl": _CALLED,
    "_wrapped_call_impl": _CALLED,
    "_modules": "as a submodule, when the module is called",
    "get_params": "when the estimator is printed or cloned (BaseEstimator.__repr__, clone)",
    "__sklearn_tags__": "on every fit and check (sklearn.utils.get_tags)",
    "_more_tags": "on every fit and check (older scikit-learn's _get_tags)",
    "_get_tags": "on every fit and check (older scikit-learn)",
    "__sklearn_clone__": "when the estimator is cloned (sklearn.base.clone)",
    "__sklearn_is_fitted__": "before every predict (sklearn.utils.validation.check_is_fitted)",
    "_validate_data": "inside fit, predict and transform (BaseEstimator)",
    "_check_n_features": "inside fit, predict and transform (BaseEstimator)",
    "_check_feature_names": "inside fit, predict and transform (BaseEstimator)",
    **dict.fromkeys(
        [
            "predict",
            "predict_proba",
            "predict_log_proba",
            "decision_function",
            "transform",
            "inverse_transform",
            "fit",
            "fit_transform",
            "fit_predict",
            "partial_fit",
            "score",
            "score_samples",
            "apply",
            "summary",
            "inplace_predict",
            "generate",
            "state_dict",
            "load_state_dict",
            "parameters",
            "named_parameters",
            "eval",
            "train",
            "to",
            "cuda",
            "cpu",
            "half",
            "float",
            "modules",
            "named_modules",
            "children",
            "zero_grad",
        ],
        _API,
    ),
}


def state_dicts(
    parts: tuple[Any, ...], held: dict[int, tuple[Any, list[Any]]]
) -> list[dict[Any, Any]]:
    """The dicts a BUILD state sets as attributes: the state dict, the slot dict, and a
    ``__dict__`` the slot dict sets (``setattr(inst, "__dict__", d)`` replaces the instance
    dict with ``d``). A dict the stream builds by calling ``dict``/``OrderedDict`` (from pairs,
    or filled by SETITEMS) is one too."""
    out = [d for d in (_as_dict(p, held) for p in parts) if d is not None]
    if len(parts) == 2 and (slot := _as_dict(parts[1], held)) is not None:
        inner = _as_dict(slot.get("__dict__"), held)
        if inner is not None:
            out.append(inner)
    return out


_DICTS = frozenset(["builtins.dict", "collections.OrderedDict", "collections.defaultdict"])


def _as_dict(value: Any, held: dict[int, tuple[Any, list[Any]]]) -> dict[Any, Any] | None:
    if isinstance(value, dict):
        return value
    if not (isinstance(value, Call) and isinstance(value.func, Global)):
        return None
    if value.func.qualname not in _DICTS:
        return None
    out: dict[Any, Any] = {}
    args = value.args if isinstance(value.args, tuple) else ()
    skip = 1 if value.func.qualname == "collections.defaultdict" else 0
    for arg in args[skip : skip + 1]:
        pairs = arg.items() if isinstance(arg, dict) else arg
        if isinstance(pairs, list | tuple) or isinstance(arg, dict):
            for pair in pairs:
                if isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str):
                    out[pair[0]] = pair[1]
    items = held.get(id(value), (None, []))[1]
    for i in range(0, len(items) - 1, 2):
        if isinstance(items[i], str):
            out[items[i]] = items[i + 1]
    return out
