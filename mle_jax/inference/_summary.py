"""Model choice and the summary table: log-likelihood, AIC, BIC, a statsmodels-like table."""

from __future__ import annotations

import html
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._patterns import missing_fraction
from ._errors import names, standard_errors, z_value
from ._profile import profile_interval
from ._table import _normal_sf2, lr_test, num_params, table_rows

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

    ``str``, ``repr`` and a notebook's display show the table; :meth:`to_frame` gives the
    rows as a pandas DataFrame (the columns of :func:`~mle_jax.inference.parameter_table`).
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

    def to_frame(self):
        """The rows as a pandas DataFrame with the columns of
        :func:`~mle_jax.inference.parameter_table` (``name, estimate, se, z, p, ci_lower,
        ci_upper``); ``attrs`` holds ``loglik, aic, bic, num_params, count, level,
        interval``."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "Summary.to_frame needs pandas (pip install pandas); without it, "
                "Summary.rows() gives the same rows as dicts"
            ) from None
        frame = pd.DataFrame(
            {
                "name": list(self.names),
                "estimate": self.estimate,
                "se": self.se,
                "z": self.z,
                "p": self.pvalue,
                "ci_lower": self.lower,
                "ci_upper": self.upper,
            }
        )
        keys = ("loglik", "aic", "bic", "num_params", "count", "level", "interval")
        frame.attrs.update({k: getattr(self, k) for k in keys})
        return frame

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.text)}</pre>"


def _interactive() -> bool:
    """Running under IPython/Jupyter, where a returned :class:`Summary` displays itself."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return get is not None and get() is not None


