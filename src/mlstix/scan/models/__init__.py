"""Model-artifact scanning: find unsafe serialization, unsigned and unprovenanced models.

``scan_models(paths, kb, ScanOptions(...))`` returns a :class:`~mlstix.findings.model.Report`.
It never loads, imports, unpickles or executes what it scans: it parses bytes.
"""

from mlstix.scan.models._context import Limits
from mlstix.scan.models._integrity import Trust
from mlstix.scan.models._policy import ScanPolicy, load_policy
from mlstix.scan.models.engine import ScanOptions, scan_models

__all__ = ["Limits", "ScanOptions", "ScanPolicy", "Trust", "load_policy", "scan_models"]
