"""Peers for the missing-data (FIML) benchmark: data generator, numpy EM, lavaan and OpenMx.

The estimator is the saturated Gaussian fitted by full-information maximum likelihood: NaN marks
a missing entry, each row contributes the density of its observed entries (the observed-data, or
marginal, likelihood), the covariance has divisor n, and log-likelihoods include the 2*pi
constant. Every peer returns a :class:`PeerResult` with the same fields, so that the mle_jax row
can be added as one more entry and checked with :func:`compare`.

Peers
    ``run_numpy_em``  EM grouped by missingness pattern (the classical baseline, pure numpy);
    ``run_lavaan``    lavaan ``missing = "ml"``, saturated model, nlminb (R, via Rscript);
    ``run_openmx``    OpenMx FIML (``mxExpectationNormal`` + ``mxFitFunctionML`` on raw data).

The R peers write nothing to the R library and need ``Rscript`` with lavaan / OpenMx installed
(Debian: ``r-cran-lavaan r-cran-openmx``); their wall time is measured inside R around the fit
alone (no package loading, no data reading) and, with ``repeats=2`` (default), is the time of the
second of two identical fits in the same R session ("warm"). Each peer runs under a wall-clock
budget (seconds, default :data:`BUDGET`); a peer that runs out is stopped and reported with
status ``"budget"`` (with the first fit's answer and time when that one finished).

semopy (2.3.11) is not a peer: it does FIML (``ModelMeans.fit(obj="ML")`` routes to its "FIML"
objective), but a covariance-only saturated model of observed variables is refused (``x ~~ y``
alone: "'x' is not in list"), so the saturated model has to be written as a chain of
regressions, and on the apple data its default SLSQP stopped at var(size) = 89.809 against the
MLE 89.534 (3e-3 relative). See benchmarks/r/README.md.

Run ``python -m benchmarks.missing_peers --help`` for the table of the benchmark cases.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LOG2PI = float(np.log(2 * np.pi))
BUDGET = 300.0  # default wall-clock budget of one peer run (seconds)
R_DIR = Path(__file__).resolve().parent / "r"
COV_SEED = 20240601  # the population covariance of make_data depends on d only


# ------------------------------------------------------------------------------------ results


@dataclass
class PeerResult:
    """One peer's answer on one data set.

    ``loglik`` is the observed-data log-likelihood with the 2*pi constant (sum over rows), as
    reported by the tool when it reports one, otherwise recomputed by :func:`observed_loglik`;
    ``seconds`` is the wall time of the fit itself (warm for the R peers, see the module doc);
    ``status`` is ``"ok"``, ``"not converged"``, ``"budget"``, ``"error"`` or ``"skipped"``.
    """

    name: str
    mean: np.ndarray | None
    cov: np.ndarray | None
    loglik: float | None
    seconds: float | None
    status: str
    iters: int | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def m2ll(self):
        return None if self.loglik is None else -2.0 * self.loglik


# -------------------------------------------------------------------------------------- data


def population(d, *, seed=COV_SEED):
    """Mean and a well-conditioned SPD covariance (condition number 10) that depend on d only.

    Eigenvalues evenly spaced in [1, 10] under a Haar-random rotation, then scaled to a mix
    of column scales (standard deviations from 0.5 to 5), so that a scale-blind tolerance
    would be visible; means are standard normal times 3.
    """
    rng = np.random.default_rng(seed + d)
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))
    corr_like = (q * np.linspace(1.0, 10.0, d)) @ q.T
    s = np.sqrt(np.diag(corr_like))
    corr = corr_like / np.outer(s, s)
    sd = np.exp(rng.uniform(np.log(0.5), np.log(5.0), d))
    cov = corr * np.outer(sd, sd)
    mean = 3.0 * rng.standard_normal(d)
    return mean, (cov + cov.T) / 2


def block_patterns(d, missing=0.2):
    """The 5 patterns of the ``"block"`` design and their probabilities.

    Columns split into 4 modules (``np.array_split``): module 0 is the core, always observed;
    modules 1-3 are survey modules that are skipped together. Patterns (True = missing):
    complete; module 3 missing; modules 2-3; modules 1-3 (these four are monotone); and
    module 1 alone (the non-monotone one). The four incomplete patterns share one probability
    q, chosen so that the expected missing share is ``missing``.
    """
    if d < 4:
        raise ValueError("the block design needs d >= 4")
    mods = np.array_split(np.arange(d), 4)
    pats = np.zeros((5, d), bool)
    pats[1, mods[3]] = True
    pats[2, np.r_[mods[2], mods[3]]] = True
    pats[3, np.r_[mods[1], mods[2], mods[3]]] = True
    pats[4, mods[1]] = True
    share = pats.mean(axis=1)
    q = missing / share[1:].sum()
    if 4 * q > 1:
        raise ValueError(f"missing={missing} is too large for the block design")
    return pats, np.r_[1 - 4 * q, np.full(4, q)]


def make_data(n, d, *, kind="mcar", missing=0.2, seed=0):
    """Gaussian data of shape (n, d), float64, with NaN for missing entries.

    ``kind="mcar"``: each entry is missing independently with probability ``missing``; a row
    left with no observed entry gets one entry (a uniformly chosen column) back, so every row
    contributes (the realised share is therefore a little under ``missing`` for small d:
    ``missing - missing**d * (1 - 1/d)``... i.e. negligible for d >= 5).
    ``kind="block"``: the 5-pattern survey-module design of :func:`block_patterns`.
    The population (:func:`population`) depends on d only; ``seed`` draws the rows and the mask.
    """
    mean, cov = population(d)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d))
    x = z @ np.linalg.cholesky(cov).T + mean
    if kind == "mcar":
        mask = rng.random((n, d)) < missing
        empty = np.flatnonzero(mask.all(axis=1))
        mask[empty, rng.integers(0, d, empty.size)] = False
    elif kind == "block":
        pats, probs = block_patterns(d, missing)
        mask = pats[rng.choice(len(pats), size=n, p=probs)]
    else:
        raise ValueError(f"kind must be 'mcar' or 'block', not {kind!r}")
    x[mask] = np.nan
    return x


# ---------------------------------------------------------------------- observed likelihood


def patterns(x):
    """Group rows by missingness pattern: a list of (row indices, observed cols, missing cols)."""
    miss = np.isnan(x)
    packed = np.packbits(miss, axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(inverse))]
    out = []
    for k, f in enumerate(first):
        rows = order[bounds[k] : bounds[k + 1]]
        m = miss[f]
        out.append((rows, np.flatnonzero(~m), np.flatnonzero(m)))
    return out


def observed_loglik(x, mean, cov, groups=None):
    """Observed-data Gaussian log-likelihood (sum over rows, with the 2*pi constant)."""
    groups = patterns(x) if groups is None else groups
    total = 0.0
    for rows, o, _ in groups:
        if o.size == 0:
            continue
        chol = np.linalg.cholesky(cov[np.ix_(o, o)])
        r = x[np.ix_(rows, o)] - mean[o]
        w = np.linalg.solve(chol, r.T)
        logdet = 2.0 * np.log(np.diag(chol)).sum()
        total -= 0.5 * (rows.size * (o.size * LOG2PI + logdet) + np.einsum("ij,ij->", w, w))
    return float(total)


# ----------------------------------------------------------------------------------- numpy EM


def _start(x):
    """Start: observed column means and variances (divisor n_obs), zero covariances."""
    mean = np.nanmean(x, axis=0)
    var = np.nanmean((x - mean) ** 2, axis=0)
    return mean, np.diag(var)


def run_numpy_em(x, *, tol=1e-10, max_iter=10_000, budget=BUDGET):
    """EM for the saturated Gaussian with missing entries (E-step grouped by pattern).

    Stops when the largest scale-relative parameter change of one iteration,
    ``max(|d mean_i| / sd_i, |d cov_ij| / (sd_i sd_j))``, is below ``tol`` (EM converges
    linearly, so the error left is about change / (1 - rate)), after ``max_iter`` iterations
    (status ``"not converged"``) or when ``budget`` seconds have passed (status ``"budget"``).
    The E-step works with the precision K = cov^-1: for a row with observed o and missing m,
    E[x_m | x_o] = mean_m - K_mm^-1 K_mo (x_o - mean_o) and Cov[x_m | x_o] = K_mm^-1.
    """
    x = np.asarray(x, np.float64)
    n, d = x.shape
    t0 = time.perf_counter()
    groups = patterns(x)
    xo_blocks = [(rows, o, m, x[np.ix_(rows, o)]) for rows, o, m in groups]
    mean, cov = _start(x)
    status, it = "not converged", 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
        prec = np.linalg.inv(cov)
        s1 = np.zeros(d)
        s2 = np.zeros((d, d))
        for rows, o, m, xo in xo_blocks:
            k = rows.size
            if m.size == 0:
                s1 += xo.sum(axis=0)
                s2 += xo.T @ xo
                continue
            kmm_inv = np.linalg.inv(prec[np.ix_(m, m)])
            coef = kmm_inv @ prec[np.ix_(m, o)]  # |m| x |o|
            xm = mean[m] - (xo - mean[o]) @ coef.T
            full = np.empty((k, d))
            full[:, o] = xo
            full[:, m] = xm
            s1 += full.sum(axis=0)
            s2 += full.T @ full
            s2[np.ix_(m, m)] += k * kmm_inv
        new_mean = s1 / n
        new_cov = s2 / n - np.outer(new_mean, new_mean)
        new_cov = (new_cov + new_cov.T) / 2
        sd = np.sqrt(np.diag(new_cov))
        change = max(
            np.max(np.abs(new_mean - mean) / sd),
            np.max(np.abs(new_cov - cov) / np.outer(sd, sd)),
        )
        mean, cov = new_mean, new_cov
        if change < tol:
            status = "ok"
            break
        if time.perf_counter() - t0 > budget:
            status = "budget"
            break
    seconds = time.perf_counter() - t0
    loglik = observed_loglik(x, mean, cov, groups)
    return PeerResult(
        "numpy EM",
        mean,
        cov,
        loglik,
        seconds,
        status,
        iters=it,
        note=f"{len(groups)} patterns; last change {change:.1e}",
    )


# ------------------------------------------------------------------------------------- R peers


def rscript():
    return shutil.which("Rscript")


def _read_r_output(path, d):
    """Parse the plain-text answer file of benchmarks/r/peer_fit.R (``key value...`` lines)."""
    info = {}
    for line in Path(path).read_text().splitlines():
        key, _, rest = line.partition(" ")
        info[key] = rest.strip()
    nums = lambda s: np.array([float(v) for v in s.split()]) if s else np.array([])
    res = {
        "mean": nums(info.get("mean", "")),
        "cov": nums(info.get("cov", "")).reshape(d, d) if info.get("cov") else None,
        "m2ll": float(info["m2ll"]) if info.get("m2ll", "NA") != "NA" else None,
        "seconds": nums(info.get("seconds", "")),
        "status": info.get("status", "error"),
        "iters": int(float(info["iters"])) if info.get("iters", "NA") != "NA" else None,
        "note": info.get("note", ""),
        "version": info.get("version", ""),
        "grad": float(info["maxgrad"]) if info.get("maxgrad", "NA") != "NA" else None,
    }
    return res


def run_r_peer(tool, x, *, tol=1e-10, budget=BUDGET, repeats=2, name=None):
    """Fit ``x`` with ``tool`` ("lavaan" or "openmx") in a fresh Rscript; see the module doc.

    The data travel as raw little-endian float64 (NaN = missing); the R script writes its
    answer after every repeat, so a run stopped by the budget still returns the first fit.
    """
    name = name or {"lavaan": "lavaan", "openmx": "OpenMx"}[tool]
    x = np.ascontiguousarray(x, dtype="<f8")
    n, d = x.shape
    exe = rscript()
    if exe is None:
        return PeerResult(name, None, None, None, None, "skipped", note="Rscript not found")
    with tempfile.TemporaryDirectory(prefix="mle_jax_rpeer_") as tmp:
        data = Path(tmp) / "x.bin"
        out = Path(tmp) / "out.txt"
        x.tofile(data)
        cmd = [
            exe,
            "--vanilla",
            str(R_DIR / "peer_fit.R"),
            tool,
            str(data),
            str(n),
            str(d),
            repr(float(tol)),
            str(out),
            str(int(repeats)),
        ]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True
        )
        try:
            log, _ = proc.communicate(timeout=budget)
            hit_budget = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            log, _ = proc.communicate()
            hit_budget = True
        total = time.perf_counter() - t0
        if not out.exists():
            status = "budget" if hit_budget else "error"
            return PeerResult(
                name,
                None,
                None,
                None,
                None,
                status,
                note=f"no answer after {total:.0f} s; " + (log or "")[-300:],
            )
        r = _read_r_output(out, d)
    status = "budget" if hit_budget else r["status"]
    seconds = r["seconds"]
    loglik = None if r["m2ll"] is None else -0.5 * r["m2ll"]
    note = r["note"]
    if hit_budget:
        note = f"stopped at the {budget:.0f} s budget after {len(seconds)} fit(s); " + note
    return PeerResult(
        name,
        r["mean"],
        r["cov"],
        loglik,
        float(seconds[-1]) if len(seconds) else None,
        status,
        iters=r["iters"],
        note=note,
        extra={
            "seconds_all": seconds.tolist(),
            "version": r["version"],
            "max_abs_gradient": r["grad"],
            "wall_with_startup": total,
        },
    )


def run_lavaan(x, *, tol=1e-10, budget=BUDGET, repeats=2):
    """lavaan ``missing="ml"`` saturated model; ``tol`` is nlminb's ``rel.tol``."""
    return run_r_peer("lavaan", x, tol=tol, budget=budget, repeats=repeats)


