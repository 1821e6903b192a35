"""Class 4, MLflow's ``MLmodel``: ``mlflow.pyfunc.load_model`` imports the ``loader_module`` it
names and calls its ``_load_pyfunc``, puts the model's ``code`` folder on ``sys.path``, and runs
a model-from-code file. Each was clean (``MLmodel`` was not read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Scan, rules

_SKLEARN = """\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.9.1
mlflow_version: 3.1.0
model_uuid: 6b1f0c1e3c4b4d7e9f0a1b2c3d4e5f60
utc_time_created: '2026-11-30 10:00:00.000000'
"""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("loader_module: mlflow.sklearn", "loader_module: evil_loader"),
        ("    predict_fn: predict", "    predict_fn: predict\n    code: code"),
        ("    predict_fn: predict", "    predict_fn: predict\n    model_code_path: agent.py"),
    ],
    ids=["loader-module", "code-folder", "model-from-code"],
)
def test_what_mlflow_imports_or_runs_is_high(
    tmp_path: Path, scan: Scan, old: str, new: str
) -> None:
    (tmp_path / "MLmodel").write_text(_SKLEARN.replace(old, new))
    assert "models/shipped-python-code" in rules(scan(tmp_path / "MLmodel"), "MLmodel")


def test_what_mlflow_sklearn_writes_stays_clean(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "MLmodel").write_text(_SKLEARN)
    report = scan(tmp_path / "MLmodel")
    assert "models/shipped-python-code" not in rules(report, "MLmodel")
    assert not report.errors and report.scanned[0].kind == "mlflow-model"


def test_an_mlmodel_mlflow_cannot_read_is_an_error(tmp_path: Path, scan: Scan) -> None:
    """``Model.load`` uses ``yaml.safe_load``: a Python tag fails the load."""
    (tmp_path / "MLmodel").write_text("flavors: !!python/object/apply:os.system ['id']\n")
    report = scan(tmp_path / "MLmodel")
    assert report.errors and "MLmodel is not YAML" in report.errors[0].message
