"""Structural equation models in lavaan's syntax: :class:`SEM`, one more :class:`Model`.

The parameter table (:mod:`mle_jax._sem_syntax`) becomes three matrices per group in the
RAM form (McArdle and McDonald), over the observed variables then the latent ones
(``v = p + m``): ``A (v, v)`` the directed paths (loadings, regressions), ``S (v, v)`` the
variances and covariances, ``M (v,)`` the intercepts and latent means. With
``B = (I - A)^{-1}`` the model's moments are ``Sigma = (B S B^T)[:p, :p]`` and
``mu = (B M)[:p]``. Every free row reads one entry of the free vector ``theta``; rows tied by a
label or by ``group_equal`` read the same one.

A multigroup model is one Gaussian over the groups' variables side by side: a row of group
``g`` observes block ``g`` only, and the covariance is block diagonal. The observed-data
(FIML) likelihood of those stacked rows is exactly the multigroup likelihood, so groups get
every entry point, FIML within groups, the information matrices and batched refits with no
code of their own.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate
from . import constraints as C
from ._model_objective import general_inverse
from ._models import Model, Report
from ._sem_syntax import GROUP_EQUAL, Row, parse, partable, variables
from ._types import HIGHEST

__all__ = ["SEM"]


@dataclasses.dataclass(frozen=True)
class _Spec:
    """The static structure of a bound SEM: rows, variables, index arrays (host numpy)."""

    rows: tuple
    observed: tuple
    latent: tuple
    groups: int
    q: int  # free parameters
    coef: np.ndarray  # (qc,) 0-based free numbers of the real ones
    var: np.ndarray  # (qv,) of the variances (positive)
    entries: dict  # "A" | "S" | "M" -> (g, i, j, free0, value) arrays


def _build(rows: tuple[Row, ...], observed, latent, groups: int) -> _Spec:
    index = {v: k for k, v in enumerate((*observed, *latent))}
    q = max((r.free for r in rows), default=0)
    entries = {k: [] for k in "ASM"}
    is_var = np.ones(q, bool)
    for r in rows:
        f = r.free - 1
        value = 0.0 if r.value is None else float(r.value)
        g = r.group - 1
        if r.op == "=~":
            entries["A"].append((g, index[r.rhs], index[r.lhs], f, value))
        elif r.op == "~":
            entries["A"].append((g, index[r.lhs], index[r.rhs], f, value))
        elif r.op == "~~":
            entries["S"].append((g, index[r.lhs], index[r.rhs], f, value))
        else:
            entries["M"].append((g, index[r.lhs], 0, f, value))
        if f >= 0 and not (r.op == "~~" and r.lhs == r.rhs):
            is_var[f] = False
    arrays = {}
    for k, rows_k in entries.items():
        a = np.array(rows_k, np.float64).reshape(-1, 5)
        arrays[k] = (a[:, 0].astype(int), a[:, 1].astype(int), a[:, 2].astype(int),
                     a[:, 3].astype(int), a[:, 4])  # fmt: skip
    return _Spec(
        rows=rows,
        observed=tuple(observed),
        latent=tuple(latent),
        groups=groups,
        q=q,
        coef=np.flatnonzero(~is_var),
        var=np.flatnonzero(is_var),
        entries=arrays,
    )


@dataclasses.dataclass(frozen=True)
class SEM(Model):
    """A structural equation model written in lavaan's syntax.

    Args:
        syntax: the model, e.g. ``"visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6"``:
            ``=~`` (latent variables and their indicators), ``~`` (regressions; ``y ~ 1``
            an intercept), ``~~`` (variances and covariances); modifiers ``0.5*x`` (fixed),
            ``NA*x`` (free), ``a*x`` (a label: equal wherever it appears), ``start(v)*x``,
            ``c(a, b)*x`` (one per group); ``#`` comments; ``;`` or newlines between
            statements.
        group: the name of the grouping column of the data (a multigroup model), or ``None``.
        group_equal: what is equal across groups (lavaan's ``group.equal``): any of
            ``"loadings"``, ``"intercepts"``, ``"means"``, ``"residuals"``,
            ``"residual.covariances"``, ``"lv.variances"``, ``"lv.covariances"``,
            ``"regressions"``. With equal intercepts the latent means are free in the groups
            after the first, as in lavaan.
        std_lv: scale each latent variable by fixing its variance to 1 (and freeing every
            loading) instead of fixing its first loading to 1.
        meanstructure: show and count intercepts and latent means; default lavaan's: on for
            incomplete data (FIML), several groups, or an ``~ 1`` in the syntax.

    lavaan's defaults hold: first loadings fixed to 1, free residual and latent variances,
    covarying exogenous latent variables, free observed intercepts and latent means fixed
    at 0. Differences: exogenous observed covariates of a regression are modelled (free
    means, variances and covariances; lavaan's ``fixed.x = FALSE``), and variances are
    kept positive (a variance at 0 is reported as a boundary (Heywood) solution, where
    lavaan would go negative).

    Fitted by :func:`mle_jax.fit` from a pandas DataFrame (or an array with ``columns=``)
    that holds the observed variables (and the group column); see
    :func:`mle_jax.inference.parameter_table` (lavaan's rows and names, ``std_all``) and
    :func:`mle_jax.inference.fit_measures`.

    Examples:
        >>> import pandas as pd, mle_jax as mj
        >>> x, columns = mj.load_dataset("holzinger_swineford")
        >>> hs = pd.DataFrame(x, columns=columns)
        >>> model = mj.SEM('''visual  =~ x1 + x2 + x3
        ...                   textual =~ x4 + x5 + x6
        ...                   speed   =~ x7 + x8 + x9''')
        >>> res = mj.fit(hs, model)
        >>> round(float(mj.inference.fit_measures(res)["chisq"]), 3)
        85.306
    """

    syntax: str
    group: str | None = None
    group_equal: tuple = ()
    std_lv: bool = False
    meanstructure: bool | None = None
    groups: tuple = ()  # the group labels, in order of appearance (set by prepare_data)
    incomplete: bool = False  # fitted by FIML (set by prepare_data)

    def __post_init__(self):
        equal = self.group_equal
        if isinstance(equal, str):
            equal = (equal,)
        equal = tuple(equal)
        unknown = sorted(set(equal) - set(GROUP_EQUAL))
        if unknown:
            raise ValueError(f"group_equal has {unknown}; lavaan's names are {GROUP_EQUAL}")
        object.__setattr__(self, "group_equal", equal)
        if self.group is not None and not isinstance(self.group, str):
            raise TypeError(f"group must be a column name (a string), got {self.group!r}")
        if equal and self.group is None:
            raise ValueError("group_equal needs group= (the grouping column)")
        _ = self._statements  # a syntax error is raised here, at construction

    # -- structure --------------------------------------------------------------------------
    @functools.cached_property
    def _statements(self):
        return parse(self.syntax)

    @functools.cached_property
    def _spec(self) -> _Spec:
        names = variables(self._statements)
        rows = partable(
            self._statements,
            max(len(self.groups), 1),
            std_lv=self.std_lv,
            group_equal=self.group_equal,
            means=self._means_shown,
        )
        _check_scales(self._statements, rows, names)
        return _build(rows, names.observed, names.latent, max(len(self.groups), 1))

    @property
    def observed(self) -> tuple:
        """The observed variables, in the model's order (the columns it reads)."""
        return variables(self._statements).observed

    @property
    def latent(self) -> tuple:
        return variables(self._statements).latent

    @property
    def _means_shown(self) -> bool:
        if self.meanstructure is not None:
            return bool(self.meanstructure)
        stmts = self._statements
        has_means = any(s.op == "~" and any(t.var == "1" for t in s.terms) for s in stmts)
        return self.incomplete or len(self.groups) > 1 or has_means

    @property
    def free_mean(self) -> bool:  # type: ignore[override]
        """Without a mean structure, the intercepts are the saturated mean (as in lavaan)."""
        return not self._means_shown

    # -- the data -----------------------------------------------------------------------------
    def prepare_data(self, x, columns, missing: str):
        """The observed variables of ``x`` in the model's order; for a multigroup model, the
        groups side by side (see the module docstring). Returns ``(x, columns, missing,
        model)``, the model bound to the groups."""
        if hasattr(x, "columns") and hasattr(x, "to_numpy"):
            names = [str(c) for c in x.columns] if columns is None else list(columns)
            table = x
        elif columns is not None and hasattr(x, "shape") and np.ndim(x) == 2:
            names, table = [str(c) for c in columns], None
        else:
            raise TypeError(
                "an SEM reads its variables by name: pass a pandas DataFrame, or a 2-D "
                "array with columns= (the variable names)"
            )
        lines = variables(self._statements).first_line
        for v in self.observed:
            if v not in names:
                raise ValueError(
                    f"model syntax: unknown variable {v!r} in line {lines[v]!r}: the data have "
                    f"no such column (columns: {', '.join(names[:20])})"
                )
        pick = [names.index(v) for v in self.observed]
        data = table.iloc[:, pick].to_numpy() if table is not None else np.asarray(x)[:, pick]
        try:
            data = np.asarray(data, np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"the observed variables must be numeric: {err}") from None
        holes = bool(np.isnan(data).any())
        if self.group is None:
            model = dataclasses.replace(self, incomplete=holes and missing == "fiml")
            return data, self.observed, missing, model
        if self.group not in names:
            raise ValueError(f"group={self.group!r} is not a column of the data")
        labels_col = (
            table.iloc[:, names.index(self.group)].to_numpy()
            if table is not None
            else np.asarray(x)[:, names.index(self.group)]
        )
        labels = list(dict.fromkeys(labels_col.tolist()))  # order of appearance
        if any(lab is None or (isinstance(lab, float) and np.isnan(lab)) for lab in labels):
            raise ValueError(f"the group column {self.group!r} has missing values")
        if len(labels) < 2:
            raise ValueError(f"the group column {self.group!r} has one group; drop group=")
        if holes and missing == "raise":
            raise ValueError(
                "x holds NaN in the observed variables; pass missing='fiml' (full-information "
                "maximum likelihood) or missing='drop' (complete rows only)"
            )
        if holes and missing == "drop":
            keep = ~np.isnan(data).any(axis=1)
            _validate.warn(
                f"missing='drop': dropped {int((~keep).sum())} of {data.shape[0]} rows with NaN"
            )
            data, labels_col = data[keep], labels_col[keep]
        p, groups = len(self.observed), len(labels)
        stacked = np.full((data.shape[0], p * groups), np.nan)
        for g, lab in enumerate(labels):
            rows = labels_col == lab
            stacked[rows, g * p : (g + 1) * p] = data[rows]
        cols = tuple(f"{v}.g{g + 1}" for g in range(groups) for v in self.observed)
        model = dataclasses.replace(
            self, groups=tuple(str(lab) for lab in labels), incomplete=holes and missing == "fiml"
        )
        return stacked, cols, "fiml", model

    def blocks(self) -> tuple:
        """The column blocks that are never observed together (one per group)."""
        p = len(self.observed)
        return tuple(tuple(range(g * p, (g + 1) * p)) for g in range(max(len(self.groups), 1)))

    def is_incomplete(self, stats) -> bool:
        return self.incomplete

    def check(self, d: int, columns: tuple) -> None:
        want = len(self.observed) * max(len(self.groups), 1)
        if d != want:
            raise ValueError(
                f"the SEM reads {want} columns ({len(self.observed)} observed variables"
                f"{f' x {len(self.groups)} groups' if self.groups else ''}) but the data have "
                f"{d}: fit it with mj.fit(df, model), where df holds the variables by name"
            )

    # -- the Gaussian -------------------------------------------------------------------------
    def constraints(self):
        return {"coef": C.real, "var": C.positive}

    def theta(self, params) -> jax.Array:
        """``(q,)`` the free parameters in lavaan's order (the ``free`` numbers - 1)."""
        spec = self._spec
        coef = jnp.asarray(params["coef"])
        th = jnp.zeros(spec.q, coef.dtype)
        return th.at[spec.coef].set(coef).at[spec.var].set(jnp.asarray(params["var"]))

    def matrices(self, params):
        """``A (G, v, v)``, ``S (G, v, v)``, ``M (G, v)`` (see the module docstring)."""
        return self._matrices(self.theta(params))

    def _matrices(self, th):
        """:meth:`matrices` of the free vector ``th (q,)``."""
        spec = self._spec
        v = len(spec.observed) + len(spec.latent)
        shape = (spec.groups, v, v)

        def values(kind):
            g, i, j, f, value = spec.entries[kind]
            return g, i, j, jnp.where(f >= 0, th[np.maximum(f, 0)], value)

        g, i, j, val = values("A")
        a = jnp.zeros(shape, th.dtype).at[g, i, j].set(val)
        g, i, j, val = values("S")
        s = jnp.zeros(shape, th.dtype).at[g, i, j].set(val).at[g, j, i].set(val)
        g, i, _, val = values("M")
        m = jnp.zeros(shape[:2], th.dtype).at[g, i].set(val)
        return a, s, m

    def implied_all(self, params):
        """``(cov (G, v, v), mean (G, v))`` of every variable, observed and latent."""
        a, s, m = self.matrices(params)
        eye = jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape)
        # (I - A)^{-1} whose derivative is matrix products (fast Jacobians on a CPU)
        b = jax.vmap(general_inverse)(eye - a)
        cov = b @ s @ jnp.swapaxes(b, -1, -2)
        return cov, jnp.einsum("gij,gj->gi", b, m)

    def analytic_moments(self):
        """``(theta, derivatives)``: :meth:`theta` and :meth:`moment_derivatives`."""
        return self.theta, self.moment_derivatives

    def moment_derivatives(self, theta, g_mean, g_cov):
        """Analytic derivatives of the observed moments (:meth:`mean`, :meth:`cov`) in the
        free vector ``theta (q,)`` (:meth:`theta`), with ``d = G p`` the observed columns.

        Every free row is one entry of ``A``, ``S`` or ``M`` of one group, so with ``B =
        (I - A)^{-1}``, ``Y = B S B^T`` and ``m = B M`` the derivatives are outer products of
        columns: an entry ``A_ij`` moves ``Sigma`` by ``B_:i Y_j: + (B_:i Y_j:)^T`` and ``mu``
        by ``B_:i m_j``, an entry ``S_kl`` moves ``Sigma`` by ``B_:k B_:l^T + B_:l B_:k^T``
        (once where ``k = l``), an entry ``M_k`` moves ``mu`` by ``B_:k``; rows tied by a
        label share a free number and add up.

        Args:
            theta: ``(q,)``.
            g_mean: ``(d,)`` a gradient in the mean.
            g_cov: ``(d, d)`` a symmetric gradient in the covariance (the blocks between
                groups are not read).

        Returns:
            ``j_mean (d, q)``, ``j_cov (q, d, d)`` (the Jacobians) and ``curv (q, q)`` the
            second derivatives contracted with the gradients: the Hessian of ``theta ->
            sum(g_mean * mean) + sum(g_cov * cov)``.
        """
        spec = self._spec
        p, q, groups = len(spec.observed), spec.q, spec.groups
        a, s, m_vec = self._matrices(theta)
        v = a.shape[-1]
        eye = jnp.broadcast_to(jnp.eye(v, dtype=a.dtype), a.shape)
        mm = lambda x, y: jnp.matmul(x, y, precision=HIGHEST)  # noqa: E731
        b = jax.vmap(general_inverse)(eye - a)  # (G, v, v)
        bt = jnp.swapaxes(b, -1, -2)
        y = mm(mm(b, s), bt)
        m = jnp.einsum("gij,gj->gi", b, m_vec, precision=HIGHEST)  # (G, v)
        # the gradients per group, padded to the v variables
        gc = jnp.zeros((groups, v, v), a.dtype)
        hm = jnp.zeros((groups, v), a.dtype)
        for g in range(groups):
            blk = slice(g * p, (g + 1) * p)
            gc = gc.at[g, :p, :p].set(g_cov[blk, blk])
            hm = hm.at[g, :p].set(g_mean[blk])
        z = mm(mm(bt, gc), b)  # B^T Gc B
        r = mm(mm(y, gc), b)  # Y Gc B
        hb = jnp.einsum("gi,gij->gj", hm, b, precision=HIGHEST)  # h^T B

        free = {}
        for kind in "ASM":
            g, i, j, f, _ = spec.entries[kind]
            keep = f >= 0
            free[kind] = (g[keep], i[keep], j[keep], f[keep])
        ga, ia, ja, fa = free["A"]
        gs, ks, ls, fs = free["S"]
        gm, km, _, fm = free["M"]
        bo = b[:, :p, :]  # (G, p, v) the observed rows

        # the Jacobians per entry, then summed per free number and group
        col = lambda g, i: bo[g, :, i]  # noqa: E731  (E, p)
        outer = lambda x, y: x[:, :, None] * y[:, None, :]  # noqa: E731
        dcov_a = outer(col(ga, ia), y[ga, ja, :p])
        dcov_a = dcov_a + jnp.swapaxes(dcov_a, -1, -2)
        dcov_s = outer(col(gs, ks), col(gs, ls))
        dcov_s = dcov_s + jnp.where((ks != ls)[:, None, None], jnp.swapaxes(dcov_s, -1, -2), 0.0)
        jc = jnp.zeros((q, groups, p, p), a.dtype)
        jc = jc.at[fa, ga].add(dcov_a).at[fs, gs].add(dcov_s)
        jm = jnp.zeros((q, groups, p), a.dtype)
        jm = jm.at[fa, ga].add(col(ga, ia) * m[ga, ja][:, None]).at[fm, gm].add(col(gm, km))
        diag = jnp.eye(groups, dtype=a.dtype)
        j_cov = jnp.einsum("fgab,gh->fgahb", jc, diag).reshape(q, groups * p, groups * p)
        j_mean = jm.reshape(q, groups * p).T

        # the contracted second derivatives of pairs of entries of one group (only pairs
        # with an A entry are nonzero: Sigma and mu are linear in S and M)
        row = lambda x: x[:, None]  # noqa: E731
        cl = lambda x: x[None, :]  # noqa: E731
        g1 = row(ga)
        i, j, k, l = row(ia), row(ja), cl(ia), cl(ja)  # noqa: E741
        aa = 2.0 * (
            b[g1, j, k] * r[g1, l, i] + b[g1, l, i] * r[g1, j, k] + z[g1, k, i] * y[g1, j, l]
        )
        aa = aa + b[g1, j, k] * hb[g1, i] * m[g1, l] + b[g1, l, i] * hb[g1, k] * m[g1, j]
        aa = jnp.where(g1 == cl(ga), aa, 0.0)
        k, l = cl(ks), cl(ls)  # noqa: E741
        off = (k != l).astype(a.dtype)
        as_ = 2.0 * (b[g1, j, k] * z[g1, l, i] + off * b[g1, j, l] * z[g1, k, i])
        as_ = jnp.where(g1 == cl(gs), as_, 0.0)
        am = jnp.where(g1 == cl(gm), hb[g1, i] * b[g1, j, cl(km)], 0.0)
        curv = jnp.zeros((q, q), a.dtype).at[row(fa), cl(fa)].add(aa)
        for block, other in ((as_, fs), (am, fm)):
            curv = curv.at[row(fa), cl(other)].add(block).at[row(other), cl(fa)].add(block.T)
        return j_mean, j_cov, curv

    def cov(self, params):
        p = len(self._spec.observed)
        cov = self.implied_all(params)[0][:, :p, :p]
        return jax.scipy.linalg.block_diag(*cov) if cov.shape[0] > 1 else cov[0]

    def mean(self, params):
        p = len(self._spec.observed)
        return jnp.ravel(self.implied_all(params)[1][:, :p])

    # -- starts and names ---------------------------------------------------------------------
    def start(self, mean, cov):
        spec = self._spec
        p = len(spec.observed)
        theta = np.full(spec.q, np.nan)
        for g in range(spec.groups):
            blk = slice(g * p, (g + 1) * p)
            starts = _row_starts(spec, g + 1, np.asarray(mean)[blk], np.asarray(cov)[blk, blk])
            for r in spec.rows:
                if r.group == g + 1 and r.free and np.isnan(theta[r.free - 1]):
                    theta[r.free - 1] = starts[r]
        return {"coef": theta[spec.coef], "var": theta[spec.var]}

    def names(self, layout, columns):
        spec = self._spec
        first: dict = {}
        for r in spec.rows:
            first.setdefault(r.free, r)
        label = lambda r: r.name + (f".g{r.group}" if r.group > 1 else "")  # noqa: E731
        names = [label(first[k + 1]) for k in (*spec.coef, *spec.var)]
        if layout.free_mean:
            names += [f"{v}~1" for v in spec.observed]
        return names

    def describe(self) -> str:
        groups = f", {len(self.groups)} groups" if self.groups else ""
        return f"SEM ({len(self.latent)} latent, {len(self.observed)} observed{groups})"

    # -- the parameter table ------------------------------------------------------------------
    def report(self) -> Report:
        spec = self._spec
        rows = spec.rows
        free = np.array([r.free - 1 for r in rows])
        fixed = np.array([0.0 if r.value is None else r.value for r in rows])
        index = {v: k for k, v in enumerate((*spec.observed, *spec.latent))}

        def values(params):
            th = self.theta(params)
            return jnp.where(free >= 0, th[np.maximum(free, 0)], fixed)

        g = np.array([r.group - 1 for r in rows])
        i = np.array([index[r.lhs] for r in rows])
        j = np.array([index[r.rhs] if r.rhs else 0 for r in rows])
        op = np.array([r.op for r in rows])

        def std_all(params):
            est = values(params)
            cov, _ = self.implied_all(params)
            sd = jnp.sqrt(jnp.diagonal(cov, axis1=-2, axis2=-1))  # (G, v)
            rsd = jnp.sqrt(jnp.diagonal(self.matrices(params)[1], axis1=-2, axis2=-1))
            sd_i, sd_j = sd[g, i], sd[g, j]
            # as lavaan's std.all: a loading f=~x scales by sd(f)/sd(x), a regression y~x by
            # sd(x)/sd(y), a variance by 1/var, a covariance by the residual (or exogenous)
            # standard deviations (a residual correlation), an intercept or mean by 1/sd
            return jnp.select(
                [op == "=~", op == "~", (op == "~~") & (i == j), op == "~~"],
                [est * sd_i / sd_j, est * sd_j / sd_i, est / (sd_i * sd_j),
                 est / (rsd[g, i] * rsd[g, j])],
                est / sd_i,
            )  # fmt: skip

        columns = {
            "lhs": tuple(r.lhs for r in rows),
            "op": tuple(r.op for r in rows),
            "rhs": tuple(r.rhs for r in rows),
            "group": tuple(r.group for r in rows),
            "label": tuple(r.label for r in rows),
            "free": tuple(r.free for r in rows),
        }
        return Report(tuple(r.name for r in rows), columns, values, {"std_all": std_all})


def _check_scales(statements, rows, names) -> None:
    """lavaan's usual identification failure, named before any fit: a latent variable with
    no scale (no fixed loading and a free variance)."""
    for f in names.latent:
        loads = [r for r in rows if r.op == "=~" and r.lhs == f and r.group == 1]
        var = [r for r in rows if r.op == "~~" and r.lhs == f and r.rhs == f and r.group == 1]
        if loads and all(r.free for r in loads) and all(r.free for r in var):
            raise ValueError(
                f"latent variable {f!r} has no scale: all its loadings and its variance are "
                f"free; fix one loading (1*{loads[0].rhs}) or its variance ({f} ~~ 1*{f}), or "
                "pass std_lv=True"
            )


def _row_starts(spec: _Spec, group: int, mean: np.ndarray, cov: np.ndarray) -> dict:
    """lavaan-like starting values for the free rows of one group, from its moments: a
    one-factor estimate of each latent variable's loadings (ratios of covariances with the
    marker indicator) and variance, half the observed variances as residual variances, zero
    regressions and covariances, sample means as intercepts."""
    obs = {v: k for k, v in enumerate(spec.observed)}
    rows = [r for r in spec.rows if r.group == group]
    lam: dict = {}
    psi: dict = {}
    for f in spec.latent:
        loads = [r for r in rows if r.op == "=~" and r.lhs == f]
        ind = [r for r in loads if r.rhs in obs]
        est = _one_factor([obs[r.rhs] for r in ind], cov)
        if est is None:
            lam.update({r: (r.value if r.value is not None else 1.0) for r in loads})
            scale = np.mean([cov[obs[r.rhs], obs[r.rhs]] for r in ind]) if ind else 1.0
            psi[f] = 0.05 * scale
            continue
        loading, variance = est
        marker = next((r.value for r in loads if not r.free and r.value), None)
        for r, val in zip(ind, loading, strict=True):
            lam[r] = val * (marker if marker else 1.0)
        for r in loads:
            lam.setdefault(r, 1.0)
        psi[f] = variance / (marker**2 if marker else 1.0)
        if all(r.free for r in loads):  # std_lv (or all free): loadings carry the scale
            for r in loads:
                lam[r] = lam[r] * np.sqrt(psi[f])
            psi[f] = 1.0
    out = {}
    for r in rows:
        if r.start is not None:
            out[r] = r.start
        elif r.op == "=~":
            out[r] = lam[r]
        elif r.op == "~~" and r.lhs == r.rhs:
            out[r] = psi.get(r.lhs, 0.0) if r.lhs in psi else 0.5 * cov[obs[r.lhs], obs[r.lhs]]
            if not out[r] > 0:
                out[r] = 0.05
        elif r.op == "~1" and r.lhs in obs:
            out[r] = mean[obs[r.lhs]]
        else:
            out[r] = 0.0
    return out


def _one_factor(idx: list, cov: np.ndarray):
    """``(loadings (k,), variance)`` with the first loading 1 from the covariances of ``k``
    indicators (ratios of sums of covariances; ``None`` when they do not support one)."""
    k = len(idx)
    if k < 2:
        return None
    c = cov[np.ix_(idx, idx)]
    lam = np.ones(k)
    if k >= 3:
        for j in range(1, k):
            others = [m for m in range(1, k) if m != j]
            num, den = c[j, others].sum(), c[0, others].sum()
            lam[j] = num / den if den != 0 else np.nan
    psi = np.mean([c[0, j] / lam[j] for j in range(1, k)])
    usable = np.all(np.isfinite(lam)) and np.all(np.abs(lam) > 1e-8)
    if not (usable and np.isfinite(psi) and psi > 0):
        return None
    psi = min(psi, 0.95 * c[0, 0])
    return lam, psi
