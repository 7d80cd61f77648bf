"""Constraints on a model's parameters, as bijections from unconstrained free coordinates.

A model (:class:`~mle_jax.Model`, :class:`~mle_jax.Structured`) declares one constraint per
leaf of its parameter pytree. The optimiser walks the *free* coordinates ``u`` (a flat
vector of real numbers); each constraint maps its slice of ``u`` to the leaf's value, so every
iterate is a valid parameter. Standard errors are reported for the *natural* coordinates (the
values themselves: a variance, not its log), by the delta method.

==================  =========================================  ==============================
constraint          leaf value                                 free scalars (natural)
==================  =========================================  ==============================
:data:`real`        any real array                             every entry
:data:`positive`    ``exp(u)``, entries > 0                    every entry
:func:`bounded`     ``lower + (upper - lower) sigmoid(u)``;    every entry
                    ``lower + exp(u)`` without an upper bound
:data:`cholesky`    ``(k, k)`` lower triangular, diagonal > 0  the lower triangle
:data:`correlation` ``(k, k)`` correlation matrix              the strict lower triangle
:data:`fixed`       the start's value, never moved             none
==================  =========================================  ==============================

Equality constraints need no constraint object: use the same parameter in two places of the
model's functions (lavaan's shared labels).

A bound is reached only as a free coordinate goes to infinity, where the optimiser would
crawl. So each constraint also gives :meth:`~Constraint.limits`: the free coordinates at which
a scalar is within ``fraction`` (a millionth) of its start's distance from its bound. A fit
holds the coordinate there and reports the parameter on the boundary (a Heywood case for a
variance), never as an ordinary optimum.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Bounded",
    "Cholesky",
    "Constraint",
    "Correlation",
    "Fixed",
    "Positive",
    "Real",
    "bounded",
    "cholesky",
    "correlation",
    "fixed",
    "positive",
    "real",
]


class Constraint:
    """A bijection from ``size(shape)`` free reals to a leaf of shape ``shape``.

    Subclasses implement :meth:`size`, :meth:`forward`, :meth:`inverse` (the round trip is
    tested), :meth:`natural` (the reported values of the free scalars), :meth:`labels` and,
    if the constraint has a bound, :meth:`distance`. All are pure JAX (numpy in, numpy out
    works too). Instances must be hashable: they are part of a model's identity.
    """

    def size(self, shape: tuple) -> int:
        return int(np.prod(shape, dtype=int))

    def forward(self, u, shape: tuple):
        """``(size,)`` free coordinates -> the leaf ``shape``."""
        raise NotImplementedError

    def inverse(self, value):
        """The leaf -> ``(size,)`` free coordinates."""
        raise NotImplementedError

    def natural(self, value):
        """The leaf -> ``(size,)`` the values of its free scalars, as reported."""
        return jnp.ravel(value)

    def limits(self, value, fraction: float):
        """``(lo, hi)``, each ``(size,)`` (host numpy): the free coordinates at which each
        scalar's distance to its bound is ``fraction`` of its distance at ``value`` (the
        start); ``-inf``/``inf`` where it has no bound on that side."""
        size = self.size(np.shape(value))
        return np.full(size, -np.inf), np.full(size, np.inf)

    def labels(self, shape: tuple) -> list[str]:
        """A suffix per free scalar (``"[1,0]"``; ``""`` for a scalar leaf)."""
        if shape == ():
            return [""]
        return ["[" + ",".join(str(i) for i in idx) + "]" for idx in np.ndindex(*shape)]


@dataclasses.dataclass(frozen=True)
class Real(Constraint):
    """No constraint: the leaf is its own free coordinates."""

    def forward(self, u, shape):
        return jnp.reshape(u, shape)

    def inverse(self, value):
        return jnp.ravel(jnp.asarray(value))


@dataclasses.dataclass(frozen=True)
class Positive(Constraint):
    """Entries > 0 as ``exp(u)`` (a variance, a uniqueness, a scale)."""

    def forward(self, u, shape):
        return jnp.reshape(jnp.exp(u), shape)

    def inverse(self, value):
        return jnp.log(jnp.ravel(jnp.asarray(value)))

    def limits(self, value, fraction):
        v = np.ravel(np.asarray(value, np.float64))
        return np.log(fraction * v), np.full(v.size, np.inf)


@dataclasses.dataclass(frozen=True)
class Bounded(Constraint):
    """Entries in ``(lower, upper)``: ``lower + (upper - lower) * sigmoid(u)``; with
    ``upper=inf``, ``lower + exp(u)``."""

    lower: float = 0.0
    upper: float = float("inf")

    def __post_init__(self):
        lo, hi = float(self.lower), float(self.upper)
        if not (np.isfinite(lo) and lo < hi):
            raise ValueError(f"bounded needs a finite lower < upper, got ({lo}, {hi})")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    def forward(self, u, shape):
        if np.isinf(self.upper):
            return jnp.reshape(self.lower + jnp.exp(u), shape)
        return jnp.reshape(self.lower + (self.upper - self.lower) * jax.nn.sigmoid(u), shape)

    def inverse(self, value):
        v = jnp.ravel(jnp.asarray(value)) - self.lower
        if np.isinf(self.upper):
            return jnp.log(v)
        t = v / (self.upper - self.lower)
        return jnp.log(t) - jnp.log1p(-t)

    def limits(self, value, fraction):
        v = np.ravel(np.asarray(value, np.float64))
        if np.isinf(self.upper):
            return np.log(fraction * (v - self.lower)), np.full(v.size, np.inf)
        width = self.upper - self.lower
        t = fraction * np.minimum(v - self.lower, self.upper - v) / width
        return np.log(t) - np.log1p(-t), np.log1p(-t) - np.log(t)


def _tril(k: int):
    return np.tril_indices(k)


@dataclasses.dataclass(frozen=True)
class Cholesky(Constraint):
    """A ``(k, k)`` lower-triangular factor with a positive diagonal (``exp`` of the free
    diagonal): ``L L^T`` is then any positive-definite matrix."""

    def size(self, shape):
        return shape[0] * (shape[0] + 1) // 2

    def forward(self, u, shape):
        rows, cols = _tril(shape[0])
        vals = jnp.where(jnp.asarray(rows == cols), jnp.exp(u), u)
        return jnp.zeros(shape, jnp.result_type(u)).at[rows, cols].set(vals)

    def inverse(self, value):
        value = jnp.asarray(value)
        rows, cols = _tril(value.shape[0])
        vals = value[rows, cols]
        return jnp.where(jnp.asarray(rows == cols), jnp.log(jnp.abs(vals)), vals)

    def natural(self, value):
        rows, cols = _tril(jnp.shape(value)[0])
        return jnp.asarray(value)[rows, cols]

    def limits(self, value, fraction):
        value = np.asarray(value, np.float64)
        rows, cols = _tril(value.shape[0])
        diag = rows == cols
        with np.errstate(divide="ignore"):
            lo = np.where(diag, np.log(fraction * np.abs(value[rows, cols])), -np.inf)
        return lo, np.full(len(rows), np.inf)

    def labels(self, shape):
        rows, cols = _tril(shape[0])
        return [f"[{i},{j}]" for i, j in zip(rows, cols, strict=True)]


@dataclasses.dataclass(frozen=True)
class Correlation(Constraint):
    """A ``(k, k)`` correlation matrix ``R = L L^T``: ``L`` is the unit-diagonal lower
    triangle of free values with each row scaled to norm 1, so every ``u`` gives a valid
    correlation matrix and every positive-definite one is reached."""

    def size(self, shape):
        return shape[0] * (shape[0] - 1) // 2

    def forward(self, u, shape):
        k = shape[0]
        rows, cols = np.tril_indices(k, -1)
        raw = jnp.eye(k, dtype=jnp.result_type(u)).at[rows, cols].set(u)
        chol = raw / jnp.linalg.norm(raw, axis=1, keepdims=True)
        return chol @ chol.T

    def inverse(self, value):
        value = jnp.asarray(value)
        chol = jnp.linalg.cholesky(value)
        rows, cols = np.tril_indices(value.shape[0], -1)
        return chol[rows, cols] / jnp.diagonal(chol)[rows]

    def natural(self, value):
        rows, cols = np.tril_indices(jnp.shape(value)[0], -1)
        return jnp.asarray(value)[rows, cols]

    def labels(self, shape):
        rows, cols = np.tril_indices(shape[0], -1)
        return [f"[{i},{j}]" for i, j in zip(rows, cols, strict=True)]


@dataclasses.dataclass(frozen=True)
class Fixed(Constraint):
    """Held at the start's value (the model's ``init``); no free scalar."""

    def size(self, shape):
        return 0

    def forward(self, u, shape):  # the fixed value is supplied by the layout
        raise NotImplementedError

    def inverse(self, value):
        return jnp.zeros((0,), jnp.result_type(value))

    def natural(self, value):
        return jnp.zeros((0,), jnp.result_type(value))

    def labels(self, shape):
        return []


real = Real()
positive = Positive()
cholesky = Cholesky()
correlation = Correlation()
fixed = Fixed()


def bounded(lower: float = 0.0, upper: float = float("inf")) -> Bounded:
    """Entries in ``(lower, upper)`` (see :class:`Bounded`)."""
    return Bounded(lower, upper)
