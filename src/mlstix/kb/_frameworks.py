"""Identifiers of the frameworks the benchmark controls map to, with their titles.

A control may only cite an identifier listed here, so a typo (``SI-17``, ``MEASURE 2.70``) is a
load error rather than a wrong mapping shipped to an auditor.

- NIST SP 800-53 Rev. 5 (September 2020, updated 2020-12-10): the controls and enhancements the
  benchmark cites, titles as in the catalog (https://csrc.nist.gov/pubs/sp/800/53/r5/upd1/final).
- NIST AI RMF 1.0 (NIST AI 100-1, January 2023): all 72 subcategories of its core (GOVERN 1.1 to
  MANAGE 4.3), Tables 1 to 4 (https://doi.org/10.6028/NIST.AI.100-1).
- EU AI Act, Regulation (EU) 2024/1689, Article 15 "Accuracy, robustness and cybersecurity"
  (https://eur-lex.europa.eu/eli/reg/2024/1689/oj): its five paragraphs.
- OWASP Machine Learning Security Top 10 (2023): ML01 to ML10.
"""

from __future__ import annotations

__all__ = ["AI_RMF", "EU_AI_ACT", "NIST_800_53", "OWASP_ML"]

NIST_800_53: dict[str, str] = {
    "AC-3": "Access Enforcement",
    "AC-4": "Information Flow Enforcement",
    "AC-6": "Least Privilege",
    "AC-6(5)": "Least Privilege | Privileged Accounts",
    "AC-6(9)": "Least Privilege | Log Use of Privileged Functions",
    "AC-17": "Remote Access",
    "AU-2": "Event Logging",
    "AU-6": "Audit Record Review, Analysis, and Reporting",
    "AU-9": "Protection of Audit Information",
    "AU-10": "Non-repudiation",
    "AU-12": "Audit Record Generation",
    "CA-7": "Continuous Monitoring",
    "CM-2": "Baseline Configuration",
    "CM-3": "Configuration Change Control",
    "CM-5": "Access Restrictions for Change",
    "CM-6": "Configuration Settings",
    "CM-7": "Least Functionality",
    "CM-8": "System Component Inventory",
    "CM-14": "Signed Components",
    "CP-9": "System Backup",
    "IA-2": "Identification and Authentication (Organizational Users)",
    "IA-5": "Authenticator Management",
    "IA-9": "Service Identification and Authentication",
    "IR-4": "Incident Handling",
    "RA-5": "Vulnerability Monitoring and Scanning",
    "SA-10": "Developer Configuration Management",
    "SA-11": "Developer Testing and Evaluation",
    "SC-5": "Denial-of-service Protection",
    "SC-7": "Boundary Protection",
    "SC-8": "Transmission Confidentiality and Integrity",
    "SC-8(1)": "Transmission Confidentiality and Integrity | Cryptographic Protection",
    "SC-12": "Cryptographic Key Establishment and Management",
    "SC-13": "Cryptographic Protection",
    "SC-28": "Protection of Information at Rest",
    "SC-28(1)": "Protection of Information at Rest | Cryptographic Protection",
    "SC-39": "Process Isolation",
    "SI-3": "Malicious Code Protection",
    "SI-4": "System Monitoring",
    "SI-7": "Software, Firmware, and Information Integrity",
    "SI-7(1)": "Software, Firmware, and Information Integrity | Integrity Checks",
    "SI-7(6)": "Software, Firmware, and Information Integrity | Cryptographic Protection",
    "SI-7(15)": "Software, Firmware, and Information Integrity | Code Authentication",
    "SI-10": "Information Input Validation",
    "SR-3": "Supply Chain Controls and Processes",
    "SR-4": "Provenance",
    "SR-4(3)": "Provenance | Validate as Genuine and Not Altered",
    "SR-11": "Component Authenticity",
}

_RMF_SHAPE = {
    "GOVERN": {1: 7, 2: 3, 3: 2, 4: 3, 5: 2, 6: 2},
    "MAP": {1: 6, 2: 3, 3: 5, 4: 2, 5: 2},
    "MEASURE": {1: 3, 2: 13, 3: 3, 4: 3},
    "MANAGE": {1: 4, 2: 4, 3: 2, 4: 3},
}
AI_RMF: frozenset[str] = frozenset(
    f"{function} {category}.{sub}"
    for function, categories in _RMF_SHAPE.items()
    for category, count in categories.items()
    for sub in range(1, count + 1)
)

EU_AI_ACT: dict[str, str] = {
    "Art. 15(1)": "appropriate level of accuracy, robustness and cybersecurity over the lifecycle",
    "Art. 15(2)": "benchmarks and measurement methodologies for accuracy and robustness",
    "Art. 15(3)": "accuracy levels and metrics declared in the instructions for use",
    "Art. 15(4)": (
        "resilience to errors, faults and inconsistencies; redundancy and fail-safe plans"
    ),
    "Art. 15(5)": (
        "resilience against unauthorised third parties exploiting vulnerabilities: data "
        "poisoning, model poisoning, adversarial examples, confidentiality attacks, model flaws"
    ),
}

OWASP_ML: dict[str, str] = {
    "ML01:2023": "Input Manipulation Attack",
    "ML02:2023": "Data Poisoning Attack",
    "ML03:2023": "Model Inversion Attack",
    "ML04:2023": "Membership Inference Attack",
    "ML05:2023": "Model Theft",
    "ML06:2023": "AI Supply Chain Attacks",
    "ML07:2023": "Transfer Learning Attack",
    "ML08:2023": "Model Skewing",
    "ML09:2023": "Output Integrity Attack",
    "ML10:2023": "Model Poisoning",
}
