## Reference answers for structured Gaussian models (factor analysis, CFA, linear mixed model),
## compared against by the Python tests. Run from the repository root:
##   Rscript --vanilla benchmarks/r/model_references.R
## Writes
##   tests/data/model_references.json     the references (every number with 17 significant digits)
##   tests/data/hs_missing.csv            Holzinger-Swineford x1..x9 with ~20% deleted (seed 2026)
##   mle_jax/data/holzinger_swineford.csv lavaan::HolzingerSwineford1939 (301 x 15)
##   mle_jax/data/sleepstudy_wide.csv     lme4::sleepstudy in wide form (18 subjects x 10 days)
## Every model that uses a CSV is fitted on the data READ BACK from that CSV, so Python and R fit
## bit-identical numbers. Needs R with lavaan and lme4 (Debian: r-cran-lavaan r-cran-lme4).
suppressMessages({library(lavaan); library(lme4)})
out_json <- "tests/data/model_references.json"
hs_csv <- "mle_jax/data/holzinger_swineford.csv"
sleep_csv <- "mle_jax/data/sleepstudy_wide.csv"
hs_missing_csv <- "tests/data/hs_missing.csv"
stopifnot(file.exists("mle_jax/data/__init__.py"))  # run from the repository root

## the JSON writer: json(), vec(), named(), mat(), cols()
source("benchmarks/r/json_common.R")

## multivariate-normal log-likelihood (with 2*pi) of complete rows x (n x p) at (mu, Sigma)
mvn_loglik <- function(x, mu, Sigma) {
  p <- ncol(x); R <- chol(Sigma)
  z <- backsolve(R, t(x) - mu, transpose = TRUE)
  -0.5 * (nrow(x) * (p * log(2 * pi) + 2 * sum(log(diag(R)))) + sum(z^2))
}
## the same for data with NA (observed-data / FIML likelihood)
mvn_loglik_missing <- function(x, mu, Sigma) {
  tot <- 0
  for (i in seq_len(nrow(x))) {
    o <- which(!is.na(x[i, ]))
    tot <- tot + mvn_loglik(matrix(x[i, o], 1), mu[o], Sigma[o, o, drop = FALSE])
  }
  tot
}

versions <- list(
  R = R.version.string,
  lavaan = as.character(packageVersion("lavaan")),
  lme4 = as.character(packageVersion("lme4")),
  Matrix = as.character(packageVersion("Matrix")),
  stats = as.character(packageVersion("stats")))
refs <- list(meta = list(
  generated_by = "benchmarks/r/model_references.R (Rscript --vanilla, from the repository root)",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  versions = versions,
  platform = R.version$platform,
  blas = if (!is.null(extSoftVersion()[["BLAS"]])) extSoftVersion()[["BLAS"]] else "",
  conventions = paste(
    "All log-likelihoods include the 2*pi constant. Matrices are stored as arrays of rows.",
    "lavaan (likelihood='normal', its default for ML) uses covariance divisor n.",
    "factanal works on the correlation matrix of ability.cov$cov (divisor n - 1);",
    "see each factanal case's notes for the divisor of each field.")))

## ================================================================ a. factanal, ability.cov
ab <- datasets::ability.cov
p <- ncol(ab$cov); n_ab <- ab$n.obs
S_unb <- ab$cov                          # divisor n - 1 (as shipped)
S_n <- S_unb * (n_ab - 1) / n_ab         # divisor n
ab_vars <- colnames(ab$cov)