def summary(
    result,
    *,
    level: float = 0.95,
    interval: str = "wald",
    columns=None,
    print_table: bool | None = None,
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
        print_table: print the table; default: yes, except under IPython/Jupyter, where
            the returned :class:`Summary` displays the table itself (so it shows once).

    Returns:
        :class:`Summary` (``to_frame()`` for a pandas DataFrame).
    """
    if interval not in ("wald", "profile"):
        raise ValueError(f"interval must be 'wald' or 'profile', got {interval!r}")
    if np.ndim(result.nll) != 0:
        raise ValueError("summary is of one fit; pick a member of the batch: res[k]")
    if print_table is None:
        print_table = not _interactive()
    if result.layout is not None:
        return _model_summary(result, level, interval, print_table)
    z_crit = z_value(level)
    se = standard_errors(result)
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
    # one row per estimated parameter, at its first entry of (mean, vech cov); a variance
    # tied over the diagonal (spherical) is "var (common)"
    index, combine = result.model.free_coordinates(d)
    if combine is None:
        firsts = [(at, 1) for at in index]
    else:
        firsts = [(index[np.flatnonzero(c)[0]], np.count_nonzero(c)) for c in combine.T]
    keep = []
    for at, tied in firsts:
        if at < d:
            keep.append((labels[at], mean[at], se_mean[at], ("mean", at)))
            continue
        i, j = rows[at - d], cols[at - d]
        name = "var (common)" if tied > 1 else labels[at]
        keep.append((name, cov[i, j], se_cov[i, j], ("var", i) if i == j else None))
    p = len(keep)
    est = np.array([r[1] for r in keep], np.float64)
    ses = np.array([r[2] for r in keep], np.float64)
    is_var = np.array([r[3] is not None and r[3][0] == "var" for r in keep], bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(is_var, np.nan, est / ses)
    pvalue = _normal_sf2(z).reshape(p)
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
        model=result.model.describe(d),
        prior=result.model.prior is not None,
        ridge=result.model.ridge,
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
    if tab.extra and "op" in tab.extra:  # lavaan's rows: lavaan's summary
        return _lavaan_summary(result, tab, level, print_table)
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
    if not stats.incomplete:
        return []
    share, patterns = missing_fraction(stats)
    labels = list(columns) if columns is not None else [str(j) for j in range(d)]
    cells = ", ".join(f"{lab} {100 * s:.1f}%" for lab, s in zip(labels, share, strict=True))
    return [
        f"Missing data: FIML (observed-data likelihood), {patterns} missingness patterns",
        f"Share missing: {cells}",
    ]


_SECTIONS = (
    ("Latent Variables:", lambda op, lhs, rhs: op == "=~"),
    ("Regressions:", lambda op, lhs, rhs: op == "~"),
    ("Covariances:", lambda op, lhs, rhs: op == "~~" and lhs != rhs),
    ("Intercepts:", lambda op, lhs, rhs: op == "~1"),
    ("Variances:", lambda op, lhs, rhs: op == "~~" and lhs == rhs),
)


def _lavaan_summary(result, tab, level: float, print_table: bool) -> Summary:
    """lavaan's ``summary(fit, fit.measures = TRUE, standardized = TRUE)`` layout: the fit
    measures, then the estimates by section (and group) with ``Std.all``."""
    from ._measures import fit_measures

    fm = fit_measures(result)
    extra = tab.extra or {}
    ops, lhs, rhs, group = (extra[k] for k in ("op", "lhs", "rhs", "group"))
    labels, std = extra.get("label", ("",) * len(ops)), extra.get("std_all")
    groups = getattr(result.model, "groups", ()) or ()
    status = "ended normally" if bool(result.converged) else "did NOT end normally"
    out = [
        f"mle_jax {result.model.describe()} {status} after {int(result.num_steps)} iterations",
        "",
        f"  {'Estimator':<45}{'ML':>15}",
        f"  {'Number of model parameters':<45}{fm['npar']:>15d}",
        f"  {'Number of observations':<45}{fm['ntotal']:>15g}",
    ]
    if result.model.is_incomplete(result.stats):
        out.append(f"  {'Missing data':<45}{'FIML (ml)':>15}")

    def line(name, value, fmt=".3f"):
        return f"  {name:<45}{format(value, fmt):>15}"

    out += ["", "Model Test User Model:", "",
            line("Test statistic", fm["chisq"]), line("Degrees of freedom", fm["df"], "d"),
            line("P-value (Chi-square)", fm["pvalue"]),
            "", "Model Test Baseline Model:", "",
            line("Test statistic", fm["baseline.chisq"]),
            line("Degrees of freedom", fm["baseline.df"], "d"),
            line("P-value", fm["baseline.pvalue"]),
            "", "User Model versus Baseline Model:", "",
            line("Comparative Fit Index (CFI)", fm["cfi"]),
            line("Tucker-Lewis Index (TLI)", fm["tli"]),
            "", "Loglikelihood and Information Criteria:", "",
            line("Loglikelihood user model (H0)", fm["logl"]),
            line("Loglikelihood unrestricted model (H1)", fm["unrestricted.logl"]), "",
            line("Akaike (AIC)", fm["aic"]), line("Bayesian (BIC)", fm["bic"]),
            line("Sample-size adjusted Bayesian (SABIC)", fm["bic2"]),
            "", "Root Mean Square Error of Approximation:", "",
            line("RMSEA", fm["rmsea"]),
            line("90 Percent confidence interval - lower", fm["rmsea.ci.lower"]),
            line("90 Percent confidence interval - upper", fm["rmsea.ci.upper"]),
            line("P-value H_0: RMSEA <= 0.050", fm["rmsea.pvalue"]),
            "", "Standardized Root Mean Square Residual:", "",
            line("SRMR", fm["srmr"]),
            "", "Parameter Estimates:", "",
            f"  {'Standard errors':<45}{'Standard':>15}",
            f"  {'Information':<45}{tab.information.capitalize():>15}"]  # fmt: skip
    head = f"{'':<22}{'Estimate':>10}{'Std.Err':>10}{'z-value':>9}{'P(>|z|)':>9}{'Std.all':>9}"
    for g in sorted(set(group)):
        if len(groups) > 1:
            out += ["", f"Group {g} [{groups[g - 1]}]:"]
        for title, keep in _SECTIONS:
            idx = [i for i in range(len(ops)) if group[i] == g and keep(ops[i], lhs[i], rhs[i])]
            if not idx:
                continue
            out += ["", title, head]
            last = None
            for i in idx:
                if ops[i] in ("=~", "~") and lhs[i] != last:
                    out.append(f"  {lhs[i]} {ops[i]}")
                    last = lhs[i]
                elif ops[i] == "~~" and lhs[i] != rhs[i] and lhs[i] != last:
                    out.append(f"  {lhs[i]} ~~")
                    last = lhs[i]
                name = lhs[i] if ops[i] == "~1" or lhs[i] == rhs[i] else rhs[i]
                name = f"{name} ({labels[i]})" if labels[i] else name
                indent = (
                    "    "
                    if ops[i] in ("=~", "~") or lhs[i] != rhs[i] and ops[i] == "~~"
                    else "   "
                )
                free = tab.se[i] > 0
                cells = (
                    f"{tab.estimate[i]:>10.3f}"
                    + (f"{tab.se[i]:>10.3f}{tab.z[i]:>9.3f}{tab.p[i]:>9.3f}" if free else " " * 28)
                    + (f"{std[i]:>9.3f}" if std is not None else "")
                )
                out.append(f"{indent}{name:<{22 - len(indent)}}{cells}")
    if result.boundary:
        out += ["", f"Boundary (Heywood) solution: {', '.join(result.boundary)} at its bound"]
    text = "\n".join(out)
    if print_table:
        print(text)
    ll, k = float(fm["logl"]), int(fm["npar"])
    return Summary(
        tab.name, tab.estimate, tab.se, tab.z, tab.p, tab.ci_lower, tab.ci_upper, "wald",
        float(level), ll, float(fm["aic"]), float(fm["bic"]), k, float(fm["ntotal"]), text,
    )  # fmt: skip
