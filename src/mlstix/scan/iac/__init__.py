"""IaC scanning: one parser per input language, each producing normalized resources.

Parsers: :mod:`.terraform` (HCL folders, evaluated as ``terraform plan`` would by
:mod:`._tfmodule`), :mod:`.tfplan` (``terraform show -json``), :mod:`.cloudformation` (with
Conditions and SAM), :mod:`.arm`, :mod:`.kubernetes`; :func:`collect` walks paths and
dispatches; :class:`Options` carries ``--var``/``--var-file``/``--parameter`` values. The rules
live in :mod:`mlstix.scan.rules.iac`.
"""

from mlstix.scan.iac._tfmodule import Options
from mlstix.scan.iac.collect import Collection, collect
from mlstix.scan.iac.resource import ParsedFile, Resource, TextParser

__all__ = ["Collection", "Options", "ParsedFile", "Resource", "TextParser", "collect"]