fa_case <- function(k) {
  fit <- factanal(factors = k, covmat = ab, rotation = "none")
  L <- unclass(fit$loadings); u <- fit$uniquenesses
  R_model <- L %*% t(L) + diag(u)
  ## in the covariance's own units. The factor model is scale invariant, so the MLE for S_n is
  ## D_n^(1/2) R_model D_n^(1/2) with D_n = diag(S_n); the same with D = diag(S_unb) is the
  ## MLE for S_unb (both shown; log-likelihoods below always use S_n).
  Dn <- diag(sqrt(diag(S_n))); Du <- diag(sqrt(diag(S_unb)))
  Sig_n <- Dn %*% R_model %*% Dn; Sig_u <- Du %*% R_model %*% Du
  ll <- function(Sig) -n_ab / 2 * (p * log(2 * pi) + as.numeric(determinant(Sig)$modulus) +
                                   sum(diag(solve(Sig, S_n))))
  ll_sat <- -n_ab / 2 * (p * log(2 * pi) + as.numeric(determinant(S_n)$modulus) + p)
  obj <- fit$criteria[["objective"]]
  call <- sprintf('factanal(factors = %d, covmat = ability.cov, rotation = "none")', k)
  out <- list(
    call = call,
    data_source = "R datasets::ability.cov (cov: divisor n - 1, n.obs = 112)",
    variables = vec(ab_vars),
    n_obs = n_ab,
    cov = mat(S_unb),
    cov_divisor = "n - 1 (ability.cov$cov as shipped); cov_n = cov * (n - 1) / n",
    cov_n = mat(S_n),
    correlation = mat(fit$correlation),
    factors = k,
    uniquenesses = vec(u),
    loadings = mat(L),
    statistic = unname(fit$STATISTIC),
    dof = unname(fit$dof),
    pvalue = unname(fit$PVAL),
    criteria_objective = obj,
    converged = fit$converged,
    lower_bound = 0.005,
    statistic_formula = "(n_obs - 1 - (2p + 5)/6 - 2k/3) * criteria_objective",
    objective_formula = paste("log det(L L' + diag(u)) + tr((L L' + diag(u))^-1 R) - log det R - p,",
                              "R = correlation"),
    sigma_ml = mat(Sig_n),
    sigma_ml_note = "D_n^(1/2) (L L' + diag(u)) D_n^(1/2), D_n = diag(cov_n): the MLE for data with covariance cov_n",
    loglik_ml = ll(Sig_n),
    loglik_ml_formula = paste("-n/2 (p log(2 pi) + log det Sigma + tr(Sigma^-1 S_n)),",
                              "S_n = cov_n (divisor n), Sigma = sigma_ml; the maximum over the k-factor model"),
    loglik_ml_via_objective = -n_ab / 2 * (p * log(2 * pi) + obj +
                                           as.numeric(determinant(S_n)$modulus) + p),
    loglik_saturated = ll_sat,
    sigma_unbiased = mat(Sig_u),
    sigma_unbiased_note = "D^(1/2) (L L' + diag(u)) D^(1/2), D = diag(cov) (divisor n - 1): the MLE for cov itself",
    loglik_at_sigma_unbiased = ll(Sig_u),
    loglik_at_sigma_unbiased_note = paste("the same formula with Sigma = sigma_unbiased and S_n (divisor n);",
                                          "lower than loglik_ml by n/2 p (log c + 1/c - 1), c = n/(n-1)"),
    trace_check = sum(diag(solve(Sig_n, S_n))))
  ## factanal's default optim (L-BFGS-B, factr = 1e7) stops early; the same fit, tightened:
  ft <- factanal(factors = k, covmat = ab, rotation = "none",
                 control = list(opt = list(factr = 1, pgtol = 0, maxit = 10000)))
  Lt <- unclass(ft$loadings); Sig_t <- Dn %*% (Lt %*% t(Lt) + diag(ft$uniquenesses)) %*% Dn
  out$tight <- list(
    call = sprintf(paste0('factanal(factors = %d, covmat = ability.cov, rotation = "none", ',
                          'control = list(opt = list(factr = 1, pgtol = 0, maxit = 10000)))'), k),
    uniquenesses = vec(ft$uniquenesses), loadings = mat(Lt),
    statistic = unname(ft$STATISTIC), criteria_objective = ft$criteria[["objective"]],
    loglik_ml = ll(Sig_t), trace_check = sum(diag(solve(Sig_t, S_n))),
    max_abs_diff_uniquenesses_vs_default = max(abs(ft$uniquenesses - u)))
  if (k >= 2) {
    fv <- factanal(factors = k, covmat = ab, rotation = "varimax")
    out$varimax_call <- sprintf('factanal(factors = %d, covmat = ability.cov, rotation = "varimax")', k)
    out$loadings_varimax <- mat(unclass(fv$loadings))
    out$rotmat_varimax <- mat(fv$rotmat)
  }
  out
}
refs$factanal_ability_k1 <- fa_case(1)
refs$factanal_ability_k2 <- fa_case(2)

