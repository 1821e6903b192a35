"""Rules of ``mlstix scan iac``: metadata as data (``data/*.yaml``), logic where needed.

:func:`default_registry` loads them; :func:`evaluate` runs rules over resources and returns
findings in knowledge-base terms.
"""

from mlstix.scan.rules.iac.context import Context, Hit
from mlstix.scan.rules.iac.engine import Evaluation, evaluate, evaluate_isolated
from mlstix.scan.rules.iac.model import Rule
from mlstix.scan.rules.iac.registry import RuleRegistry, default_registry

__all__ = [
    "Context",
    "Evaluation",
    "Hit",
    "Rule",
    "RuleRegistry",
    "default_registry",
    "evaluate",
    "evaluate_isolated",
]
