"""Live posture assessment: read a running ML estate and judge it with the knowledge base's rules.

One collector per cloud (:mod:`.aws`, :mod:`.kubernetes`) produces the same
:class:`~mlstix.scan.iac.resource.Resource` the IaC parsers produce, into an :class:`Inventory`;
:func:`evaluate_inventory` runs the IaC rules of that cloud and the live-only rules over it.
An inventory can be saved as a snapshot and judged again later, offline.
"""

from mlstix.assess._evaluate import evaluate_inventory
from mlstix.assess._inventory import Inventory, SnapshotError, load_snapshot, save_snapshot

__all__ = ["Inventory", "SnapshotError", "evaluate_inventory", "load_snapshot", "save_snapshot"]
