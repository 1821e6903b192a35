"""IaC scanning: one parser per input language, each producing normalized resources.

Parsers: :mod:`.terraform` (HCL folders, local modules), :mod:`.tfplan` (``terraform show
-json``), :mod:`.cloudformation`, :mod:`.arm`, :mod:`.kubernetes`; :func:`collect` walks paths
and dispatches. The rules live in :mod:`mlstix.scan.rules.iac`.
"""

from mlstix.scan.iac._tfmodule import Options
from mlstix.scan.iac.collect import Collection, collect
from mlstix.scan.iac.resource import ParsedFile, Resource, TextParser

__all__ = ["Collection", "Options", "ParsedFile", "Resource", "TextParser", "collect"]