## ================================================================ b. Heywood case
hey <- list()
for (drop in seq_len(p)) {
  keep <- setdiff(seq_len(p), drop)
  cm <- list(cov = ab$cov[keep, keep], n.obs = n_ab)
  f <- tryCatch(factanal(factors = 2, covmat = cm, rotation = "none"),
                error = function(e) e)
  if (inherits(f, "error")) {
    hey[[paste0("drop_", ab_vars[drop])]] <- list(dropped = ab_vars[drop], error = conditionMessage(f))
    next
  }
  u <- f$uniquenesses
  hey[[paste0("drop_", ab_vars[drop])]] <- list(
    dropped = ab_vars[drop], variables = vec(ab_vars[keep]),
    uniquenesses = vec(u), at_lower_bound = vec(names(u)[u < 0.005 + 1e-6]),
    heywood = any(u < 0.005 + 1e-6),
    statistic = unname(f$STATISTIC), dof = unname(f$dof), pvalue = unname(f$PVAL),
    criteria_objective = f$criteria[["objective"]], converged = f$converged)
}
hit <- Filter(function(h) isTRUE(h$heywood), hey)
cat("Heywood subsets (5 of 6, k = 2):", if (length(hit)) paste(names(hit), collapse = ", ") else "none", "\n")
heywood <- list(
  call = paste("for each j: factanal(factors = 2, covmat = list(cov = ability.cov$cov[-j, -j],",
               "n.obs = 112), rotation = \"none\")  # default lower = 0.005"),
  data_source = "R datasets::ability.cov, one variable dropped",
  lower_bound = 0.005,
  bound_test = "uniqueness < 0.005 + 1e-6",
  subsets_hitting_bound = vec(names(hit)),
  all_subsets = hey)
if (length(hit)) {
  h <- hit[[1]]
  keep <- match(h$variables, ab_vars)
  heywood$chosen <- names(hit)[1]
  heywood$variables <- h$variables
  heywood$n_obs <- n_ab
  heywood$cov <- mat(ab$cov[keep, keep])
  heywood$cov_divisor <- "n - 1 (ability.cov$cov as shipped)"
  f <- factanal(factors = 2, covmat = list(cov = ab$cov[keep, keep], n.obs = n_ab), rotation = "none")
  heywood$loadings <- mat(unclass(f$loadings))
  heywood$uniquenesses <- h$uniquenesses
  heywood$at_lower_bound <- h$at_lower_bound
  heywood$statistic <- h$statistic; heywood$dof <- h$dof; heywood$pvalue <- h$pvalue
  heywood$criteria_objective <- h$criteria_objective
}
refs$factanal_heywood <- heywood

## ================================================================ data files
## Holzinger-Swineford: written with write.csv (15 significant digits), then read back
hs0 <- lavaan::HolzingerSwineford1939
write.csv(hs0, hs_csv, row.names = FALSE, na = "NA", quote = FALSE)
hs <- read.csv(hs_csv, na.strings = "NA")
stopifnot(nrow(hs) == 301, max(abs(as.matrix(hs[, paste0("x", 1:9)]) -
                                  as.matrix(hs0[, paste0("x", 1:9)]))) < 1e-12)
xs <- paste0("x", 1:9)

## ================================================================ c. lavaan CFA, complete
hs_model <- "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"
fm_names <- c("chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli",
              "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr", "aic", "bic", "logl",
              "unrestricted.logl", "npar")
