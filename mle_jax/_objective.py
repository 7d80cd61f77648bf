"""The objective the loop minimises: a model lowered to arrays, and its free parameters.

A :class:`~mle_jax.Gaussian` is lowered (:meth:`~mle_jax.Gaussian.spec`) to a :class:`Spec`,
a pytree whose static part (structure, which parts are fixed, a user prior function) is part
of the jit cache key and whose arrays (the standardiser, fixed values, built-in prior
hyper-parameters, a profiled value) are traced, so one compiled loop serves every data set
and fixed value.

The optimiser moves :class:`FreeParams` in standardised units:

* ``covariance="full"``: ``scale_raw`` is the log-diagonal Cholesky vector of
  :class:`~mle_jax.MvnParams` (``d(d+1)/2``);
* ``"diag"``: the ``(d,)`` log standard deviations; ``"spherical"``: ``(1,)``, the log of
  the common standard deviation;
* a fixed mean or covariance contributes a zero-size array.

A new kind of data (e.g. per-pattern statistics of incomplete data) plugs in at
:func:`objective`: a new statistics type in :class:`Problem` and its NLL, nothing else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._bijections import MvnParams, chol_from_raw, raw_from_chol
from ._fiml import fiml_nll_whitened
from ._nll import mean_nll, ridge_penalty
from ._types import ArrayLike

__all__ = [
    "GAUSSIAN",
    "FreeParams",
    "Problem",
    "Spec",
    "data_nll",
    "free_coordinates",
    "free_from_mean_cov",
    "mean_chol",
    "objective",
    "penalty",
]


_STATIC = ("covariance", "fix_mean", "fix_cov", "univariate", "prior_fn", "profile")
_ARRAYS = (
    "affine",
    "mean0",
    "chol0",
    "prior_data",
    "profile_kind",
    "profile_index",
    "profile_value",
)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class Spec:
    """A model lowered for the jitted loop (see the module docstring).

    Static: ``covariance``, ``fix_mean``/``fix_cov`` (bools), ``univariate``, ``prior_fn`` (a
    user callable, hashed by identity), ``profile`` (one scalar held fixed). Traced:
    ``affine`` (the standardiser), ``mean0`` ``(d,)`` and ``chol0`` ``(d, d)`` (fixed values,
    standardised), ``prior_data`` (a built-in prior), ``profile_kind`` (0 a mean, 1 a
    variance), ``profile_index``, ``profile_value`` (standardised).
    """

    covariance: str
    fix_mean: bool
    fix_cov: bool
    univariate: bool
    prior_fn: Any
    profile: bool
    affine: Any
    mean0: Any = None
    chol0: Any = None
    prior_data: Any = None
    profile_kind: Any = None
    profile_index: Any = None
    profile_value: Any = None

    def tree_flatten(self):
        return tuple(getattr(self, n) for n in _ARRAYS), tuple(getattr(self, n) for n in _STATIC)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(
            **dict(zip(_STATIC, aux, strict=True)), **dict(zip(_ARRAYS, children, strict=True))
        )

    @property
    def has_prior(self) -> bool:
        return self.prior_fn is not None or self.prior_data is not None

    def free_coordinates(self, d: int):
        """:func:`free_coordinates` of this model."""
        return free_coordinates(self.covariance, self.fix_mean, self.fix_cov, d)


class FreeParams(NamedTuple):
    """What the optimiser moves under a :class:`Spec` (standardised units; host numpy arrays
    on the way into a compiled loop, device arrays inside it)."""

    mean: ArrayLike
    scale_raw: ArrayLike


class Problem(NamedTuple):
    """What the jitted loop sees (a pytree of arrays; standardised units).

    Attributes:
        stats: :class:`~mle_jax.stats.SuffStats` of the standardised data, or
            :class:`~mle_jax._patterns.PatternStats` of incomplete data (scaled per column).
        x: ``(n, d)`` standardised data for ``form="raw"``, else ``None``.
        weights: ``(n,)`` frequency weights of ``x``, or ``None``.
        ridge: ``(d, d)`` ridge matrix in the units of ``stats``, or ``None`` (no ridge).
        spec: the :class:`Spec`.
        precond: ``None``, or an affine map (zero shift) from the optimiser's coordinates to
            those of ``stats``: pattern statistics can only be scaled per column, so the rest
            of the whitening acts on the parameters.
        white: ``None``, or the :class:`~mle_jax._fiml.PatternWhitening` of pattern
            statistics, from which the data NLL is evaluated (less a constant, which the
            caller adds to the NLL offset; ``precond`` is built in).
    """

    stats: Any
    x: Any
    weights: Any
    ridge: Any
    spec: Spec
    precond: Any = None
    white: Any = None


def free_coordinates(covariance: str, fix_mean: bool, fix_cov: bool, d: int):
    """The model's free parameters ``psi`` as a restriction of ``phi = (mean, vech cov)``
    (``vech``: the ``np.tril_indices(d)`` order): ``phi = phi_hat + A psi`` with
    ``A = I[:, index] @ combine`` (static numpy). Inference reads the model from this alone
    (standard errors, expected information, the rows of the summary).

    Returns:
        ``(index, combine)``: the ``phi`` coordinates that move, and ``None`` (each is one
        parameter: full, diag, fixed parts) or the ``(len(index), q)`` matrix that ties them
        (spherical: one variance for every diagonal entry).
    """
    rows, cols = np.tril_indices(d)
    index = [np.arange(d)] if not fix_mean else []
    combine = None
    if not fix_cov:
        on_diag = d + np.flatnonzero(rows == cols)
        index.append(d + np.arange(len(rows)) if covariance == "full" else on_diag)
        if covariance == "spherical":
            m = 0 if fix_mean else d
            combine = np.zeros((m + d, m + 1))
            combine[:m, :m] = np.eye(m)
            combine[m:, m] = 1.0
    return np.concatenate(index).astype(int), combine


# ----------------------------------------------------------------------------- pure maps


def mean_chol(spec: Spec, free: FreeParams):
    """Free parameters -> standardised ``(mean (d,), chol (d, d))`` (pure, jit-able)."""
    mean = spec.mean0 if spec.fix_mean else free.mean
    d = mean.shape[-1]
    if spec.fix_cov:
        chol = spec.chol0
    elif spec.covariance == "full":
        chol = chol_from_raw(free.scale_raw)
    elif spec.covariance == "diag":
        chol = jnp.diag(jnp.exp(free.scale_raw))
    else:
        chol = jnp.exp(free.scale_raw[0]) * jnp.eye(d, dtype=free.scale_raw.dtype)
    if spec.profile:  # one scalar held at profile_value (a diagonal standardiser)
        i, value = spec.profile_index, spec.profile_value
        is_var = spec.profile_kind == 1
        if not spec.fix_mean:
            mean = jnp.where(is_var, mean, mean.at[i].set(value))
        if not spec.fix_cov:
            root = jnp.sqrt(jnp.where(is_var, value, 1.0))  # no NaN in the unused branch
            if spec.covariance == "full":
                row = chol[i]
                held = chol.at[i].set(row * (root / jnp.sqrt(jnp.sum(row * row))))
            elif spec.covariance == "diag":
                held = chol.at[i, i].set(root)
            else:
                held = root * jnp.eye(d, dtype=chol.dtype)
            chol = jnp.where(is_var, held, chol)
    return mean, chol


def to_mvn(spec: Spec, free: FreeParams) -> MvnParams:
    """Free parameters -> full standardised :class:`MvnParams`."""
    mean, chol = mean_chol(spec, free)
    return MvnParams(mean, raw_from_chol(chol))


def log_prior(spec: Spec, mean, chol) -> jax.Array:
    """The prior's log-density at the user-unit point of a standardised ``(mean, chol)``."""
    mean_u, chol_u = spec.affine.from_std(mean, chol)
    cov_u = chol_u @ chol_u.T
    if spec.univariate:
        mean_u, cov_u = mean_u[0], cov_u[0, 0]
    prior = spec.prior_data if spec.prior_data is not None else spec.prior_fn
    return prior(mean_u, cov_u)


