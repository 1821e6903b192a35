"""MLflow's ``MLmodel`` file: what ``mlflow.pyfunc.load_model`` imports and runs.

``load_model`` reads the ``python_function`` flavor of ``MLmodel`` (YAML) and

- puts the model's ``code`` folder on ``sys.path`` (``_add_code_from_conf_to_system_path``):
  Python shipped with the model shadows and joins the importable modules;
- runs ``importlib.import_module(loader_module)._load_pyfunc(data_path)``: any module the file
  names is imported and its ``_load_pyfunc`` called (MLflow's own flavors are ``mlflow.*``);
- for a model "from code", runs the Python file ``model_code_path`` names.

Each is reported as shipped Python code. The pickles a flavor loads (``python_model.pkl``,
``model.pkl``) are files of the model folder and scanned as such. The YAML is read with
``yaml.safe_load`` as MLflow's ``Model.load`` reads it; what it refuses is an error for the
file.

Reference: mlflow ``pyfunc/__init__.py`` (``load_model``: ``MAIN = "loader_module"``,
``CODE = "code"``), ``pyfunc/model.py`` (``model_code_path``), ``models/model.py``.
"""

from __future__ import annotations

from typing import Any

from mlstix.scan.models._context import Context, Source

__all__ = ["analyze_mlmodel"]

_MAX = 4 << 20


def analyze_mlmodel(src: Source, ctx: Context) -> str:
    import yaml

    src.fp.seek(0)
    raw = src.fp.read(_MAX + 1)
    if len(raw) > _MAX:
        ctx.malformed("models/unreadable", f"MLmodel is larger than {_MAX} bytes", src)
        return "mlflow-model"
    try:
        doc = yaml.safe_load(raw)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        ctx.malformed("models/unrecognized-model-file", f"MLmodel is not YAML: {problem}", src)
        return "mlflow-model"
    flavors = doc.get("flavors") if isinstance(doc, dict) else None
    conf = flavors.get("python_function") if isinstance(flavors, dict) else None
    if isinstance(conf, dict):
        _pyfunc(src, ctx, conf)
    return "mlflow-model"


def _pyfunc(src: Source, ctx: Context, conf: dict[str, Any]) -> None:
    loader = conf.get("loader_module")
    if isinstance(loader, str) and loader and not loader.startswith("mlflow."):
        _hit(src, ctx, loader, f"mlflow.pyfunc.load_model imports {loader} and calls its "
             "_load_pyfunc")  # fmt: skip
    code = conf.get("code")
    if isinstance(code, str) and code:
        _hit(src, ctx, code, f"mlflow.pyfunc.load_model puts the model's {code}/ folder on "
             "sys.path: the Python shipped there is imported")  # fmt: skip
    path = conf.get("model_code_path")
    if isinstance(path, str) and path:
        _hit(src, ctx, path, f"mlflow.pyfunc.load_model runs {path} (a model from code)")


def _hit(src: Source, ctx: Context, ref: str, what: str) -> None:
    ctx.hit("models/shipped-python-code", f"MLmodel: {what}", src, reference=ref)
