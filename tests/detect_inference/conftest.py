"""Fixtures shared by the inference-detection tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(params=[2, 1, 0], ids=["fma", "avx", "portable"])
def simd_variant(request: pytest.FixtureRequest) -> Iterator[None]:
    """Runs a test with each variant of the compiled kernel this processor has: AVX with FMA,
    AVX, and the portable one (what processors without AVX, and other architectures, run).
    Modules that test ``_kernel`` use it with ``pytestmark = pytest.mark.usefixtures(...)``."""
    kernel = pytest.importorskip(
        "mlstix.detect.inference._kernel", reason="the C kernel is not built (no compiler?)"
    )
    cap, best = kernel.simd(request.param)
    if request.param > best:
        kernel.simd(cap)
        pytest.skip(f"this processor has no {request.node.callspec.id} variant")
    yield
    kernel.simd(cap)