def count(problem: Problem) -> jax.Array:
    """``()`` number of samples (rows; the sum of the weights)."""
    return problem.stats.total_count()


def _in_data_units(mean, chol, problem: Problem):
    if problem.precond is None:
        return mean, chol
    return problem.precond.from_std(mean, chol)


def data_nll(mean, chol, problem: Problem) -> jax.Array:
    """Total NLL of the problem's statistics at optimiser-coordinate ``(mean, chol)`` (less
    the constant of ``problem.white``, if any)."""
    if problem.white is not None:
        st = problem.stats
        return fiml_nll_whitened(mean, chol, st.mask, st.count, problem.white)
    mean, chol = _in_data_units(mean, chol, problem)
    return problem.stats.nll(mean, chol)


def objective(free: FreeParams, problem: Problem) -> jax.Array:
    """Mean NLL per sample (+ ridge penalty, - log prior / count) of a standardised problem."""
    mean, chol = mean_chol(problem.spec, free)
    p = problem
    if not p.stats.incomplete and p.precond is None:
        value = mean_nll(mean, chol, p.stats, p.x, p.weights)
    else:
        value = data_nll(mean, chol, p) / count(p)
    return value + penalty(mean, chol, p)


def penalty(mean, chol, problem: Problem) -> jax.Array:
    """What :func:`objective` adds to the NLL per sample: the ridge penalty and ``-log
    prior / count`` (``0`` for neither), at optimiser-coordinate ``(mean, chol)``."""
    value = jnp.zeros((), chol.dtype)
    if problem.ridge is not None:
        value = value + ridge_penalty(_in_data_units(mean, chol, problem)[1], problem.ridge)
    if problem.spec.has_prior:
        value = value - log_prior(problem.spec, mean, chol) / count(problem)
    return value


