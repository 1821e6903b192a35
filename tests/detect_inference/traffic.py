"""Inference traffic with real attacks in it, built here with nothing downloaded.

A scikit-learn model is trained on a data set that ships inside scikit-learn; an
:class:`Endpoint` answers queries the way a deployed endpoint would and writes each one as a
SageMaker Data Capture JSON line (CSV in, CSV scores out, the caller in ``inferenceId``).
Honest clients draw queries from held-back data. Attackers run the published attacks against
the endpoint through the same interface:

- random-query extraction (Tramèr et al., USENIX Security 2016): uniform queries over the
  input box, then a surrogate trained on the answers;
- Jacobian-based dataset augmentation (Papernot et al., AsiaCCS 2017): a small seed set grown
  by ``x + lambda * sign(grad)`` of a surrogate, round after round;
- a boundary attack (Brendel et al., ICLR 2018): a random walk along the decision boundary
  from an adversarial start towards the original, using labels only;
- a HopSkipJump-style search (Chen, Jordan, Wainwright, IEEE S&P 2020): binary search to the
  boundary, Monte-Carlo gradient-direction estimates from labels, geometric step search.

Used by the tests (small budgets) and by ``benchmarks/detect_inference.py`` (larger ones).
"""

from __future__ import annotations

import json
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Array = Any  # numpy arrays; the tests are not type-checked strictly


@dataclass
class Endpoint:
    """A deployed classifier that records every query as a Data Capture line."""

    model: Any
    low: Array
    high: Array
    rng: np.random.Generator
    lines: list[tuple[float, str]] = field(default_factory=list)
    start: float = 1_764_547_200.0  # 2025-12-01T00:00:00Z
    clocks: dict[str, float] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)

    def ask(self, client: str, x: Array) -> Array:
        """Scores for ``x`` (one input), recorded as ``client``'s query."""
        x = np.clip(np.asarray(x, dtype=np.float64), self.low, self.high)
        scores = self.model.predict_proba(x[None, :])[0]
        self._record(client, x, scores)
        return scores

    def _record(self, client: str, x: Array, scores: Array) -> None:
        # each client keeps its own pace from its own start; the log interleaves them by time
        clock = self.clocks.get(client)
        if clock is None:
            clock = self.start + float(self.rng.uniform(0, 600))
        clock += float(self.rng.exponential(2.0))
        self.clocks[client] = clock
        self.queries[client] = self.queries.get(client, 0) + 1
        when = self._iso(clock)
        record = {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": ",".join(f"{v:.4g}" for v in x),
                    "encoding": "CSV",
                },
                "endpointOutput": {
                    "observedContentType": "text/csv; charset=utf-8",
                    "mode": "OUTPUT",
                    "data": ",".join(f"{v:.5f}" for v in scores),
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {
                "eventId": str(uuid.UUID(int=len(self.lines) + 1)),
                "inferenceId": f"{client}:{len(self.lines)}",
                "inferenceTime": when,
            },
            "eventVersion": "0",
        }
        self.lines.append((clock, json.dumps(record, separators=(",", ":"))))

    def ask_batch(self, client: str, xs: Array) -> None:
        """Answer many independent queries of one client (honest traffic) in one model call."""
        xs = np.clip(np.asarray(xs, dtype=np.float64), self.low, self.high)
        for x, scores in zip(xs, self.model.predict_proba(xs), strict=True):
            self._record(client, x, scores)

    def label(self, client: str, x: Array) -> int:
        return int(np.argmax(self.ask(client, x)))

    @staticmethod
    def _iso(moment: float) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def write(self, path: Path) -> Path:
        ordered = [line for _, line in sorted(self.lines, key=lambda item: item[0])]
        path.write_text("\n".join(ordered) + "\n", encoding="utf-8")
        return path


@dataclass
class World:
    endpoint: Endpoint
    train: tuple[Array, Array]
    held_back: tuple[Array, Array]
    rng: np.random.Generator


