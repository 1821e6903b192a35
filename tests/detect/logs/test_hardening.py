"""Defects found in review of the detection content (issue 15 follow-up): requests logged at
several audit stages, and the outcome a finding reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlstix.detect.logs import detect_logs
from tests.detect.logs.conftest import event, write_lines

EXEC = {
    "verb": "create",
    "requestURI": "/api/v1/namespaces/kserve-prod/pods/fraud-predictor-0/exec?command=sh",
    "objectRef": {
        "resource": "pods",
        "namespace": "kserve-prod",
        "name": "fraud-predictor-0",
        "apiVersion": "v1",
        "subresource": "exec",
    },
}


def _stages(audit_id: str, final_code: int, stages: tuple[str, ...]) -> list[dict[str, Any]]:
    """One request as the API server logs it under a policy that omits no stage."""
    out = []
    for stage in stages:
        ev = event("k8s", {**EXEC, "auditID": audit_id, "stage": stage})
        if stage == "RequestReceived":
            del ev["responseStatus"]
        else:
            code = 101 if stage == "ResponseStarted" else final_code
            ev["responseStatus"] = {"metadata": {}, "code": code}
        out.append(ev)
    return out


def test_a_request_logged_at_every_stage_is_one_finding_with_its_outcome(
    tmp_path: Path, kb: Any
) -> None:
    allowed = _stages(
        "0b0f6a2e-1111-4c2e-9a51-0f6b2d7e8c90",
        101,
        ("RequestReceived", "ResponseStarted", "ResponseComplete"),
    )
    # a refused exec never becomes a stream: no ResponseStarted
    denied = _stages(
        "0b0f6a2e-2222-4c2e-9a51-0f6b2d7e8c90", 403, ("RequestReceived", "ResponseComplete")
    )
    log = write_lines(tmp_path / "audit.log", [*allowed, *denied])
    report = detect_logs(kb, [log], jobs=1)
    assert not report.errors
    found = [(f.location.line, f.evidence["outcome"]) for f in report.findings]
    assert found == [(3, "allowed, HTTP 101"), (5, "denied, HTTP 403")]
    assert report.findings[1].message.endswith("(denied, HTTP 403)")


# the page documenting each log source's record format, one of which every rule cites
LOG_DOCS = {
    "aws": (
        "docs.aws.amazon.com/awscloudtrail/",
        "/logging-using-cloudtrail.html",
        "/cloudtrail-logging-s3-info.html",
        "/cloudtrail-integration.html",
        "/feature-store-logging-using-cloudtrail.html",
    ),
    "azure": ("learn.microsoft.com/en-us/azure/azure-monitor/essentials/activity-log-schema",),
    "gcp": ("/docs/audit-logging", "/general/audit-logging", "/Shared.Types/AuditLog"),
    "kubernetes": ("kubernetes.io/docs/tasks/debug/debug-cluster/audit/",),
}


def test_every_rule_cites_its_log_format_documentation(kb: Any) -> None:
    for rule in kb.detections.rules:
        docs = LOG_DOCS[rule.product]
        assert any(d in ref for ref in rule.references for d in docs), rule.name


def test_container_image_regex_is_the_complement_of_the_ecr_filter(kb: Any) -> None:
    """The ECR rule's Containers expression must say 'not ECR' exactly where filter_ecr says
    'ECR' (RE2 has no lookahead, so it is written out): compared on ECR hosts mutated at every
    position, with Python's re and with DuckDB's RE2, the engine that runs it."""
    import random
    import re

    import duckdb
    import yaml

    rule = next(r for r in kb.detections.rules if r.name == "aws-sagemaker-model-image-outside-ecr")
    detection = yaml.safe_load(rule.text)["detection"]
    ecr = detection["filter_ecr"]["requestParameters.primaryContainer.image|re"]
    non = detection["selection_containers"]["requestParameters.containers{}.image|re"]
    hosts = [
        "111122223333.dkr.ecr.eu-west-1.amazonaws.com/",
        "111122223333.dkr.ecr-fips.us-gov-west-1.amazonaws.com/",
        "111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn/",
        "111122223333.dkr-ecr.eu-west-1.on.aws/",
    ]
    pieces = [".", "/", "-", "dkr", "ecr", "ecr-fips", "amazonaws", "com", "cn", "on", "aws", "1",
              "X", "_", "evil", ""]  # fmt: skip
    rnd = random.Random(15)
    images = []
    for _ in range(20_000):
        host = rnd.choice(hosts)
        i = rnd.randrange(len(host) + 1)
        j = min(len(host), i + rnd.randrange(0, 4))
        images.append(host[:i] + rnd.choice(pieces) + host[j:] + "fraud-serving:v8")
    assert sum(re.search(ecr, s) is not None for s in images) > 2_000  # both sides are exercised
    assert all((re.search(ecr, s) is None) == (re.search(non, s) is not None) for s in images)
    con = duckdb.connect()
    rows = con.execute(
        "SELECT count(*) FROM (SELECT unnest(?) AS s) WHERE regexp_matches(s, ?) = "
        "regexp_matches(s, ?)",
        [images, ecr, non],
    ).fetchall()
    assert rows == [(0,)]


def test_person_in_the_delegation_chain_regex_is_not_a_service_account_email(kb: Any) -> None:
    """The GCP by-user rules excuse a service account unless a delegating principal's email does
    not end with .gserviceaccount.com; the expression (a suffix complement, RE2 having no
    lookahead) must say exactly that."""
    import random
    import re

    import yaml

    field = (
        "protoPayload.authenticationInfo.serviceAccountDelegationInfo{}.firstPartyPrincipal"
        ".principalEmail|re"
    )
    found = {
        r.name: yaml.safe_load(r.text)["detection"]["selection_impersonated_by_person"][field]
        for r in kb.detections.rules
        if "selection_impersonated_by_person" in r.text
    }
    assert len(found) == 5 and len(set(found.values())) == 1
    person = next(iter(found.values()))
    seeds = ["alice@example.com", "pipeline@acme-ml.iam.gserviceaccount.com",
             "123-compute@developer.gserviceaccount.com", "x@gserviceaccount.com.evil.example",
             ".gserviceaccount.com", "gserviceaccount.com", ""]  # fmt: skip
    rnd = random.Random(4)
    for _ in range(20_000):
        s = rnd.choice(seeds)
        i = rnd.randrange(len(s) + 1)
        s = s[:i] + rnd.choice(["", ".", "g", "m", "@", "com"]) + s[i + rnd.randrange(0, 3) :]
        assert (re.search(person, s) is not None) != s.endswith(".gserviceaccount.com"), s