def run_openmx(x, *, tol=1e-10, budget=BUDGET, repeats=2):
    """OpenMx FIML saturated model; ``tol`` sets the optimiser's "Optimality tolerance"."""
    return run_r_peer("openmx", x, tol=tol, budget=budget, repeats=repeats)


# -------------------------------------------------------------------------------- comparison


def scale_rel_error(a, b):
    """Largest scale-relative difference of two answers (scales from b's covariance)."""
    sd = np.sqrt(np.diag(b.cov))
    return float(
        max(np.max(np.abs(a.mean - b.mean) / sd), np.max(np.abs(a.cov - b.cov) / np.outer(sd, sd)))
    )


def compare(results, *, tol=1e-6, reference=None, x=None):
    """Check that the answers agree to ``tol`` scale-relative.

    ``results``: a list of :class:`PeerResult` (or a dict name -> PeerResult). The reference is
    the named one, or else the answer with the highest log-likelihood. For each other answer
    with estimates: the scale-relative error (:func:`scale_rel_error`) and the log-likelihood
    gap per row (``(loglik_ref - loglik) / n`` when ``x`` is given, recomputed with
    :func:`observed_loglik` on ``x`` so that every row uses the same formula).
    Returns ``(ok, rows)``: ``rows`` is a list of dicts (name, err, dll_per_row, ok).
    """
    res = list(results.values()) if isinstance(results, dict) else list(results)
    have = [r for r in res if r.mean is not None and r.cov is not None]
    if not have:
        return False, []
    if x is not None:
        groups = patterns(x)
        for r in have:
            r.extra["loglik_recomputed"] = observed_loglik(x, r.mean, r.cov, groups)
    ll = lambda r: r.extra.get("loglik_recomputed", r.loglik if r.loglik is not None else -np.inf)
    ref = next(r for r in have if r.name == reference) if reference else max(have, key=ll)
    n = x.shape[0] if x is not None else 1
    rows, ok = [], True
    for r in have:
        err = scale_rel_error(r, ref)
        dll = (ll(ref) - ll(r)) / n
        good = err <= tol
        ok &= good
        rows.append(
            {"name": r.name, "err": err, "dll_per_row": dll, "ok": good, "reference": r is ref}
        )
    return ok, rows


