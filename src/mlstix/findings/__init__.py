"""Findings: the result model every scanner shares, and its output formats."""

from mlstix.findings.model import Finding, Location, Report, ScanError, ScannedFile, Severity

__all__ = ["Finding", "Location", "Report", "ScanError", "ScannedFile", "Severity"]