pe_cols <- c("lhs", "op", "rhs", "est", "se", "z", "pvalue", "ci.lower", "ci.upper")
lav_summary <- function(fit) {
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  imp <- lavInspect(fit, "implied")
  out <- list(
    estimator = lavInspect(fit, "options")$estimator,
    information = lavInspect(fit, "options")$information[1],
    converged = lavInspect(fit, "converged"),
    parameter_estimates = cols(pe[, pe_cols]),
    std_all = cols(data.frame(lhs = ss$lhs, op = ss$op, rhs = ss$rhs, est.std = ss$est.std,
                              se = ss$se)),
    loglik = as.numeric(logLik(fit)),
    unrestricted_loglik = unname(fitMeasures(fit, "unrestricted.logl")),
    fit_measures = named(fitMeasures(fit, fm_names)),
    implied_cov = mat(imp$cov[xs, xs]),
    variables = vec(xs),
    n_obs = lavInspect(fit, "nobs"))
  if (!is.null(imp$mean)) out$implied_mean <- vec(imp$mean[xs])
  out
}
## standard errors under the other information matrix (estimates are the same)
se_other <- function(fit_other) {
  pe <- parameterEstimates(fit_other)
  list(information = lavInspect(fit_other, "options")$information[1],
       se = vec(pe$se), est = vec(pe$est))
}

cfa_call <- paste0('cfa("', hs_model, '", data = HolzingerSwineford1939)')
fit_c <- cfa(hs_model, data = hs)
fit_c_obs <- cfa(hs_model, data = hs, information = "observed")
fit_c_ms <- cfa(hs_model, data = hs, meanstructure = TRUE)
fit_c_ms_obs <- cfa(hs_model, data = hs, meanstructure = TRUE, information = "observed")
Sn <- lavInspect(fit_c, "sampstat")$cov[xs, xs]
case_c <- c(list(
  call = cfa_call,
  data_source = paste("lavaan::HolzingerSwineford1939, as read back from",
                      "mle_jax/data/holzinger_swineford.csv (columns x1..x9, 301 rows)"),
  model = hs_model,
  sample_cov = mat(Sn),
  sample_cov_divisor = "n (lavaan's likelihood = 'normal')",
  sample_mean = vec(colMeans(hs[, xs]))),
  lav_summary(fit_c))
case_c$observed_information <- c(list(call = sub(")$", ', information = "observed")', cfa_call)),
                                 se_other(fit_c_obs))
case_c$loglik_check_mvn <- mvn_loglik(as.matrix(hs[, xs]), colMeans(hs[, xs]), case_c$implied_cov)
case_c$meanstructure <- c(list(call = sub(")$", ", meanstructure = TRUE)", cfa_call)),
                          lav_summary(fit_c_ms))
case_c$meanstructure$observed_information <- c(
  list(call = sub(")$", ', meanstructure = TRUE, information = "observed")', cfa_call)),
  se_other(fit_c_ms_obs))
refs$lavaan_hs_cfa <- case_c

## ================================================================ d. lavaan CFA, FIML
set.seed(2026)
xm <- as.matrix(hs[, xs])
del <- matrix(runif(length(xm)) < 0.2, nrow(xm))
for (i in which(rowSums(!del) == 0)) del[i, sample.int(ncol(xm), 1)] <- FALSE
xm[del] <- NA
write.csv(as.data.frame(xm), hs_missing_csv, row.names = FALSE, na = "NA", quote = FALSE)
hsm <- read.csv(hs_missing_csv, na.strings = "NA")
stopifnot(all(is.na(as.matrix(hsm)) == del))
cat("hs_missing: ", sum(del), "of", length(del), "entries deleted (",
    round(100 * mean(del), 2), "% )\n")
fit_d <- cfa(hs_model, data = hsm, missing = "ml")
info_d <- lavInspect(fit_d, "options")$information[1]
other <- if (info_d == "observed") "expected" else "observed"
fit_d_other <- cfa(hs_model, data = hsm, missing = "ml", information = other)
case_d <- c(list(
  call = paste0('cfa("', hs_model, '", data = hs_missing, missing = "ml")'),
  data_source = paste("tests/data/hs_missing.csv: x1..x9 of lavaan::HolzingerSwineford1939",
                      "(as in mle_jax/data/holzinger_swineford.csv) with entries deleted where",
                      "runif(301 * 9) < 0.2 after set.seed(2026) (column-major), then in any row",
                      "left with nothing one column chosen by sample.int restored; read back from the CSV"),
  model = hs_model,
  n_missing = sum(del), n_cells = length(del),
  missing_by_column = named(setNames(colSums(del), xs))),
  lav_summary(fit_d))