def natural_grad_norm(spec, params: Any, grad: Any) -> jax.Array:
    """The gradient's norm in the iterate's own scale: ``||L^T g_m||^2 + ||L^T g_L||_F^2``.

    ``L`` is the Cholesky factor of the iterate's covariance, ``g_m`` and ``g_L`` the
    gradients with respect to the mean and to ``L`` itself. Under any lower-triangular affine
    change of units (the standardiser, a rescaling of the data, of the iterate or of both)
    ``L -> A L`` and ``g -> A^{-T} g``, so this number does not change: it is as small at a
    start of 1e10 or a covariance of 1e200 as the loss's real curvature there says, not as
    the flat, saturated loss makes the plain gradient look. At ``L = I`` (the whitened
    optimum of complete data) it equals the plain gradient norm. For a full covariance
    ``L^T g_m = L^{-1}(m - xbar)`` and ``L^T g_L = I - L^{-1} S L^{-T}`` (``S`` the scatter
    about ``m``): zero only at the MLE. For diagonal/spherical models the log-scale gradient
    is already scale-free and is used as it is.
    """
    _, chol = mean_chol(spec, params)
    total = jnp.zeros((), chol.dtype)
    if not spec.fix_mean:
        total = total + jnp.sum(jnp.matmul(chol.T, grad.mean) ** 2)
    if not spec.fix_cov:
        if spec.covariance == "full":
            raw, g_raw = params.scale_raw, grad.scale_raw
            d = chol.shape[-1]
            rows, cols = np.tril_indices(d)
            on_diag = jnp.asarray(rows == cols)
            # dL_ij / draw_k is L_ii on the diagonal (exp) and 1 off it
            dl = jnp.where(on_diag, jnp.exp(jnp.where(on_diag, raw, 0.0)), 1.0)
            g_l = jnp.zeros((d, d), chol.dtype).at[rows, cols].set(g_raw / dl)
            total = total + jnp.sum(jnp.matmul(chol.T, g_l) ** 2)
        else:
            total = total + jnp.sum(grad.scale_raw**2)
    return jnp.sqrt(total)


