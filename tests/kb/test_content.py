"""The knowledge base holds what the project promises: the objects, names, categories, the edges
of the original documentation, and a graph without holes."""

from __future__ import annotations

import re

import pytest

from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import Cloud, CourseOfAction, slugify

ATTACK_PATTERNS = {
    "model-integrity": [
        "ML Model Tampering",
        "ML Model Injection",
        "ML Model Checkpoint Hijacking",
        "ML Registry Manipulation",
    ],
    "data-security": [
        "ML Training Data Poisoning",
        "ML Model Extraction",
        "ML Inference Data Exfiltration",
        "ML Adversarial Example Attacks",
    ],
    "infrastructure-and-pipeline": ["ML Pipeline Compromise", "ML Framework Exploitation"],
}
VULNERABILITIES = {
    "model-security": [
        "Unsigned ML Models",
        "Inadequate ML Provenance Tracking",
        "Unversioned Model Assets",
        "Insecure Model Serialization",
    ],
    "access-control-and-infrastructure": [
        "Inadequate Access Controls for ML Resources",
        "Unencrypted ML Model Transfer",
        "Weak ML Pipeline Authentication",
        "Exposed Model Endpoints",
        "Shared Tenancy Risks",
        "Excessive ML Model Runtime Permissions",
    ],
}
COURSES_OF_ACTION = {
    "model-integrity-and-verification": [
        "Implement ML Model Signing with Sigstore",
        "Establish ML Model Provenance Framework",
        "Implement Immutable ML Model Versioning",
    ],
    "access-control-and-monitoring": [
        "Deploy ML-Specific Access Controls",
        "Enable End-to-End ML Model Encryption",
        "Deploy ML-Specific Monitoring and Threat Detection",
    ],
    "pipeline-and-infrastructure-security": [
        "Create Secure ML Model Deployment Pipelines",
        "Implement ML Model Verification Testing",
        "Implement ML Model Runtime Security",
    ],
}

# The 33 edges of the original documentation (short names → keys below).
_AP = {
    "Tampering": "ml-model-tampering",
    "Injection": "ml-model-injection",
    "Checkpoint": "ml-model-checkpoint-hijacking",
    "Registry": "ml-registry-manipulation",
    "Poisoning": "ml-training-data-poisoning",
    "Extraction": "ml-model-extraction",
    "Exfiltration": "ml-inference-data-exfiltration",
    "Adversarial": "ml-adversarial-example-attacks",
    "Pipeline": "ml-pipeline-compromise",
    "Framework": "ml-framework-exploitation",
}
_V = {
    "Unsigned": "unsigned-ml-models",
    "Provenance": "inadequate-ml-provenance-tracking",
    "Unversioned": "unversioned-model-assets",
    "Access": "inadequate-access-controls-for-ml-resources",
    "Unencrypted": "unencrypted-ml-model-transfer",
    "PipelineAuth": "weak-ml-pipeline-authentication",
    "Endpoints": "exposed-model-endpoints",
    "Tenancy": "shared-tenancy-risks",
    "Permissions": "excessive-ml-model-runtime-permissions",
}
_C = {
    "Signing": "implement-ml-model-signing-with-sigstore",
    "Provenance": "establish-ml-model-provenance-framework",
    "Versioning": "implement-immutable-ml-model-versioning",
    "Access": "deploy-ml-specific-access-controls",
    "Encryption": "enable-end-to-end-ml-model-encryption",
    "Monitoring": "deploy-ml-specific-monitoring-and-threat-detection",
    "Pipelines": "create-secure-ml-model-deployment-pipelines",
    "Verification": "implement-ml-model-verification-testing",
    "Runtime": "implement-ml-model-runtime-security",
}
ORIGINAL_EDGES = [
    *[
        ("targets", _AP[a], _V[v])
        for a, v in [
            ("Tampering", "Unsigned"),
            ("Injection", "Access"),
            ("Checkpoint", "Unversioned"),
            ("Registry", "Access"),
            ("Poisoning", "Provenance"),
            ("Extraction", "Unencrypted"),
            ("Exfiltration", "Endpoints"),
            ("Adversarial", "Endpoints"),
            ("Pipeline", "PipelineAuth"),
            ("Framework", "Permissions"),
        ]
    ],
    *[
        ("mitigates", _C[c], _AP[a])
        for c, a in [
            ("Signing", "Tampering"),
            ("Signing", "Injection"),
            ("Signing", "Checkpoint"),
            ("Signing", "Registry"),
            ("Provenance", "Poisoning"),
            ("Versioning", "Checkpoint"),
            ("Access", "Registry"),
            ("Encryption", "Extraction"),
            ("Monitoring", "Exfiltration"),
            ("Monitoring", "Adversarial"),
            ("Pipelines", "Pipeline"),
            ("Verification", "Poisoning"),
            ("Verification", "Adversarial"),
            ("Runtime", "Framework"),
        ]
    ],
    *[
        ("mitigates", _C[c], _V[v])
        for c, v in [
            ("Signing", "Unsigned"),
            ("Provenance", "Provenance"),
            ("Versioning", "Unversioned"),
            ("Access", "Access"),
            ("Encryption", "Unencrypted"),
            ("Pipelines", "PipelineAuth"),
            ("Runtime", "Endpoints"),
            ("Runtime", "Tenancy"),
            ("Runtime", "Permissions"),
        ]
    ],
]


