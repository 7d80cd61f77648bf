"""Model choice and the summary table: log-likelihood, AIC, BIC, a statsmodels-like table."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from .._patterns import PatternStats, missing_fraction
from ._errors import names, standard_errors, z_value
from ._profile import profile_interval
from ._table import lr_test, num_params, table_rows

__all__ = ["Summary", "aic", "bic", "loglik", "num_params", "summary"]


def loglik(result) -> jax.Array:
    """Log-likelihood of the data at the fit: ``-result.nll`` (2*pi constant included; for a
    MAP fit the data log-likelihood, without the prior)."""
    return -jnp.asarray(result.nll)


def aic(result) -> jax.Array:
    """Akaike information criterion ``2 k - 2 log L`` (``k`` = :func:`num_params`)."""
    return 2.0 * num_params(result) - 2.0 * loglik(result)


def bic(result) -> jax.Array:
    """Bayesian information criterion ``k log n - 2 log L`` (``n`` = sum of the weights)."""
    return num_params(result) * jnp.log(jnp.asarray(result.count)) - 2.0 * loglik(result)


# ----------------------------------------------------------------------------- summary


class Summary(NamedTuple):
    """What :func:`summary` returns: the table as data and as text.

    Attributes:
        names: the estimated parameters' names.
        estimate, se, z, pvalue, lower, upper: ``(p,)`` float64 arrays (``z = estimate /
            se`` and its two-sided normal p-value, as statsmodels prints them).
        interval: ``"wald"`` or ``"profile"`` (off-diagonal covariances are always Wald).
        level: the interval coverage.
        loglik, aic, bic: model-choice numbers; ``num_params``; ``count`` the sample size.
        text: the printed table.
    """

    names: tuple
    estimate: np.ndarray
    se: np.ndarray
    z: np.ndarray
    pvalue: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    interval: str
    level: float
    loglik: float
    aic: float
    bic: float
    num_params: int
    count: float
    text: str

    def rows(self) -> list:
        """The table as a list of dicts, one per parameter."""
        keys = ("name", "estimate", "se", "z", "pvalue", "lower", "upper")
        cols = (self.names, self.estimate, self.se, self.z, self.pvalue, self.lower, self.upper)
        return [dict(zip(keys, vals, strict=True)) for vals in zip(*cols, strict=True)]

    def __str__(self) -> str:
        return self.text


def summary(
    result,
    *,
    level: float = 0.95,
    interval: str = "wald",
    columns=None,
    print_table: bool = True,
) -> Summary:
    """A statsmodels-like table of a fit: estimate, standard error, z, p-value, interval.

    Rows are the estimated parameters: the means (unless fixed) and the free covariance
    elements (all of the lower triangle for ``"full"``, the variances for ``"diag"``, one
    common variance for ``"spherical"``; none for a fixed covariance). Their names are
    accepted back by :func:`~mle_jax.inference.profile_interval`. ``z`` and ``P>|z|`` test
    ``parameter = 0``; they are left blank for variances, where that test is meaningless
    (0 is the boundary of the parameter space).

    Args:
        result: one :class:`~mle_jax.FitResult` (for a batch, one member: ``res[k]``).
        level: interval coverage.
        interval: ``"wald"`` or ``"profile"`` (profile intervals for means and variances,
            Wald for covariances).
        columns: column names (default: those of the fit, else ``0..d-1``).
        print_table: print the table.

    Returns:
        :class:`Summary`.
    """
    if interval not in ("wald", "profile"):
        raise ValueError(f"interval must be 'wald' or 'profile', got {interval!r}")
    if np.ndim(result.nll) != 0:
        raise ValueError("summary is of one fit; pick a member of the batch: res[k]")
    if result.layout is not None:
        return _model_summary(result, level, interval, print_table)
    z_crit = z_value(level)
    se = standard_errors(result)
    opts = result.model
    univariate = result.univariate
    d = result.stats.mean.shape[-1]
    columns = result.columns if columns is None else tuple(str(c) for c in columns)
    if columns is not None and len(columns) != d:
        raise ValueError(f"columns has {len(columns)} names for d = {d}")
    labels, _ = names(d, univariate, columns)
    mean = np.reshape(np.asarray(result.mean, np.float64), (d,))
    cov = np.reshape(np.asarray(result.cov, np.float64), (d, d))
    se_mean = np.reshape(np.asarray(se.mean, np.float64), (d,))
    se_cov = np.reshape(np.asarray(se.cov, np.float64), (d, d))
    rows, cols = np.tril_indices(d)
    keep = []
    if opts.fix_mean is None:
        keep += [(labels[i], mean[i], se_mean[i], ("mean", i)) for i in range(d)]
    if opts.fix_cov is None:
        for k, (i, j) in enumerate(zip(rows, cols, strict=True)):
            if opts.covariance == "diag" and i != j:
                continue
            if opts.covariance == "spherical" and (i != j or i > 0):
                continue
            name = labels[d + k]
            if opts.covariance == "spherical" and d > 1:
                name = "var (common)"
            keep.append((name, cov[i, j], se_cov[i, j], ("var", i) if i == j else None))
    p = len(keep)
    est = np.array([r[1] for r in keep], np.float64)
    ses = np.array([r[2] for r in keep], np.float64)
    is_var = np.array([r[3] is not None and r[3][0] == "var" for r in keep], bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(is_var, np.nan, est / ses)
    pvalue = np.asarray(2.0 * norm.cdf(-jnp.abs(jnp.asarray(z))), np.float64).reshape(p)
    lower, upper = est - z_crit * ses, est + z_crit * ses
    if interval == "profile":
        for r, row in enumerate(keep):
            if row[3] is not None:
                kind, i = row[3]
                lower[r], upper[r] = profile_interval(result, (kind, i), level=level)
    ll = float(loglik(result))
    k = num_params(result)
    count = float(result.count)
    a, b = float(aic(result)), float(bic(result))
    text = _format(
        names=[r[0] for r in keep],
        est=est,
        se=ses,
        z=z,
        pvalue=pvalue,
        lower=lower,
        upper=upper,
        level=level,
        interval=interval,
        model=opts.describe(d),
        prior=opts.prior is not None,
        ridge=opts.ridge,
        missing_lines=_missing_lines(result.stats, columns, d),
        ll=ll,
        aic=a,
        bic=b,
        k=k,
        count=count,
        converged=bool(result.converged),
    )
    if print_table:
        print(text)
    return Summary(
        names=tuple(r[0] for r in keep),
        estimate=est,
        se=ses,
        z=z,
        pvalue=pvalue,
        lower=lower,
        upper=upper,
        interval=interval,
        level=float(level),
        loglik=ll,
        aic=a,
        bic=b,
        num_params=k,
        count=count,
        text=text,
    )


def _format(
    *,
    names,
    est,
    se,
    z,
    pvalue,
    lower,
    upper,
    level,
    interval,
    model,
    prior,
    ridge,
    missing_lines,
    ll,
    aic,
    bic,
    k,
    count,
    converged,
    information="observed information (autodiff Hessian)",
    extra=(),
) -> str:
    width = max([len(n) for n in names] + [12])
    lo_head, hi_head = f"[{(1 - level) / 2:.3g}", f"{(1 + level) / 2:.3g}]"
    header = (
        f"{'':<{width}} {'coef':>11} {'std err':>10} {'z':>9} {'P>|z|':>7} "
        f"{lo_head:>11} {hi_head:>11}"
    )
    line_width = len(header)
    method = "MAP (posterior mode)" if prior else "maximum likelihood"
    if ridge:
        method += f", ridge {ridge:g}"

    def pair(lk, lv, rk, rv):
        half = line_width // 2
        left = f"{lk:<18}{lv:>{half - 20}}"
        right = f"{rk:<18}{rv:>{line_width - half - 18}}"
        return f"{left}  {right}"

    out = [
        "Gaussian fit results".center(line_width),
        "=" * line_width,
        pair("Model:", model, "No. observations:", f"{count:g}"),
        pair("Method:", method, "Log-likelihood:", f"{ll:.4f}"),
        pair("Parameters:", str(k), "AIC:", f"{aic:.4f}"),
        pair("Converged:", str(converged), "BIC:", f"{bic:.4f}"),
        *missing_lines,
        "=" * line_width,
        header,
        "-" * line_width,
    ]
    for r in range(len(names)):
        out.append(
            f"{names[r]:<{width}} {est[r]:>11.4f} {se[r]:>10.4f} {_cell(z[r], 9, 3)} "
            f"{_cell(pvalue[r], 7, 3)} {lower[r]:>11.4f} {upper[r]:>11.4f}"
        )
    out.append("=" * line_width)
    kind = "profile-likelihood" if interval == "profile" else "Wald"
    note = f"{level:.0%} {kind} intervals"
    if interval == "profile":
        note += " (Wald for covariances)"
    out.append(note + f"; SEs from the inverse {information}.")
    out += extra
    return "\n".join(out)


def _model_summary(result, level: float, interval: str, print_table: bool) -> Summary:
    """:func:`summary` of a :class:`~mle_jax.Model` fit: its parameter table (lavaan's default
    information), the fit, and the chi-square test against the saturated model."""
    if interval != "wald":
        raise ValueError("summary of a Model fit has Wald intervals (interval='wald')")
    tab = table_rows(result, level=level)
    names = tab.name
    d = result.stats.mean.shape[-1]
    extra = []
    lr = None
    if not result.boundary:
        lr = lr_test(result) if num_params(result) < d + d * (d + 1) // 2 else None
    if lr is not None:
        extra.append(
            f"Model test against the saturated model: chi-square {lr.chisq:.4f} on {lr.df} df, "
            f"p = {lr.pvalue:.4g}"
        )
    if result.boundary:
        extra.append(f"Boundary (Heywood) solution: {', '.join(result.boundary)} at its bound")
    ll, k, count = float(loglik(result)), num_params(result), float(result.count)
    a, b = float(aic(result)), float(bic(result))
    est, se, z, pvalue = tab.estimate, tab.se, tab.z, tab.p
    lower, upper = tab.ci_lower, tab.ci_upper
    text = _format(
        names=names, est=est, se=se, z=z, pvalue=pvalue, lower=lower, upper=upper,
        level=level, interval="wald", model=result.model.describe(), prior=False, ridge=0.0,
        missing_lines=_missing_lines(result.stats, result.columns, d), ll=ll, aic=a, bic=b,
        k=k, count=count, converged=bool(result.converged),
        information=f"{tab.information} information", extra=extra,
    )  # fmt: skip
    if print_table:
        print(text)
    return Summary(
        names, est, se, z, pvalue, lower, upper, "wald", float(level), ll, a, b, k, count, text
    )


def _cell(value, width: int, digits: int) -> str:
    return " " * width if np.isnan(value) else f"{value:>{width}.{digits}f}"


def _missing_lines(stats, columns, d: int) -> list:
    """For incomplete data: the number of patterns and the share missing per column."""
    if not isinstance(stats, PatternStats):
        return []
    share, patterns = missing_fraction(stats)
    labels = list(columns) if columns is not None else [str(j) for j in range(d)]
    cells = ", ".join(f"{lab} {100 * s:.1f}%" for lab, s in zip(labels, share, strict=True))
    return [
        f"Missing data: FIML (observed-data likelihood), {patterns} missingness patterns",
        f"Share missing: {cells}",
    ]
