"""A small, real hyper-parameter tuning benchmark, tuned on Dask with numpy and pandas only.

Challenges: models tuned on generated data sets (seeded, so every worker makes the same data
and nothing is downloaded) and classic test functions. Tuners: random search, grid search and a
Gaussian-process (model-based) tuner. One Dask task per (challenge, tuner), computed on the
default client: the run's cluster. It needs nothing beyond what every Dask pod has, so the
image the workers pull carries no library for the example alone.
"""

from __future__ import annotations

import itertools
import math
import random
import socket
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# ---------------------------------------------------------------- search spaces


@dataclass(frozen=True)
class Param:
    name: str
    low: float
    high: float
    integer: bool = False
    log: bool = False

    def value(self, unit: float) -> float | int:
        """Map a point of [0, 1] to this parameter's range."""
        if self.log:
            value = math.exp(math.log(self.low) + unit * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + unit * (self.high - self.low)
        return int(round(value)) if self.integer else float(value)


@dataclass(frozen=True)
class Challenge:
    name: str
    kind: str  # "dataset" or "math"
    space: tuple[Param, ...]
    score: Callable[[dict], float]  # higher is better

    def evaluate(self, unit_point: Sequence[float]) -> float:
        params = {p.name: p.value(u) for p, u in zip(self.space, unit_point, strict=True)}
        return float(self.score(params))


# ---------------------------------------------------------------- data sets and models

_FOLDS = 3


def _blobs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(0, 2.5, (3, 4))
    y = rng.integers(0, 3, 300)
    return centres[y] + rng.normal(0, 1.6, (300, 4)), y


def _moons(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, 300)
    angle = rng.uniform(0, math.pi, 300)
    x = np.column_stack([np.cos(angle) - y, np.sin(angle) * (1 - 2 * y) + 0.5 * y])
    return x + rng.normal(0, 0.25, x.shape), y


def _circles(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, 300)
    angle = rng.uniform(0, 2 * math.pi, 300)
    radius = np.where(y == 1, 0.5, 1.0)
    x = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    return x + rng.normal(0, 0.12, x.shape), y


def _xor(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    signal = rng.uniform(-1, 1, (300, 2))
    y = (signal[:, 0] * signal[:, 1] > 0).astype(int)
    return np.column_stack([signal, rng.uniform(-1, 1, (300, 4))]), y  # four features of noise


def _friedman(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(0, 1, (240, 8))
    y = 10 * np.sin(math.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2 + 10 * x[:, 3] + 5 * x[:, 4]
    return x, y + rng.normal(0, 1.0, 240)


def _folds(n: int) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(0).permutation(n), _FOLDS)


def _minkowski(a: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
    return (np.abs(a[:, None, :] - b[None, :, :]) ** p).sum(axis=2) ** (1 / p)


def _knn_accuracy(x: np.ndarray, y: np.ndarray, params: dict) -> float:
    """k nearest neighbours, votes weighted by distance**-weight_power; mean accuracy over folds."""
    accuracies = []
    for test in _folds(len(y)):
        train = np.setdiff1d(np.arange(len(y)), test)
        distances = _minkowski(x[test], x[train], params["p"])
        k = min(params["n_neighbors"], len(train))
        nearest = np.argsort(distances, axis=1)[:, :k]
        weights = (np.take_along_axis(distances, nearest, axis=1) + 1e-9) ** -params["weight_power"]
        votes = np.zeros((len(test), int(y.max()) + 1))
        np.add.at(votes, (np.arange(len(test))[:, None], y[train][nearest]), weights)
        accuracies.append(float((votes.argmax(axis=1) == y[test]).mean()))
    return float(np.mean(accuracies))


def _kernel_ridge_r2(x: np.ndarray, y: np.ndarray, params: dict) -> float:
    """RBF kernel ridge regression; mean R^2 over folds."""
    scores = []
    for test in _folds(len(y)):
        train = np.setdiff1d(np.arange(len(y)), test)
        kernel = np.exp(-params["gamma"] * _minkowski(x[train], x[train], 2.0) ** 2)
        weights = np.linalg.solve(kernel + params["alpha"] * np.eye(len(train)), y[train])
        predicted = np.exp(-params["gamma"] * _minkowski(x[test], x[train], 2.0) ** 2) @ weights
        residual = ((y[test] - predicted) ** 2).sum()
        scores.append(1 - residual / ((y[test] - y[test].mean()) ** 2).sum())
    return float(np.mean(scores))


def _dataset_score(
    make: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
    model: Callable[[np.ndarray, np.ndarray, dict], float],
) -> Callable[[dict], float]:
    def score(params: dict) -> float:
        x, y = make(np.random.default_rng(zlib.crc32(make.__name__.encode())))
        return model(x, y, params)

    return score


_KNN_SPACE = (
    Param("n_neighbors", 1, 30, integer=True),
    Param("p", 1.0, 3.0),
    Param("weight_power", 0.0, 2.0),
)
_RIDGE_SPACE = (
    Param("alpha", 1e-4, 10.0, log=True),
    Param("gamma", 1e-3, 10.0, log=True),
)


def _branin(p: dict) -> float:
    x, y = p["x"], p["y"]
    return -(
        (y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10
    )


def _rosenbrock(p: dict) -> float:
    return -((1 - p["x"]) ** 2 + 100 * (p["y"] - p["x"] ** 2) ** 2)


def _ackley(p: dict) -> float:
    x, y = p["x"], p["y"]
    return -(
        -20 * math.exp(-0.2 * math.sqrt(0.5 * (x * x + y * y)))
        - math.exp(0.5 * (math.cos(2 * math.pi * x) + math.cos(2 * math.pi * y)))
        + math.e
        + 20
    )


CHALLENGES: dict[str, Challenge] = {
    c.name: c
    for c in (
        Challenge("blobs", "dataset", _KNN_SPACE, _dataset_score(_blobs, _knn_accuracy)),
        Challenge("moons", "dataset", _KNN_SPACE, _dataset_score(_moons, _knn_accuracy)),
        Challenge("circles", "dataset", _KNN_SPACE, _dataset_score(_circles, _knn_accuracy)),
        Challenge("xor", "dataset", _KNN_SPACE, _dataset_score(_xor, _knn_accuracy)),
        Challenge("friedman", "dataset", _RIDGE_SPACE, _dataset_score(_friedman, _kernel_ridge_r2)),
        Challenge("branin", "math", (Param("x", -5, 10), Param("y", 0, 15)), _branin),
        Challenge("rosenbrock", "math", (Param("x", -2, 2), Param("y", -1, 3)), _rosenbrock),
        Challenge("ackley", "math", (Param("x", -5, 5), Param("y", -5, 5)), _ackley),
    )
}
CHALLENGE_TYPES = ("dataset", "math")

# ---------------------------------------------------------------- tuners


def _random(challenge: Challenge, iterations: int, rng: random.Random) -> list[float]:
    return [challenge.evaluate([rng.random() for _ in challenge.space]) for _ in range(iterations)]


def _grid(challenge: Challenge, iterations: int, rng: random.Random) -> list[float]:
    per_axis = max(2, int(math.floor(iterations ** (1 / len(challenge.space)))))
    axis = [(i + 0.5) / per_axis for i in range(per_axis)]
    points = list(itertools.product(axis, repeat=len(challenge.space)))[:iterations]
    return [challenge.evaluate(point) for point in points]


def _matern52(a: np.ndarray, b: np.ndarray, length: float) -> np.ndarray:
    r = np.sqrt(5.0) * np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)) / length
    return (1 + r + r * r / 3) * np.exp(-r)


_LENGTH_SCALES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
_JITTER = 1e-6  # keeps the Cholesky factor real on repeated or very close points


def _gp_posterior(seen: np.ndarray, scores: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of a Matern-5/2 Gaussian process at the candidates.

    Scores are standardised and the length scale is the grid value of highest marginal
    likelihood: a fixed one would be too smooth for ackley and too rough for rosenbrock.
    """
    spread = scores.std() or 1.0
    y = (scores - scores.mean()) / spread
    best: tuple[float, np.ndarray, np.ndarray, float] | None = None
    for length in _LENGTH_SCALES:
        chol = np.linalg.cholesky(_matern52(seen, seen, length) + _JITTER * np.eye(len(seen)))
        alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, y))
        evidence = -0.5 * float(y @ alpha) - float(np.log(np.diag(chol)).sum())
        if best is None or evidence > best[0]:
            best = (evidence, chol, alpha, length)
    _, chol, alpha, length = best  # type: ignore[misc]
    cross = _matern52(candidates, seen, length)
    mean = cross @ alpha
    v = np.linalg.solve(chol, cross.T)
    std = np.sqrt(np.clip(1.0 - (v * v).sum(axis=0), 0.0, None))
    return mean * spread + scores.mean(), std * spread


def _gp(challenge: Challenge, iterations: int, rng: random.Random) -> list[float]:
    """Gaussian-process regression on the scores so far; next point maximises the UCB."""
    dims = len(challenge.space)
    seen_x: list[list[float]] = []
    scores: list[float] = []
    np_rng = np.random.default_rng(rng.randrange(2**32))
    for i in range(iterations):
        if i < min(3, iterations):
            point = list(np_rng.random(dims))
        else:
            candidates = np_rng.random((256, dims))
            mean, std = _gp_posterior(np.array(seen_x), np.array(scores), candidates)
            point = list(candidates[int(np.argmax(mean + 1.96 * std))])
        seen_x.append(point)
        scores.append(challenge.evaluate(point))
    return scores


TUNERS: dict[str, Callable[[Challenge, int, random.Random], list[float]]] = {
    "random": _random,
    "grid": _grid,
    "gp": _gp,
}

# ---------------------------------------------------------------- the benchmark


def evaluate(challenge_name: str, tuner_name: str, iterations: int) -> dict:
    """One task: tune one challenge with one tuner; runs on a Dask worker."""
    challenge = CHALLENGES[challenge_name]
    rng = random.Random(zlib.crc32(f"{challenge_name}/{tuner_name}".encode()))
    started = time.perf_counter()
    scores = TUNERS[tuner_name](challenge, iterations, rng)
    return {
        "challenge": challenge_name,
        "tuner": tuner_name,
        "score": max(scores),
        "iterations": len(scores),
        "elapsed": round(time.perf_counter() - started, 6),
        "hostname": socket.gethostname(),
    }


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _pick(names: list[str] | None, known: dict | tuple, what: str) -> list[str]:
    if names is None:
        return list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; choose from {sorted(known)}")
    return names


def run_benchmark(
    tuners=None, challenge_types=None, challenges=None, sample=None, iterations=100, detailed_output=False
) -> pd.DataFrame:
    """Score each tuner on each challenge; one Dask task per pair.

    Returns one row per challenge and one column per tuner holding the best score, or with
    ``detailed_output=True`` the columns challenge, tuner, score, iterations, elapsed, hostname.
    """
    import dask

    tuner_names = _pick(_as_list(tuners), TUNERS, "tuners")
    types = _pick(_as_list(challenge_types), CHALLENGE_TYPES, "challenge_types")
    names = _pick(_as_list(challenges), CHALLENGES, "challenges")
    names = [n for n in names if CHALLENGES[n].kind in types]
    if sample is not None:
        names = sorted(random.Random(0).sample(names, min(int(sample), len(names))))
    if not names:
        raise ValueError("no challenge left after filtering by challenges/challenge_types/sample")
    if int(iterations) < 1:
        raise ValueError("iterations must be >= 1")

    tasks = [dask.delayed(evaluate, pure=False)(c, t, int(iterations)) for c in names for t in tuner_names]
    rows = list(dask.compute(*tasks))
    detailed = pd.DataFrame(rows, columns=["challenge", "tuner", "score", "iterations", "elapsed", "hostname"])
    if detailed_output:
        return detailed
    table = detailed.pivot(index="challenge", columns="tuner", values="score")
    table = table.reindex(index=names, columns=tuner_names)
    table.columns.name = None
    return table
