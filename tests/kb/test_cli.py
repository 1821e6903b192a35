"""`mlstix kb ...` as a user runs it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.kb.graph import KnowledgeBase


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200", **(env or {})})
    return result.exit_code, result.output


def test_build_writes_the_committed_tree(tmp_path: Path, repo_root: Path) -> None:
    code, out = run("kb", "build", "--out", str(tmp_path))
    assert code == 0, out
    for name in ("bundle.json", "mappings.json", "relationships.json"):
        assert (tmp_path / "stix" / name).read_bytes() == (repo_root / "stix" / name).read_bytes()
    assert (tmp_path / "relationship-diagram.md").is_file()
    assert (tmp_path / "docs/reference/vulnerability/insecure-model-serialization.md").is_file()
    assert "29 objects" in out


def test_build_outside_checkout_needs_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run("kb", "build")
    assert code == 2
    assert "--out" in out


def test_list_filters_by_type() -> None:
    code, out = run("kb", "list", "--type", "vulnerability")
    assert code == 0
    assert "insecure-model-serialization" in out
    assert "ml-model-tampering" not in out


def test_list_rejects_unknown_type() -> None:
    code, out = run("kb", "list", "--type", "malware")
    assert code == 2
    assert "malware" in out


def test_show_course_of_action_for_one_cloud(kb: KnowledgeBase) -> None:
    key = "implement-ml-model-signing-with-sigstore"
    code, out = run("kb", "show", key, "--cloud", "gcp")
    assert code == 0, out
    assert "Google Cloud" in out
    first_service = kb.course_of_action(key).cloud["gcp"].services[0]  # type: ignore[index]
    assert first_service.split()[0] in out


def test_show_unknown_key_suggests() -> None:
    code, out = run("kb", "show", "tampering")
    assert code == 2
    assert "no knowledge-base object with key 'tampering'" in out
    assert "ml-model-tampering" in out


def test_show_cloud_on_attack_pattern_is_a_usage_error() -> None:
    code, out = run("kb", "show", "ml-model-tampering", "--cloud", "aws")
    assert code == 2
    assert "--cloud applies to courses of action" in out


@pytest.mark.parametrize(("fmt", "marker"), [("mermaid", "flowchart LR"), ("dot", "digraph")])
def test_graph_formats(fmt: str, marker: str) -> None:
    code, out = run("kb", "graph", "--format", fmt)
    assert code == 0
    assert out.startswith(marker)
    assert "insecure_model_serialization" in out or "insecure-model-serialization" in out


def test_validate_accepts_committed_bundle(repo_root: Path) -> None:
    code, out = run("kb", "validate", str(repo_root / "stix" / "bundle.json"))
    assert code == 0, out
    assert "valid" in out


def test_validate_reports_object_and_property(tmp_path: Path, repo_root: Path) -> None:
    bundle = json.loads((repo_root / "stix" / "vulnerabilities.json").read_text())
    victim = next(o for o in bundle["objects"] if o["type"] == "vulnerability")
    del victim["name"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bundle))
    code, out = run("kb", "validate", str(bad))
    assert code == 2
    assert victim["id"] in out
    assert "name" in out


def test_validate_reports_non_json(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    code, out = run("kb", "validate", str(bad))
    assert code == 2
    assert "not JSON" in out


def test_validate_reports_missing_file(tmp_path: Path) -> None:
    code, out = run("kb", "validate", str(tmp_path / "absent.json"))
    assert code == 2
    assert f"error: {tmp_path / 'absent.json'}: no such file or directory" in out


def test_check_summarizes() -> None:
    code, out = run("kb", "check")
    assert code == 0
    assert "10 attack patterns, 10 vulnerabilities, 9 courses of action" in out


def test_demo_builds_kb_and_scans_the_examples() -> None:
    code, out = run("demo")
    assert code == 0, out
    assert "stix2-validator --strict: valid" in out
    assert "problems" not in out
    # the planted pickle payload and the IaC gaps of examples/ are found
    assert "os.system" in out
    assert "MLSTIX-AWS-SM-001" in out
    assert "MLSTIX-K8S-SRV-001" in out
    # the next step names a key that exists, and that key's page opens
    match = re.search(r"Next: `mlstix kb show ([a-z0-9-]+)`", " ".join(out.split()))
    assert match is not None, out[-600:]
    assert run("kb", "show", match.group(1))[0] == 0


def test_show_reads_relationships_in_the_passive() -> None:
    code, out = run("kb", "show", "insecure-model-serialization")
    assert code == 0
    assert "targeted by** ML Model Injection" in out
    assert "mitigated by** Implement ML Model Verification Testing" in out
    assert "targets by" not in out and "mitigates by" not in out


def test_show_piped_is_markdown_with_whole_urls() -> None:
    """CliRunner's stdout is not a terminal: the page is Markdown source, URLs never wrapped."""
    code, out = run("kb", "show", "implement-ml-model-signing-with-sigstore", env={"COLUMNS": "60"})
    assert code == 0
    assert out.startswith("# Implement ML Model Signing with Sigstore\n")
    urls = re.findall(r"\]\((https://[^)]*)\)", out)
    assert urls and all(" " not in u and "\n" not in u for u in urls)


def test_list_as_json() -> None:
    code, out = run("kb", "list", "--type", "VULNERABILITY", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert {r["type"] for r in rows} == {"vulnerability"}
    assert "insecure-model-serialization" in {r["key"] for r in rows}
