"""Python rules for SageMaker models that depend on how the model is served: network isolation
(MLSTIX-AWS-SM-005) and VPC placement (MLSTIX-AWS-SM-006).

SageMaker Serverless Inference does not support VPC configuration nor network isolation (the
"feature exclusions" of Serverless Inference in the SageMaker Developer Guide), so asking a model
that only serverless endpoints serve for either cannot be met. A model is excused when every
production variant of the scan's endpoint configurations that names it has a
``ServerlessConfig`` (``serverless_config``); a model that no configuration names, one that an
instance-backed variant also serves, or one beside a variant whose model cannot be known is
judged, and the evidence says which variants serve it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlstix.scan.iac._values import is_unknown
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac._refs import iter_strings, refers_to
from mlstix.scan.rules.iac.context import Context, Hit, Logic
from mlstix.scan.rules.iac.declarative import evaluate_condition
from mlstix.scan.rules.iac.model import Condition

__all__ = ["LOGIC"]


@dataclass(frozen=True)
class _Shape:
    model: str
    config: str
    variants: str
    model_name: str
    serverless: str
    name_attr: str


_SHAPES = {
    "terraform": _Shape(
        "aws_sagemaker_model",
        "aws_sagemaker_endpoint_configuration",
        "production_variants",
        "model_name",
        "serverless_config",
        "name",
    ),
    "cloudformation": _Shape(
        "AWS::SageMaker::Model",
        "AWS::SageMaker::EndpointConfig",
        "ProductionVariants",
        "ModelName",
        "ServerlessConfig",
        "ModelName",
    ),
}

_CHECKS = {
    "isolation": {
        "terraform": Condition(
            path="enable_network_isolation", op="equals", expected=True, default=False
        ),
        "cloudformation": Condition(
            path="EnableNetworkIsolation", op="equals", expected=True, default=False
        ),
    },
    "vpc": {
        "terraform": Condition(path="vpc_config.subnets", op="set"),
        "cloudformation": Condition(path="VpcConfig.Subnets", op="set"),
    },
}


@dataclass(frozen=True)
class _Variant:
    config: Resource
    name: str  # VariantName, for the evidence
    model: Any  # the ModelName value: a literal, a reference, or unknown
    serverless: bool


def _variants(ctx: Context, dialect: str, shape: _Shape) -> list[_Variant]:
    out = []
    for cfg in ctx.of_type(dialect, shape.config):
        rows = cfg.attributes.get(shape.variants)
        if is_unknown(rows):
            out.append(_Variant(cfg, "?", rows, serverless=False))
            continue
        for i, v in enumerate(as_list(rows)):
            if not isinstance(v, Mapping):
                continue
            name = v.get("variant_name") or v.get("VariantName") or f"#{i}"
            out.append(
                _Variant(cfg, str(name), v.get(shape.model_name), bool(v.get(shape.serverless)))
            )
    return out


_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def _served(
    variants: list[_Variant], models: list[Resource], shape: _Shape
) -> dict[int, list[_Variant]]:
    """id(model) → the variants that name it: by literal model name (in the same scope and, for
    live models whose names are unique per region, the same region), or by a reference to it.
    Indexed, so a large scan costs one pass over the variants."""
    by_literal: dict[tuple[str, Any, str], list[Resource]] = {}
    by_name: dict[tuple[str, str], list[Resource]] = {}
    for m in models:
        literal = m.attributes.get(shape.name_attr)
        if isinstance(literal, str) and not is_unknown(literal):
            by_literal.setdefault((m.scope, m.extra.get("region"), literal), []).append(m)
        by_name.setdefault((m.scope, m.name), []).append(m)
    out: dict[int, list[_Variant]] = {}
    for v in variants:
        scope, region = v.config.scope, v.config.extra.get("region")
        found: dict[int, Resource] = {}
        if isinstance(v.model, str) and not is_unknown(v.model):
            found.update((id(m), m) for m in by_literal.get((scope, region, v.model), ()))
        for token in {t for text in iter_strings(v.model) for t in _TOKEN.findall(text)}:
            for m in by_name.get((scope, token), ()):
                if m.extra.get("region") == region and refers_to(v.model, m):
                    found[id(m)] = m
        for key in found:
            out.setdefault(key, []).append(v)
    return out


def _label(v: _Variant) -> str:
    cfg = v.config.attributes.get("EndpointConfigName") or v.config.attributes.get("name")
    shown = cfg if isinstance(cfg, str) and not is_unknown(cfg) else v.config.name
    return f"{shown}/{v.name}"


def _judge(kind: str) -> Logic:
    def logic(ctx: Context) -> Iterator[Hit]:
        for dialect, shape in _SHAPES.items():
            cond = _CHECKS[kind][dialect]
            variants = _variants(ctx, dialect, shape)
            models = ctx.of_type(dialect, shape.model)
            served = _served(variants, models, shape)
            placed = {id(v) for vs in served.values() for v in vs}
            # instance-backed variants whose model is none of the scan's: they may serve any
            unplaced = [v for v in variants if not v.serverless and id(v) not in placed]
            for model in models:
                failed = evaluate_condition(cond, model.attributes)
                if failed is None:
                    continue
                serving = served.get(id(model), [])
                unknown = [
                    v
                    for v in unplaced
                    if v.config.scope == model.scope and (is_unknown(v.model) or v.model is None)
                ]
                instance = [v for v in serving if not v.serverless]
                serverless = [v for v in serving if v.serverless]
                if serverless and not instance and not unknown:
                    continue  # Serverless Inference supports neither setting: nothing to fix
                if instance:
                    why = "an instance-backed production variant serves it (" + ", ".join(
                        _label(v) for v in instance
                    )
                    why += ")"
                elif serverless:
                    why = "a production variant whose model is not known may serve it on instances"
                else:
                    why = (
                        "no endpoint configuration of this scan serves it only through "
                        "Serverless Inference"
                    )
                yield Hit(
                    model,
                    f"{failed.describe()}; {why}",
                    {
                        **failed.evidence(),
                        "served_by": sorted(_label(v) for v in serving),
                        "serverless_only": False,
                        "reason": why,
                    },
                )

    return logic


LOGIC: dict[str, Logic] = {
    "sagemaker-model-isolation": _judge("isolation"),
    "sagemaker-model-vpc": _judge("vpc"),
}
