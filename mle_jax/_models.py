"""The open model interface: :class:`Model` (subclass it) and :class:`Structured` (pass
functions), and :class:`Layout`, the flat free coordinates of a model's parameter pytree.

A model is a pure map from a pytree of parameters to a Gaussian, ``cov(params) -> (d, d)``
and ``mean(params) -> (d,)`` (or a free, saturated mean), plus a start, constraints
(:mod:`mle_jax.constraints`) and names. Nothing else in the library branches on which model it
is: the objective, the loop, FIML, batching, streams, shards and inference read only this.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import constraints as C

__all__ = ["Layout", "Model", "Report", "Structured"]


class Report(NamedTuple):
    """Rows a model reports in :func:`~mle_jax.inference.parameter_table` instead of one
    per free scalar (lavaan's parameter table: fixed rows too, rows tied by equality).

    Attributes:
        names: ``(r,)`` a name per row.
        columns: static columns shown beside the estimates (``{"lhs": (r,), ...}``).
        values: ``params -> (r,)`` the rows' values (pure JAX: standard errors by the
            delta method).
        derived: ``{"std_all": params -> (r,), ...}`` further columns of values.
    """

    names: tuple
    columns: dict
    values: Callable
    derived: dict


class Model:
    """Base class of a Gaussian model ``x ~ N(mean(params), cov(params))``.

    A subclass implements :meth:`start` and :meth:`cov`, and either :meth:`mean` or
    ``free_mean = True`` (a free, saturated mean: the sample mean for complete data, as
    lavaan's models without a mean structure). Optional: :meth:`constraints` (default every
    leaf real), :meth:`names` (readable labels), :meth:`check` (data checks, such as degrees
    of freedom). Instances must be hashable and compare equal when they are the same model
    (a frozen dataclass does both): the compiled loop is cached on them.

    Example (an AR(1) covariance in a few lines; :class:`~mle_jax.AR1` is the built-in)::

        @dataclasses.dataclass(frozen=True)
        class MyAR1(mj.Model):
            free_mean = True

            def start(self, mean, cov):
                return {"var": np.mean(np.diag(cov)), "rho": 0.0}

            def constraints(self):
                return {"var": mj.constraints.positive, "rho": mj.constraints.bounded(-1, 1)}

            def cov(self, p):
                lag = jnp.abs(jnp.arange(self.d)[:, None] - jnp.arange(self.d))
                return p["var"] * p["rho"] ** lag
    """

    free_mean: bool = False

    def bind(self, d: int) -> Model:
        """The model for data with ``d`` columns: a model that takes its dimension from the
        data (the patterned covariances) returns a copy that knows it; default ``self``."""
        return self

    def start(self, mean: np.ndarray, cov: np.ndarray) -> Any:
        """The default starting parameters from the data's rough moments ``mean (d,)``,
        ``cov (d, d)`` (host numpy; pairwise-available moments for incomplete data)."""
        raise NotImplementedError

    def mean(self, params) -> jax.Array:
        """``(d,)`` the model's mean (not called when ``free_mean``)."""
        raise NotImplementedError

    def cov(self, params) -> jax.Array:
        """``(d, d)`` the model's covariance, symmetric positive definite (pure JAX)."""
        raise NotImplementedError

    def constraints(self) -> Any:
        """A constraint per leaf of the parameters: one :class:`~mle_jax.constraints.
        Constraint` for all, or a dict (prefix) of them; missing keys are real."""
        return None

    def names(self, layout: Layout, columns: tuple) -> list[str]:
        """A readable name per free scalar (default: the leaf's path and index)."""
        return layout.default_names(columns)

    def check(self, d: int, columns: tuple) -> None:
        """Raise ``ValueError`` if the model cannot be fitted to ``d`` columns."""

    def describe(self) -> str:
        """The model in words, as :func:`mle_jax.summary` prints it."""
        return type(self).__name__

    def prepare_data(self, x, columns, missing: str):
        """The model's view of the user's data, before statistics are taken: returns ``(x,
        columns, missing, model)`` (default unchanged). A model that reads its variables by
        name (:class:`~mle_jax.SEM`) selects and orders them here, and may return a copy of
        itself bound to what it found (its groups)."""
        return x, columns, missing, self

    def blocks(self) -> tuple | None:
        """Column blocks never observed together (the groups of a multigroup model, side
        by side): the saturated model is fitted per block. Default ``None``: one block."""
        return None

    def is_incomplete(self, stats) -> bool:
        """Whether the data are incomplete for this model (lavaan's defaults switch on it:
        observed information for incomplete data). Default: pattern statistics."""
        return stats.incomplete

    def report(self) -> Report | None:
        """The rows of the parameter table, or ``None`` (default): one per free scalar."""
        return None

    def analytic_moments(self) -> tuple[Callable, Callable] | None:
        """Optional analytic derivatives of the moments for the Newton steps of complete
        data: ``None`` (default: autodiff) or ``(theta, derivatives)`` with ``theta(params)
        -> (q,)`` a cheap (elementwise) function of the parameters through which alone the
        moments depend on them, and ``derivatives(theta, g_mean (d,), g_cov (d, d)) -> (j_mean (d,
        q), j_cov (q, d, d), curv (q, q))``: the Jacobians of :meth:`mean` and :meth:`cov`
        and the Hessian of ``sum(g_mean * mean) + sum(g_cov * cov)`` (see
        :meth:`mle_jax.SEM.moment_derivatives`)."""
        return None