def make_world(dataset: str = "digits", seed: int = 7) -> World:
    """Train the endpoint's model on ``digits``, ``breast_cancer``, ``wine`` or ``iris``
    (bundled with sklearn; the last two small, with few held-back inputs that honest clients
    send again and again, and iris in coarse units: tenths of a centimetre)."""
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    loaders = {"digits": load_digits, "breast_cancer": load_breast_cancer, "wine": load_wine,
               "iris": load_iris}  # fmt: skip
    loader = loaders[dataset]
    x, y = loader(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.5, random_state=seed, stratify=y
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(x_train, y_train)
    low, high = x.min(axis=0), x.max(axis=0)
    rng = np.random.default_rng(seed)
    endpoint = Endpoint(model, low, high, rng)
    return World(endpoint, (x_train, y_train), (x_test, y_test), rng)


# -- honest traffic -------------------------------------------------------------------------


def honest(world: World, client: str, count: int) -> None:
    """A client whose queries are natural inputs drawn from held-back data (each at most once
    until the pool is used up)."""
    pool = world.held_back[0]
    picks = [world.rng.permutation(len(pool)) for _ in range(count // len(pool) + 1)]
    world.endpoint.ask_batch(client, pool[np.concatenate(picks)[:count]])


# -- attacks --------------------------------------------------------------------------------


def _fit(model: Any, xs: Array, ys: Array) -> Any:
    """Fit an attacker's surrogate; it need not converge to be an attack."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(xs, ys)


def random_extraction(world: World, client: str, count: int) -> Any:
    """Tramèr et al.: uniform queries over the input box; returns the surrogate."""
    from sklearn.linear_model import LogisticRegression

    ep = world.endpoint
    xs = world.rng.uniform(ep.low, ep.high, size=(count, len(ep.low)))
    ys = [ep.label(client, x) for x in xs]
    return _fit(LogisticRegression(max_iter=500), xs, ys) if len(set(ys)) > 1 else None


def jacobian_extraction(
    world: World, client: str, seeds: int = 20, rounds: int = 5, step: float = 0.1
) -> Any:
    """Papernot et al.: grow a seed set by ``x + step*range*sign(grad)`` of the surrogate's
    score for the oracle's label, retraining each round; returns the surrogate."""
    from sklearn.linear_model import LogisticRegression

    ep = world.endpoint
    pool = world.held_back[0]
    xs = pool[world.rng.choice(len(pool), size=seeds, replace=False)]
    ys = np.array([ep.label(client, x) for x in xs])
    lam = step * (ep.high - ep.low)
    surrogate = None
    for _ in range(rounds):
        if len(set(ys.tolist())) < 2:
            break
        surrogate = _fit(LogisticRegression(max_iter=500), xs, ys)
        probs = surrogate.predict_proba(xs)
        classes = list(surrogate.classes_)
        grads = []
        for y, p in zip(ys, probs, strict=True):
            k = classes.index(y) if y in classes else 0
            # d p_k / d x for a multinomial (or binary) logistic model
            w = surrogate.coef_
            if w.shape[0] == 1:  # binary: one weight vector for class 1
                g = w[0] * p[1] * p[0] * (1 if k == 1 else -1)
            else:
                g = p[k] * (w[k] - p @ w)
            grads.append(np.sign(g))
        new = np.clip(xs + lam * np.array(grads), ep.low, ep.high)
        new_y = np.array([ep.label(client, x) for x in new])
        xs = np.vstack([xs, new])
        ys = np.concatenate([ys, new_y])
    return surrogate


def _start(world: World, client: str, x0: Array, y0: int) -> Array | None:
    """An input of another class: a held-back input the endpoint labels differently."""
    pool = world.held_back[0]
    for index in world.rng.permutation(len(pool))[:50]:
        if world.endpoint.label(client, pool[index]) != y0:
            return pool[index].astype(np.float64)
    return None


def boundary_attack(world: World, client: str, budget: int = 400) -> float:
    """Brendel et al.: random walk on the boundary towards ``x0``; returns the final L2
    distance to ``x0`` (smaller is a better adversarial example)."""
    ep = world.endpoint
    pool = world.held_back[0]
    x0 = pool[world.rng.integers(len(pool))].astype(np.float64)
    y0 = ep.label(client, x0)
    adv = _start(world, client, x0, y0)
    if adv is None:
        return float("inf")
    delta, eps = 0.01, 0.01  # Foolbox's defaults for the spherical and source steps
    while ep.queries.get(client, 0) < budget:
        diff = x0 - adv
        dist = float(np.linalg.norm(diff))
        eta = world.rng.normal(size=adv.shape)
        eta -= (eta @ diff) / (dist**2 + 1e-12) * diff  # orthogonal to the direction to x0
        eta *= delta * dist / (np.linalg.norm(eta) + 1e-12)
        candidate = adv + eta
        candidate += eps * (x0 - candidate)
        candidate = np.clip(candidate, ep.low, ep.high)
        if ep.label(client, candidate) != y0:
            adv = candidate
            eps = min(eps * 1.5, 0.5)
        else:
            eps *= 0.7
            delta = max(delta * 0.9, 1e-4)
    return float(np.linalg.norm(x0 - adv))


def hopskipjump(world: World, client: str, budget: int = 600, samples: int = 40) -> float:
    """Chen, Jordan, Wainwright: binary search to the boundary, estimate the gradient
    direction from labels of ``samples`` nearby points, step, repeat."""
    ep = world.endpoint
    pool = world.held_back[0]
    x0 = pool[world.rng.integers(len(pool))].astype(np.float64)
    y0 = ep.label(client, x0)
    adv = _start(world, client, x0, y0)
    if adv is None:
        return float("inf")
    dim = len(x0)

    def is_adv(x: Array) -> bool:
        return ep.label(client, x) != y0

    def to_boundary(a: Array) -> Array:
        lo, hi = 0.0, 1.0  # blend from x0 (lo) to a (hi)
        for _ in range(10):
            mid = (lo + hi) / 2
            if is_adv((1 - mid) * x0 + mid * a):
                hi = mid
            else:
                lo = mid
        return (1 - hi) * x0 + hi * a

    adv = to_boundary(adv)
    while ep.queries.get(client, 0) < budget:
        dist = float(np.linalg.norm(adv - x0))
        delta = max(1e-3, dist / dim)
        u = world.rng.normal(size=(samples, dim))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        signs = np.array([1.0 if is_adv(adv + delta * d) else -1.0 for d in u])
        grad = ((signs - signs.mean())[:, None] * u).mean(axis=0)
        if not np.any(grad):
            grad = (signs[:, None] * u).mean(axis=0)
        grad /= np.linalg.norm(grad) + 1e-12
        step = dist / np.sqrt(2)
        for _ in range(8):
            candidate = adv + step * grad
            if is_adv(candidate):
                adv = to_boundary(candidate)
                break
            step /= 2
        else:
            break
    return float(np.linalg.norm(adv - x0))


def findings_by_client(log: Path, kb: Any) -> dict[str, set[str]]:
    """Run the detector on ``log`` (clients by inference-id prefix) and give each client's
    rule ids, "not enough data" aside; the run must report no errors."""
    from mlstix.detect.inference import InferenceOptions, detect_inference

    report = detect_inference([str(log)], kb, InferenceOptions(client_key="inference-id-prefix::"))
    assert not report.errors
    found: dict[str, set[str]] = {}
    for f in report.findings:
        if f.rule_id != "inference/not-enough-data":
            found.setdefault(str(f.evidence["client"]), set()).add(f.rule_id)
    return found