def _names(kb: KnowledgeBase, kind: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for obj in kb.objects:
        if obj.kind == kind:
            out.setdefault(obj.category, []).append(obj.name)
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("attack-pattern", ATTACK_PATTERNS),
        ("vulnerability", VULNERABILITIES),
        ("course-of-action", COURSES_OF_ACTION),
    ],
)
def test_objects_names_and_categories(kb: KnowledgeBase, kind: str, expected: dict) -> None:
    assert _names(kb, kind) == {k: sorted(v) for k, v in expected.items()}


def test_keys_are_slugs_of_names(kb: KnowledgeBase) -> None:
    for obj in kb.objects:
        assert obj.key == slugify(obj.name)
    assert slugify("Deploy ML-Specific Access Controls") == "deploy-ml-specific-access-controls"


def test_original_33_edges_present(kb: KnowledgeBase) -> None:
    assert len(ORIGINAL_EDGES) == 33
    have = {(r.type, r.source, r.target) for r in kb.relationships}
    missing = [e for e in ORIGINAL_EDGES if e not in have]
    assert missing == []


def test_graph_has_no_holes(kb: KnowledgeBase) -> None:
    targeted = {r.target for r in kb.relationships if r.type == "targets"}
    mitigated = {r.target for r in kb.relationships if r.type == "mitigates"}
    assert {v.key for v in kb.vulnerabilities} <= targeted
    assert {v.key for v in kb.vulnerabilities} <= mitigated
    assert {a.key for a in kb.attack_patterns} <= mitigated
    for coa in kb.courses_of_action:
        assert any(kb.get(e.target).kind == "vulnerability" for e in coa.mitigates), coa.key


def test_holes_named_by_the_issue_are_closed(kb: KnowledgeBase) -> None:
    def sources(kind: str, target: str) -> set[str]:
        return {r.source for r in kb.relationships if r.type == kind and r.target == target}

    assert sources("targets", "insecure-model-serialization")
    assert sources("mitigates", "insecure-model-serialization")
    assert sources("targets", "shared-tenancy-risks")
    # Model extraction runs through inference APIs.
    assert "exposed-model-endpoints" in {
        r.target for r in kb.edges_from("ml-model-extraction") if r.type == "targets"
    }
    for key in (_C["Monitoring"], _C["Verification"]):
        assert any(
            kb.get(e.target).kind == "vulnerability" for e in kb.course_of_action(key).mitigates
        )


def test_every_edge_explains_why(kb: KnowledgeBase) -> None:
    for rel in kb.relationships:
        assert len(rel.description.split()) >= 8, (rel.source, rel.target)


def test_cloud_guidance_is_concrete(kb: KnowledgeBase) -> None:
    for coa in kb.courses_of_action:
        assert isinstance(coa, CourseOfAction)
        assert set(coa.cloud) == set(Cloud)
        for cloud, g in coa.cloud.items():
            where = f"{coa.key}/{cloud.value}"
            assert len(g.steps) >= 4, where
            assert g.services, where
            assert g.example.code.strip(), where
            assert all(r.url.startswith("https://") for r in g.references), where


def test_vulnerabilities_carry_cwe_ids(kb: KnowledgeBase) -> None:
    for v in kb.vulnerabilities:
        assert v.references.cwe, v.key
        assert all(re.fullmatch(r"CWE-\d+", c) for c in v.references.cwe)


def test_every_object_maps_to_mitre(kb: KnowledgeBase) -> None:
    for obj in kb.objects:
        assert obj.references.mitre, obj.key


def test_texts_are_substantial(kb: KnowledgeBase) -> None:
    for obj in kb.objects:
        assert len(obj.description.split()) >= 80, obj.key
        assert len(obj.example.split()) >= 30, obj.key
        assert len(obj.detection.split()) >= 30, obj.key