@dataclasses.dataclass(frozen=True)
class _GaussianObjective:
    """The :class:`~mle_jax.Gaussian`'s :class:`~mle_jax._solve.Objective` over a
    :class:`Problem`: :func:`objective`, the larger of the plain gradient norm and
    :func:`natural_grad_norm`, and the full
    :class:`~mle_jax.MvnParams` with the data NLL at the end."""

    def value(self, params: FreeParams, args: Problem) -> jax.Array:
        return objective(params, args)

    def stationarity(self, params: FreeParams, grad: FreeParams, args: Problem) -> jax.Array:
        # both the plain norm in the whitened coordinates and the natural one (docstring of
        # natural_grad_norm): a saturated loss far away passes neither
        plain = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(grad)))
        return jnp.maximum(plain, natural_grad_norm(args.spec, params, grad))

    def finish(self, params: FreeParams, args: Problem):
        mvn = to_mvn(args.spec, params)
        return mvn, data_nll(mvn.mean, mvn.chol, args)


GAUSSIAN = _GaussianObjective()


def free_from_mean_cov(spec: Spec, mean, cov) -> FreeParams:
    """Standardised ``(mean (d,), cov (d, d))`` -> :class:`FreeParams` of ``spec``."""
    mean, cov = jnp.asarray(mean), jnp.asarray(cov)
    dtype = mean.dtype
    free_mean = jnp.zeros((0,), dtype) if spec.fix_mean else mean
    if spec.fix_cov:
        raw = jnp.zeros((0,), dtype)
    elif spec.covariance == "full":
        raw = raw_from_chol(jnp.linalg.cholesky(cov))
    elif spec.covariance == "diag":
        raw = 0.5 * jnp.log(jnp.diagonal(cov))
    else:
        raw = 0.5 * jnp.log(jnp.mean(jnp.diagonal(cov)))[None]
    return FreeParams(free_mean, raw.astype(dtype))


def check_prior(spec: Spec, free: FreeParams) -> None:
    """Evaluate the prior once at an (unbatched) starting point: a scalar, finite value."""
    if spec.has_prior:
        _check_prior_value(spec, free)


def _check_prior_value(spec: Spec, free: FreeParams) -> None:
    mean, chol = mean_chol(spec, free)
    try:
        value = jnp.asarray(log_prior(spec, mean, chol))
    except Exception as err:  # a user function may fail in any way: say so
        raise ValueError(f"evaluating the prior failed with {type(err).__name__}: {err}") from err
    if value.shape != ():
        raise ValueError(f"the prior must return a scalar log-density, got shape {value.shape}")
    if not bool(jnp.isfinite(value)):
        raise ValueError(
            "the prior's log-density is not finite at the starting point; pass an init= "
            "inside its support"
        )
    if spec.prior_fn is not None:  # the loop traces it: numpy or Python control flow fails there
        _check_prior_traceable(spec, free)


_TRACE_ERRORS = (
    jax.errors.TracerArrayConversionError,
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)


def _check_prior_traceable(spec: Spec, free: FreeParams) -> None:
    """Trace the prior once (shapes only, nothing runs): a prior written with numpy, or with
    Python ``if``/``float()`` on its arguments, gets a clear ``TypeError`` here instead of
    a JAX tracer error from inside the compiled loop."""
    try:
        jax.eval_shape(lambda f: log_prior(spec, *mean_chol(spec, f)), free)
    except _TRACE_ERRORS as err:
        first = str(err).strip().splitlines()[0]
        raise TypeError(
            "the prior must be a pure JAX function: fit traces and differentiates it, and it "
            f"converts a traced value to a concrete one ({type(err).__name__}: {first}). Write "
            "it with jax.numpy (jnp.sum, jnp.log, jnp.linalg.slogdet, jax.scipy.stats ...) "
            "instead of numpy, and with jnp.where instead of Python if/float() on its arguments"
        ) from err
