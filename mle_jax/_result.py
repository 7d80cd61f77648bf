"""What a fit returns: the estimates, how the optimiser stopped, and what inference needs."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from ._bijections import MvnParams
from ._model import Gaussian
from ._models import Model
from ._standardise import Affine
from ._types import Estimate, Status
from .stats import SuffStats

__all__ = ["FitResult"]


@dataclasses.dataclass(frozen=True)
class FitResult:
    """The result of :func:`~mle_jax.fit` (and, with a leading ``(B,)`` axis on every array,
    of :func:`~mle_jax.fit_many`). A pytree: ``model``, ``univariate`` and ``columns`` are
    static; everything else is a leaf. All estimates are in the user's units.

    Attributes:
        mean: ``(d,)`` fitted mean (``()`` for univariate data).
        cov: ``(d, d)`` fitted covariance (``()``: the variance).
        std: ``(d,)`` square roots of the diagonal of ``cov`` (``()``: the std).
        params: :class:`~mle_jax.MvnParams`, the unconstrained parameters.
        nll: ``()`` total negative log-likelihood of the data at the solution (2*pi constant
            included; weighted if weights were given; without ridge penalty or prior).
        converged: ``()`` bool, the gradient norm reached ``tol``.
        status: ``()`` int, a :class:`~mle_jax.Status` code (see :attr:`message`).
        num_steps: ``()`` int, optimiser steps taken.
        grad_norm: ``()`` gradient norm at the returned point, of the mean NLL per sample in
            the optimiser's (standardised) parameters: the scale-free quantity ``tol`` bounds.
        loss_history: ``(max_steps + 1,)`` objective (total, user units) at the start and after
            each step; NaN after the last step.
        count: ``()`` number of samples (sum of the weights).
        path: an :class:`~mle_jax.Estimate` with a leading ``(num_steps + 1,)`` axis of the
            iterates when ``trace=True``; else ``None``.
        stats: :class:`~mle_jax.stats.SuffStats` of the data (host float64, user units): what
            :mod:`mle_jax.inference` reads instead of the data.
        standardiser: the :class:`~mle_jax._standardise.Affine` map the optimiser worked in.
        model: the :class:`~mle_jax.Gaussian` or :class:`~mle_jax.Model` that was fitted
            (static).
        univariate: the data were 1-D (static).
        columns: column names, if known (static).
        free: ``(p,)`` a :class:`~mle_jax.Model` fit's free coordinates at the estimate
            (``None`` for a ``Gaussian``).
        at_bound: ``(p,)`` bool, which free scalars ended at their bound (a Heywood case);
            :attr:`boundary` names them.
        layout: a model fit's :class:`~mle_jax._models.Layout` (static).
        names: the ``p`` names of a model's free scalars (static).

    For a :class:`~mle_jax.Model`, ``params`` is the fitted parameter pytree (the structure
    of the model's start) and ``path`` (``trace=True``) the same pytree with a leading steps
    axis.

    The fitted Gaussian as a distribution (every model; leading batch axes for ``fit_many``):
    :meth:`sample`, :meth:`logpdf` (NaN entries marginalised), :meth:`conditional`,
    :attr:`corr` (standard errors: :func:`mle_jax.inference.correlation`); imputation:
    :func:`mle_jax.missing.impute`. On disk: :meth:`save`, :meth:`load`.
    """

    mean: Any
    cov: Any
    std: Any
    params: MvnParams
    nll: Any
    converged: Any
    status: Any
    num_steps: Any
    grad_norm: Any
    loss_history: Any
    count: Any
    path: Estimate | None
    stats: SuffStats
    standardiser: Affine
    model: Gaussian | Model = Gaussian()
    univariate: bool = False
    columns: tuple | None = None
    free: Any = None
    at_bound: Any = None
    layout: Any = None
    names: tuple | None = None

    @property
    def message(self):
        """Why the fit stopped, in words (a list of them for a batch of fits)."""
        status = np.asarray(self.status)
        if status.ndim == 0:
            return Status.message(status)
        return [Status.message(s) for s in status.ravel()]

    @property
    def boundary(self):
        """Names of the parameters at their bound (a list per member for a batch)."""
        if self.at_bound is None:
            return [] if not self.batch_shape else [[] for _ in range(self.batch_shape[0])]
        at = np.asarray(self.at_bound)
        names = self.names or ()
        if at.ndim == 1:
            return [names[i] for i in np.flatnonzero(at)]
        return [[names[i] for i in np.flatnonzero(row)] for row in at]

    @property
    def batch_shape(self) -> tuple:
        """``()`` for one fit, ``(B,)`` for ``fit_many``."""
        return tuple(np.shape(self.nll))

    def __getitem__(self, index) -> FitResult:
        """Member(s) of a batch of fits: ``res[3]`` is the 4th fit of ``fit_many``."""
        if not self.batch_shape:
            raise TypeError("a single fit has no members to index; only fit_many results do")
        return jax.tree.map(lambda a: a[index], self)

    def replace(self, **changes) -> FitResult:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    # -- the fitted distribution ------------------------------------------------------------
    def sample(self, key, n: int) -> jax.Array:
        """``n`` draws from the fitted Gaussian ``N(mean, cov)``.

        Args:
            key: a JAX random key (``jax.random.key(0)``).
            n: the number of draws.

        Returns:
            ``(*batch_shape, n, d)`` (``(*batch_shape, n)`` for a univariate fit), in the
            dtype of the fit.
        """
        from ._distribution import sample

        return sample(self, key, n)

    def logpdf(self, x) -> jax.Array:
        """Log-density of rows under the fitted Gaussian; NaN entries are marginalised out
        (each row's density is that of its observed entries under their marginal).

        Args:
            x: ``(n, d)`` or one row ``(d,)`` (1-D or a number for a univariate fit), NaN for
                unknown entries; or a DataFrame holding the fit's columns.

        Returns:
            ``(*batch_shape, n)`` (``(*batch_shape,)`` for one row); 0 for a row with no
            observed entry.
        """
        from ._distribution import logpdf

        return logpdf(self, x)

    def conditional(self, given):
        """The Gaussian of the other columns given values of some.

        Args:
            given: ``{column: value}`` (a column's name or index), or a ``(d,)`` array with
                NaN for the unknown columns.

        Returns:
            A :class:`~mle_jax._distribution.Conditional`: ``mean``, ``cov`` (the Schur
            complement), the regression ``coef`` and ``intercept`` of the unknown columns on
            the given ones, and which ``columns`` and ``given`` they are (batched like the fit).

        Examples:
            >>> import numpy as np, mle_jax as mj
            >>> x = np.random.default_rng(0).multivariate_normal([0, 0], [[1, .8], [.8, 1]], 500)
            >>> c = mj.fit(x).conditional({0: 1.0})
            >>> c.mean.shape, c.cov.shape, c.coef.shape
            ((1,), (1, 1), (1, 1))
        """
        from ._distribution import conditional

        return conditional(self, given)

    @property
    def corr(self) -> jax.Array:
        """``(*batch_shape, d, d)`` the fitted correlation matrix; standard errors by the
        delta method: :func:`mle_jax.inference.correlation`."""
        from ._distribution import corr

        return corr(self)

    # -- saving -----------------------------------------------------------------------------
    def save(self, path) -> str:
        """Write the result to ``path`` (``.npz`` appended if missing): the arrays in numpy's
        portable ``.npz`` format and JSON metadata (format version, mle_jax version, model,
        columns, names). Read it back with :meth:`FitResult.load`. The iterates
        (``path``, ``trace=True``) are not saved. Returns the file name written."""
        from ._result_io import save

        return save(self, path)

    @classmethod
    def load(cls, path, model=None) -> FitResult:
        """Read a result written by :meth:`save`.

        Args:
            path: the file.
            model: the fitted model, needed when it cannot be rebuilt from the file (a
                :class:`~mle_jax.Structured` model or any model with functions in it, a
                Gaussian with a prior); else rebuilt (``Gaussian``, the built-in models,
                ``SEM``).

        Raises:
            ValueError: not a saved result, written by a newer format, or ``model`` does not
                match the file.
        """
        from ._result_io import load

        return load(cls, path, model)

    # -- printing ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        from ._result_io import short_repr

        return short_repr(self)

    def _repr_markdown_(self) -> str:
        from ._result_io import markdown

        return markdown(self)

    def _repr_html_(self) -> str:
        from ._result_io import html

        return html(self)


_STATIC = ("model", "univariate", "columns", "layout", "names")
jax.tree_util.register_dataclass(
    FitResult,
    data_fields=[f.name for f in dataclasses.fields(FitResult) if f.name not in _STATIC],
    meta_fields=list(_STATIC),
)