def _identity(f):
    return None if f is None else (getattr(f, "__module__", None), getattr(f, "__qualname__", f))


class Structured(Model):
    """A model from user functions: ``mean(params) -> (d,)`` and ``cov(params) -> (d, d)``,
    any pure-JAX functions of any pytree of parameters.

    Args:
        mean: ``params -> (d,)``, or ``None`` (default): a free, saturated mean.
        cov: ``params -> (d, d)``, symmetric positive definite wherever the constraints
            allow. Exactly one of ``cov`` and ``chol`` is given.
        chol: ``params -> (d, d)``, a lower Cholesky factor of the covariance.
        init: the starting parameters (any pytree of arrays), or a function
            ``init(mean, cov) -> params`` of the data's moments. ``res.params`` of a fit has
            the same structure.
        constraints: a :class:`~mle_jax.constraints.Constraint` for every leaf, or a dict
            (a prefix of ``init``'s structure) of them; leaves not named are real.
        name: how :func:`~mle_jax.summary` calls the model.

    Examples:
        >>> import numpy as np, jax.numpy as jnp, mle_jax as mj
        >>> cs = mj.Structured(  # compound symmetry, written by hand
        ...     cov=lambda p: p["var"] * ((1 - p["rho"]) * jnp.eye(3) + p["rho"]),
        ...     init={"var": 1.0, "rho": 0.0},
        ...     constraints={"var": mj.constraints.positive,
        ...                  "rho": mj.constraints.bounded(-0.5, 1.0)})
        >>> x = np.random.default_rng(0).multivariate_normal(
        ...     np.zeros(3), [[2, 1, 1], [1, 2, 1], [1, 1, 2]], size=500)
        >>> res = mj.fit(x, cs)
        >>> bool(res.converged), round(float(res.params["rho"]), 1)
        (True, 0.5)
    """

    def __init__(
        self,
        mean: Callable | None = None,
        cov: Callable | None = None,
        *,
        init: Any,
        constraints: Any = None,
        chol: Callable | None = None,
        name: str = "Structured",
    ):
        for what, f in (("mean", mean), ("cov", cov), ("chol", chol)):
            if f is not None and not callable(f):
                raise TypeError(f"{what} must be a function of the parameters, got {type(f)}")
        if (cov is None) == (chol is None):
            raise TypeError("pass exactly one of cov= and chol= (a function of the parameters)")
        if init is None:
            raise TypeError("init= is required: the starting parameters (a pytree of arrays)")
        self._mean, self._cov, self._chol = mean, cov, chol
        self._init, self._constraints, self._name = init, constraints, name
        self.free_mean = mean is None
        leaves = [] if callable(init) else jax.tree.leaves(init)
        self._key = (
            _identity(mean),
            _identity(cov),
            _identity(chol),
            _identity(init) if callable(init) else jax.tree.structure(init),
            tuple(np.shape(a) for a in leaves),
            _constraint_key(constraints),
            name,
        )

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        if not isinstance(other, Structured):
            return False
        same = (self._mean, self._cov, self._chol) == (other._mean, other._cov, other._chol)
        return same and self._key == other._key

    def __repr__(self):
        return f"Structured(name={self._name!r})"

    def start(self, mean, cov):
        init = self._init
        if callable(init):
            init = init(mean, cov)
        return jax.tree.map(lambda a: np.array(a, np.float64), init)

    def mean(self, params):
        assert self._mean is not None
        return self._mean(params)

    def cov(self, params):
        if self._chol is not None:
            chol = self._chol(params)
            return chol @ chol.T
        assert self._cov is not None
        return self._cov(params)

    def constraints(self):
        return self._constraints

    def describe(self):
        return self._name


def _constraint_key(tree):
    if tree is None or isinstance(tree, C.Constraint):
        return tree
    if isinstance(tree, dict):
        return tuple(sorted((k, _constraint_key(v)) for k, v in tree.items()))
    leaves, treedef = jax.tree.flatten(tree, is_leaf=lambda c: isinstance(c, C.Constraint))
    return (treedef, tuple(leaves))


