"""Class 4, Hydra ``_target_`` references: NeMo's ``model_config.yaml`` (CVE-2025-23304) and
Hydra-configured Hub models' ``config.json`` make ``hydra.utils.instantiate`` import and call
any dotted name with arguments from the file. Each was clean (not read)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from .conftest import Scan, rules

_NEMO = """\
sample_rate: 16000
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  sample_rate: 16000
encoder:
  _target_: nemo.collections.asr.modules.ConformerEncoder
  feat_in: 80
optim:
  name: adamw
  sched: {name: CosineAnnealing}
"""


@pytest.mark.parametrize(
    "target",
    ["builtins.exec", "os.system", "subprocess.Popen", "exec", "nemo.utils.os.system",
     "evil_pkg.loader.run"],
)  # fmt: skip
def test_a_target_that_runs_code_or_leaves_the_libraries_is_high(
    tmp_path: Path, scan: Scan, target: str
) -> None:
    text = _NEMO + f"decoder:\n  _target_: {target}\n  _args_: ['touch /tmp/x']\n"
    (tmp_path / "model_config.yaml").write_text(text)
    found = rules(scan(tmp_path / "model_config.yaml"), "model_config.yaml")
    assert "models/shipped-python-code" in found


def test_a_nemo_archive_config_is_read(tmp_path: Path, scan: Scan) -> None:
    """A ``.nemo`` file is a tar (gzipped or not) holding ``model_config.yaml``."""
    bio = io.BytesIO()
    config = (_NEMO + "decoder:\n  _target_: builtins.eval\n").encode()
    with tarfile.open(fileobj=bio, mode="w:gz") as tar:
        info = tarfile.TarInfo("./model_config.yaml")
        info.size = len(config)
        tar.addfile(info, io.BytesIO(config))
    (tmp_path / "asr.nemo").write_bytes(bio.getvalue())
    assert "models/shipped-python-code" in rules(scan(tmp_path / "asr.nemo"), "asr.nemo")


def test_a_hub_config_json_target_is_read(tmp_path: Path, scan: Scan) -> None:
    config = {"module_kwargs": {"_target_": "builtins.exec", "_args_": ["import os"]}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert "models/shipped-python-code" in rules(scan(tmp_path / "config.json"), "config.json")


def test_what_nemo_writes_stays_clean(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "model_config.yaml").write_text(_NEMO + "labels:\n  _target_: dict\n")
    report = scan(tmp_path / "model_config.yaml")
    assert "models/shipped-python-code" not in rules(report, "model_config.yaml")
    assert not report.errors
