"""A small, real hyper-parameter tuning benchmark (scikit-learn models tuned on Dask).

Challenges: models tuned on data sets that ship inside scikit-learn (no download) and classic
test functions. Tuners: random search, grid search and a Gaussian-process (model-based) tuner.
One Dask task per (challenge, tuner), computed on the default client: the run's cluster.
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


def _tree_score(loader: str, regression: bool) -> Callable[[dict], float]:
    def score(params: dict) -> float:
        from sklearn import datasets
        from sklearn.model_selection import cross_val_score
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        x, y = getattr(datasets, loader)(return_X_y=True)
        model_class = DecisionTreeRegressor if regression else DecisionTreeClassifier
        model = model_class(random_state=0, **params)
        return cross_val_score(model, x, y, cv=3).mean()

    return score


_TREE_SPACE = (
    Param("max_depth", 1, 16, integer=True),
    Param("min_samples_leaf", 1, 30, integer=True),
    Param("max_features", 0.1, 1.0),
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
        Challenge("iris", "dataset", _TREE_SPACE, _tree_score("load_iris", False)),
        Challenge("wine", "dataset", _TREE_SPACE, _tree_score("load_wine", False)),
        Challenge("breast_cancer", "dataset", _TREE_SPACE, _tree_score("load_breast_cancer", False)),
        Challenge("digits", "dataset", _TREE_SPACE, _tree_score("load_digits", False)),
        Challenge("diabetes", "dataset", _TREE_SPACE, _tree_score("load_diabetes", True)),
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


def _gp(challenge: Challenge, iterations: int, rng: random.Random) -> list[float]:
    """Gaussian-process regression on the scores so far; next point maximises the UCB."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import Matern

    warnings.simplefilter("ignore", ConvergenceWarning)  # expected on flat score surfaces
    dims = len(challenge.space)
    seen_x: list[list[float]] = []
    scores: list[float] = []
    np_rng = np.random.default_rng(rng.randrange(2**32))
    for i in range(iterations):
        if i < min(3, iterations):
            point = list(np_rng.random(dims))
        else:
            gp = GaussianProcessRegressor(Matern(nu=2.5), normalize_y=True, random_state=0)
            gp.fit(np.array(seen_x), np.array(scores))
            candidates = np_rng.random((256, dims))
            mean, std = gp.predict(candidates, return_std=True)
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
