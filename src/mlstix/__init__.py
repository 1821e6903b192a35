"""mlstix: security of machine-learning models in cloud environments.

A knowledge base of attack patterns, vulnerabilities and courses of action published as STIX 2.1,
and the tools that act on it: model and cloud-configuration scanners, model signing and ML-BOMs,
reports, and a TAXII 2.1 server.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