case_d[[paste0(other, "_information")]] <- c(
  list(call = paste0('cfa("', hs_model, '", data = hs_missing, missing = "ml", information = "',
                     other, '")')),
  se_other(fit_d_other))
case_d$loglik_check_mvn <- mvn_loglik_missing(as.matrix(hsm), case_d$implied_mean, case_d$implied_cov)
h1 <- lavInspect(fit_d, "sampstat.h1")
case_d$h1_mean <- vec(h1$mean[xs]); case_d$h1_cov <- mat(h1$cov[xs, xs])
case_d$h1_loglik_check_mvn <- mvn_loglik_missing(as.matrix(hsm), h1$mean[xs], h1$cov[xs, xs])
refs$lavaan_hs_cfa_missing <- case_d

## ================================================================ e. lme4 sleepstudy (ML)
ss <- lme4::sleepstudy
stopifnot(all(table(ss$Subject, ss$Days) == 1))
wide <- reshape(ss[order(ss$Subject, ss$Days), c("Subject", "Days", "Reaction")],
                idvar = "Subject", timevar = "Days", direction = "wide")
names(wide) <- c("Subject", paste0("Day", 0:9))
wide$Subject <- as.character(wide$Subject)
write.csv(wide, sleep_csv, row.names = FALSE, quote = FALSE)
wide_rb <- read.csv(sleep_csv)
Y <- as.matrix(wide_rb[, paste0("Day", 0:9)])
stopifnot(max(abs(Y - as.matrix(wide[, -1]))) == 0)
long_rb <- data.frame(Subject = factor(rep(wide_rb$Subject, each = 10)),
                      Days = rep(0:9, nrow(Y)), Reaction = as.vector(t(Y)))
fit_e <- lmer(Reaction ~ Days + (Days | Subject), data = long_rb, REML = FALSE)
beta <- fixef(fit_e)
vc <- VarCorr(fit_e)$Subject
G <- matrix(as.numeric(vc), 2); s2 <- sigma(fit_e)^2
X <- cbind(1, 0:9)
V <- X %*% G %*% t(X) + s2 * diag(10)
ll_wide <- sum(apply(Y, 1, function(y) mvn_loglik(matrix(y, 1), as.numeric(X %*% beta), V)))
ll_lme4 <- as.numeric(logLik(fit_e))
cat(sprintf("lme4 logLik %.12f, wide MVN %.12f, diff %.3g\n", ll_lme4, ll_wide, ll_lme4 - ll_wide))
stopifnot(abs(ll_lme4 - ll_wide) < 1e-8)
refs$lme4_sleepstudy <- list(
  call = "lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy, REML = FALSE)",
  data_source = paste("lme4::sleepstudy (180 rows, balanced: 18 subjects x Days 0..9), reshaped",
                      "to wide form and written to mle_jax/data/sleepstudy_wide.csv; the fit",
                      "uses the long data rebuilt from that CSV (identical values)"),
  fixef = named(beta),
  fixef_se = named(sqrt(diag(as.matrix(vcov(fit_e))))),
  vcov_fixef = mat(as.matrix(vcov(fit_e))),
  G = mat(G),
  G_names = vec(c("(Intercept)", "Days")),
  sigma2 = s2,
  theta = vec(getME(fit_e, "theta")),
  loglik = ll_lme4,
  loglik_wide_mvn = ll_wide,
  loglik_wide_mvn_formula = paste("sum over subjects of log N(y_i; X beta, X G X' + sigma2 I_10),",
                                  "X = [1, day], day = 0..9, at lme4's estimates"),
  df = attr(logLik(fit_e), "df"),
  converged = is.null(fit_e@optinfo$conv$lme4$messages),
  wide = list(subject = vec(wide_rb$Subject), columns = vec(paste0("Day", 0:9)), data = mat(Y)),
  wide_mean_ml = vec(as.numeric(X %*% beta)),
  wide_cov_ml = mat(V))

writeLines(json(refs), out_json)
cat("wrote", out_json, hs_csv, sleep_csv, hs_missing_csv, "\n")
