"""Rules of ``mlstix scan iac``: metadata as data (``data/*.yaml``), logic where needed.

:func:`default_registry` loads them; :func:`evaluate` runs rules over resources and returns
findings in knowledge-base terms.
"""

from mlstix.scan.iac_rules.engine import evaluate
from mlstix.scan.iac_rules.model import Rule
from mlstix.scan.iac_rules.registry import Context, Hit, RuleRegistry, default_registry

__all__ = ["Context", "Hit", "Rule", "RuleRegistry", "default_registry", "evaluate"]
