"""mlstix as an OSCAL component definition: the validation tool whose rules check the benchmark's
controls (OSCAL 1.2 component model, built with compliance-trestle).

One defined component of type ``validation``. Its props declare every rule that decides a control
in compliance-trestle's rule convention (the one its ``csv-to-oscal-cd`` task writes and
compliance-to-policy tools read): ``Rule_Id``, ``Rule_Description``, ``Check_Id`` and
``Check_Description`` in trestle's namespace, grouped by a ``remarks`` of ``rule_set_NNN``, plus
the platform and the mlstix command that runs it in our namespace. One control implementation
whose ``source`` is the catalog (the back-matter resource the profiles import too) holds an
implemented requirement per automated control, naming its rules with ``Rule_Id`` props; a control
whose rules can fail but not pass it says so with a ``rules-can-pass`` prop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from trestle.oscal import common
from trestle.oscal import component as comp

from mlstix import __version__
from mlstix.benchmark._catalog import CatalogRule
from mlstix.benchmark._oscal_common import (
    catalog_resource,
    control_id,
    metadata,
    prop,
    released,
    uuid5,
)
from mlstix.kb.controls import Benchmark

__all__ = ["TRESTLE_NS", "component_definition"]

TRESTLE_NS = "https://oscal-compass.github.io/compliance-trestle/schemas/oscal"


def _rule_props(index: int, rule: CatalogRule) -> list[common.Property]:
    rule_set = f"rule_set_{index:03d}"

    def trestle(name: str, value: str) -> common.Property:
        return common.Property(name=name, value=value, ns=TRESTLE_NS, remarks=rule_set)

    ours = [prop("platform", rule.platform), prop("command", rule.command)]
    return [
        trestle("Rule_Id", rule.id),
        trestle("Rule_Description", rule.title or rule.id),
        trestle("Check_Id", rule.id),
        trestle("Check_Description", f"{rule.command} --format json: {rule.title or rule.id}"),
        *(p.model_copy(update={"remarks": rule_set}) for p in ours),
    ]


def component_definition(
    bench: Benchmark, rules: Mapping[str, CatalogRule]
) -> comp.ComponentDefinition:
    """The component definition of mlstix for ``bench``: the rules it runs and the controls
    they decide."""
    known = set(rules)
    deciding = {c.id: bench.rules_of(c, known) for c in bench.controls}
    used = sorted({r for ids in deciding.values() for r in ids})
    props = [p for i, r in enumerate(used, start=1) for p in _rule_props(i, rules[r])]
    resource = catalog_resource(bench)
    requirements = []
    for control in bench.controls:
        ids = deciding[control.id]
        if not ids:
            continue
        cid = control_id(control)
        req_props = [common.Property(name="Rule_Id", value=r, ns=TRESTLE_NS) for r in ids]
        if not control.audit.rules_can_pass:
            req_props.append(prop("rules-can-pass", "false"))
        for platform in control.audit.rules_pass_on or ():
            req_props.append(prop("rules-pass-on", platform.value))
        requirements.append(
            comp.ImplementedRequirement(
                uuid=uuid5("implemented-requirement", bench.info.id, cid),
                control_id=cid,
                description=f"{control.id} is decided by the mlstix rules {', '.join(ids)}.",
                props=req_props,
            )
        )
    content = hashlib.sha256("\x1f".join(f"{k}={v}" for k, v in sorted(deciding.items())).encode())
    for r in used:
        content.update(f"\x1e{r}\x1f{rules[r].title}\x1f{rules[r].command}".encode())
    implementation = comp.ControlImplementation(
        uuid=uuid5("control-implementation", bench.info.id, bench.info.version),
        source=f"#{resource.uuid}",
        description=(
            f"The controls of {bench.info.title} {bench.info.version} that mlstix rules decide."
        ),
        implemented_requirements=requirements,
    )
    component = comp.DefinedComponent(
        uuid=uuid5("component", "mlstix"),
        type="validation",
        title="mlstix",
        description=(
            f"mlstix {__version__}: model-file, IaC and live cloud scanners whose JSON reports "
            "`mlstix benchmark assess` turns into control results."
        ),
        props=props,
        control_implementations=[implementation],
    )
    return comp.ComponentDefinition(
        uuid=uuid5(
            "component-definition",
            bench.info.id,
            bench.info.version,
            __version__,
            content.hexdigest(),
        ),
        metadata=metadata(bench, f"{bench.info.title}: mlstix rules", released(bench)),
        components=[component],
        back_matter=common.BackMatter(resources=[resource]),
    )