def _constraints_for(params, spec, where: str = "constraints") -> list:
    """One constraint per leaf of ``params`` from a prefix ``spec`` (see :class:`Model`)."""
    if spec is None:
        return [C.real] * len(jax.tree.leaves(params))
    if isinstance(spec, C.Constraint):
        return [spec] * len(jax.tree.leaves(params))
    if isinstance(spec, dict):
        if not isinstance(params, dict):
            raise TypeError(f"{where} is a dict but the parameters are a {type(params).__name__}")
        unknown = sorted(set(spec) - set(params))
        if unknown:
            raise ValueError(
                f"{where} names {unknown}, which are not parameters (parameters: {sorted(params)})"
            )
        out = []
        for key in sorted(params):  # jax flattens a dict in sorted key order
            out += _constraints_for(params[key], spec.get(key), f"{where}[{key!r}]")
        return out
    is_c = lambda c: isinstance(c, C.Constraint)  # noqa: E731
    leaves, treedef = jax.tree.flatten(spec, is_leaf=is_c)
    if treedef != jax.tree.structure(params) or not all(map(is_c, leaves)):
        raise TypeError(
            f"{where} must be a Constraint, a dict of them, or a pytree of them shaped like "
            "the parameters"
        )
    return leaves


def _path_name(path) -> str:
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
    return ".".join(parts)


@dataclasses.dataclass(frozen=True)
class Layout:
    """The flat free coordinates ``u (p,)`` of a model's parameters (and free mean).

    Static and hashable: the pytree structure, leaf shapes, constraints and names. The values
    of :data:`~mle_jax.constraints.fixed` leaves travel separately (``fixed``, a tuple of
    arrays), so that one compiled loop serves every fixed value.
    """

    treedef: Any
    shapes: tuple
    constraints: tuple
    paths: tuple
    free_mean: int  # d when the model has a free mean, else 0

    @classmethod
    def of(cls, model: Model, params, d: int) -> Layout:
        flat, treedef = jax.tree_util.tree_flatten_with_path(params)
        cons = _constraints_for(params, model.constraints())
        return cls(
            treedef=treedef,
            shapes=tuple(np.shape(a) for _, a in flat),
            constraints=tuple(cons),
            paths=tuple(_path_name(p) for p, _ in flat),
            free_mean=d if model.free_mean else 0,
        )

    @property
    def sizes(self) -> tuple:
        return tuple(c.size(s) for c, s in zip(self.constraints, self.shapes, strict=True))

    @property
    def size(self) -> int:
        """``p``, the number of free scalars (the model's parameter count)."""
        return sum(self.sizes) + self.free_mean

    def fixed_values(self, params) -> tuple:
        """The values of the fixed leaves of ``params`` (host float64)."""
        leaves = jax.tree.leaves(params)
        return tuple(
            np.asarray(a, np.float64)
            for a, c in zip(leaves, self.constraints, strict=True)
            if isinstance(c, C.Fixed)
        )

    def flatten(self, params, mean=None):
        """``params`` (and the free mean) -> ``u (p,)``."""
        leaves = jax.tree.leaves(params)
        pairs = zip(leaves, self.constraints, strict=True)
        parts = [c.inverse(a) for a, c in pairs if c.size(np.shape(a))]
        if self.free_mean:
            parts.append(jnp.asarray(mean))
        return jnp.concatenate([jnp.ravel(p) for p in parts]) if parts else jnp.zeros((0,))

    def unflatten(self, u, fixed: tuple):
        """``u (p,)`` -> ``(params, free mean or None)``."""
        leaves, start, fixed_iter = [], 0, iter(fixed)
        for c, shape, size in zip(self.constraints, self.shapes, self.sizes, strict=True):
            if isinstance(c, C.Fixed):
                leaves.append(jnp.asarray(next(fixed_iter), u.dtype))
                continue
            leaves.append(c.forward(u[start : start + size], shape))
            start += size
        mean = u[start : start + self.free_mean] if self.free_mean else None
        return jax.tree.unflatten(self.treedef, leaves), mean

    def _per_leaf(self, u, fixed, how):
        params, mean = self.unflatten(u, fixed)
        parts = [
            how(c, a)
            for a, c in zip(jax.tree.leaves(params), self.constraints, strict=True)
            if not isinstance(c, C.Fixed)
        ]
        if self.free_mean:
            parts.append(how(C.real, mean))
        return jnp.concatenate(parts) if parts else jnp.zeros((0,), u.dtype)

    def natural(self, u, fixed: tuple):
        """``(p,)`` the reported values of the free scalars (a variance, not its log)."""
        return self._per_leaf(u, fixed, lambda c, a: c.natural(a))

    def limits(self, params, fraction: float):
        """``(lo, hi)`` ``(p,)`` (host numpy): the free coordinates at which each scalar is
        ``fraction`` of its distance at ``params`` from its bound (see
        :meth:`~mle_jax.constraints.Constraint.limits`); the free mean has none."""
        pairs = [
            c.limits(a, fraction)
            for a, c in zip(jax.tree.leaves(params), self.constraints, strict=True)
            if not isinstance(c, C.Fixed)
        ]
        pairs.append((np.full(self.free_mean, -np.inf), np.full(self.free_mean, np.inf)))
        return tuple(np.concatenate([p[i] for p in pairs]) for i in (0, 1))

    def default_names(self, columns) -> list[str]:
        names = []
        for c, shape, path in zip(self.constraints, self.shapes, self.paths, strict=True):
            names += [f"{path}{s}" for s in c.labels(shape)]
        if self.free_mean:
            names += [f"mean[{c}]" for c in columns]
        return names