# ------------------------------------------------------------------------------------- table

CASES = {
    "mcar-1e4x20": dict(n=10_000, d=20, kind="mcar", peers=("numpy EM", "lavaan", "OpenMx")),
    "mcar-1e5x10": dict(n=100_000, d=10, kind="mcar", peers=("numpy EM", "lavaan", "OpenMx")),
    "block-1e6x100": dict(n=1_000_000, d=100, kind="block", peers=("numpy EM", "lavaan")),
}


def run_case(case, *, budget=BUDGET, tol=1e-10, peers=None, repeats=2, seed=0):
    spec = CASES[case]
    x = make_data(spec["n"], spec["d"], kind=spec["kind"], seed=seed)
    runners = {
        "numpy EM": lambda: run_numpy_em(x, tol=tol, budget=budget),
        "lavaan": lambda: run_lavaan(x, tol=tol, budget=budget, repeats=repeats),
        "OpenMx": lambda: run_openmx(x, tol=tol, budget=budget, repeats=repeats),
    }
    out = [runners[p]() for p in (peers or spec["peers"])]
    return x, out


def format_table(case, x, results, tol=1e-6):
    ok, rows = compare(results, x=x, tol=tol)
    err = {r["name"]: r for r in rows}
    lines = [
        f"== {case}: n={x.shape[0]} d={x.shape[1]} missing={np.isnan(x).mean():.3f} "
        f"patterns={len(patterns(x))}",
        f"{'peer':10s} {'status':14s} {'seconds':>9s} {'iters':>6s} {'loglik':>20s} "
        f"{'err vs best':>11s}  note",
    ]
    for r in results:
        e = err.get(r.name)
        ll = r.extra.get("loglik_recomputed", r.loglik)
        errs = "-" if e is None else ("ref" if e["reference"] else f"{e['err']:.1e}")
        lines.append(
            f"{r.name:10s} {r.status:14s} "
            f"{'-' if r.seconds is None else f'{r.seconds:9.2f}':>9s} "
            f"{'-' if r.iters is None else r.iters:>6} "
            f"{'-' if ll is None else f'{ll:20.6f}':>20s} "
            f"{errs:>11s}  "
            f"{r.note[:70]}"
        )
    lines.append(f"agree to {tol:g} scale-relative: {ok}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--peers", nargs="*", default=None, choices=["numpy EM", "lavaan", "OpenMx"])
    ap.add_argument("--budget", type=float, default=BUDGET, help="seconds per peer run")
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--repeats", type=int, default=2, help="fits per R session (last is timed)")
    args = ap.parse_args(argv)
    for case in args.cases:
        peers = args.peers and [p for p in args.peers if p in CASES[case]["peers"]]
        x, results = run_case(
            case, budget=args.budget, tol=args.tol, peers=peers or None, repeats=args.repeats
        )
        print(format_table(case, x, results), flush=True)


if __name__ == "__main__":
    main()
