## lavaan reference answers for structural equation models (lavaan model syntax), compared
## against by the Python tests. Run from the repository root (about a minute on 2 cores, most of
## it the bootstrap):
##   Rscript --vanilla benchmarks/r/sem_references.R
## Writes
##   tests/data/sem_references.json        the references (numbers with 17 significant digits)
##   mle_jax/data/political_democracy.csv  lavaan::PoliticalDemocracy (75 x 11), exact text
## Reads (written by model_references.R): mle_jax/data/holzinger_swineford.csv and
## tests/data/hs_missing.csv. Every fit uses the data AS READ BACK from the CSVs, so Python and R
## fit the same numbers. Every case's `call` is the exact R text evaluated (eval(parse())), with
## `hs`, `hs_missing` and `PoliticalDemocracy` bound to the read-back data frames.
## Needs R with lavaan (Debian: r-cran-lavaan; written with R 4.2.2, lavaan 0.6-14).
suppressMessages(library(lavaan))
out_json <- "tests/data/sem_references.json"
hs_csv <- "mle_jax/data/holzinger_swineford.csv"
hs_missing_csv <- "tests/data/hs_missing.csv"
pd_csv <- "mle_jax/data/political_democracy.csv"
stopifnot(file.exists("mle_jax/data/__init__.py"))  # run from the repository root

## the JSON writer: json(), vec(), named(), mat(), cols()
source("benchmarks/r/json_common.R")

## ---------------------------------------------------------------- data
## PoliticalDemocracy: write.csv writes 15 significant digits; the values carry at most 7
## decimals, so that text reads back to the identical doubles (checked; else 17 digits are used).
pd0 <- lavaan::PoliticalDemocracy
stopifnot(identical(dim(pd0), c(75L, 11L)), !anyNA(pd0))
write.csv(pd0, pd_csv, row.names = FALSE, quote = FALSE)
if (!identical(unname(as.matrix(read.csv(pd_csv))), unname(as.matrix(pd0)))) {
  pd17 <- as.data.frame(lapply(pd0, function(x) formatC(x, digits = 17, format = "g")))
  pd17[] <- lapply(pd17, function(x) gsub(" ", "", x))
  write.csv(pd17, pd_csv, row.names = FALSE, quote = FALSE)
}
PoliticalDemocracy <- read.csv(pd_csv)
stopifnot(identical(unname(as.matrix(PoliticalDemocracy)), unname(as.matrix(pd0))),
          identical(names(PoliticalDemocracy), names(pd0)))
hs <- read.csv(hs_csv, na.strings = "NA")            # school: character, rows as in the file
hs_missing <- read.csv(hs_missing_csv, na.strings = "NA")
stopifnot(nrow(hs) == 301, nrow(hs_missing) == 301, identical(names(hs_missing), paste0("x", 1:9)))

src_hs <- paste("lavaan::HolzingerSwineford1939 as read back from mle_jax/data/holzinger_swineford.csv",
                "(301 rows; the model uses x1..x9)")
src_hs_group <- paste(src_hs, "and the label column school (lavaan's group order is the order of",
                      "first appearance: Pasteur, Grant-White)")
src_hsm <- paste("tests/data/hs_missing.csv (x1..x9 of holzinger_swineford.csv with 537 of 2709",
                 "cells NA; see tests/data/README.md), as read back by read.csv")
src_pd <- paste("lavaan::PoliticalDemocracy (Bollen 1989; 75 x 11: y1..y8, x1..x3) as read back from",
                "mle_jax/data/political_democracy.csv (identical doubles)")

## ---------------------------------------------------------------- one case
fm_names <- c("npar", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "baseline.pvalue",
              "cfi", "tli", "logl", "unrestricted.logl", "aic", "bic", "bic2", "ntotal", "rmsea",
              "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue", "srmr",
              ## extra, for telling the srmr variants apart
              "fmin", "rmsea.ci.level", "srmr_bentler", "srmr_bentler_nomean", "srmr_mplus",
              "srmr_mplus_nomean", "crmr", "crmr_nomean")
pe_all <- function(fit) {
  parameterEstimates(fit, standardized = TRUE, remove.system.eq = FALSE, remove.eq = FALSE,
                     remove.ineq = FALSE, remove.def = FALSE, remove.nonfree = FALSE)
}
## "fun(model = <syntax>, data = <data>[, extra])": the exact text that is evaluated
make_call <- function(fun, syntax, data, extra = "") {
  s <- paste(deparse(syntax, width.cutoff = 500L), collapse = "")
  stopifnot(identical(eval(parse(text = s)), syntax))
  paste0(fun, "(model = ", s, ", data = ", data, if (nzchar(extra)) paste0(", ", extra), ")")
}
with_info <- function(call, info) sub(")$", paste0(', information = "', info, '")'), call)
run <- function(call) eval(parse(text = call), envir = globalenv())
per_group <- function(x, ng) if (ng == 1) list(x) else unname(x)

sem_case <- function(fun, syntax, data, extra, data_source, group = NULL) {
  call <- make_call(fun, syntax, data, extra)
  cat(call, "\n")
  fit <- run(call)
  fit_e <- run(with_info(call, "expected"))
  fit_o <- run(with_info(call, "observed"))
  opt <- lavInspect(fit, "options")
  conv <- c(lavInspect(fit, "converged"), lavInspect(fit_e, "converged"),
            lavInspect(fit_o, "converged"))
  stopifnot(all(conv))
  ng <- lavInspect(fit, "ngroups")
  ov <- lavNames(fit, "ov"); lv <- lavNames(fit, "lv")

  pt <- parTable(fit)
  pe <- pe_all(fit); pe_e <- pe_all(fit_e); pe_o <- pe_all(fit_o)
  key <- function(d) paste(d$lhs, d$op, d$rhs, if (is.null(d$group)) pt$group else d$group)  # 1 group: pe has no group column
  stopifnot(nrow(pe) == nrow(pt), identical(key(pe), key(pt)), identical(key(pe_e), key(pt)),
            identical(key(pe_o), key(pt)), max(abs(pe$est - pt$est)) == 0)
  est_diff <- max(abs(pe_e$est - pe$est), abs(pe_o$est - pe$est))
  is_par <- pt$op != "=="
  rows <- lapply(which(is_par), function(i) {
    fr <- pt$free[i] > 0
    list(lhs = pt$lhs[i], op = pt$op[i], rhs = pt$rhs[i], group = as.integer(pt$group[i]),
         label = pt$label[i], plabel = pt$plabel[i], user = as.integer(pt$user[i]),
         free = fr, free_index = as.integer(pt$free[i]), ustart = pt$ustart[i],
         est = pt$est[i],
         se_expected = if (fr) pe_e$se[i] else NA_real_,
         se_observed = if (fr) pe_o$se[i] else NA_real_,
         std_all = pe$std.all[i], std_lv = pe$std.lv[i], std_nox = pe$std.nox[i])
  })
  constraints <- lapply(which(!is_par), function(i)
    list(lhs = pt$lhs[i], op = pt$op[i], rhs = pt$rhs[i], user = as.integer(pt$user[i])))

  imp <- per_group(lavInspect(fit, "implied"), ng)
  ss <- per_group(lavInspect(fit, "sampstat"), ng)
  nobs <- lavInspect(fit, "nobs")
  implied <- lapply(seq_len(ng), function(g) {
    o <- list(cov = mat(imp[[g]]$cov[ov, ov]))
    if (!is.null(imp[[g]]$mean)) o$mean <- vec(as.numeric(imp[[g]]$mean[ov]))
    o
  })
  sample_cov <- lapply(seq_len(ng), function(g) mat(ss[[g]]$cov[ov, ov]))
  sample_mean <- lapply(seq_len(ng), function(g) {
    m <- if (!is.null(ss[[g]]$mean)) ss[[g]]$mean[ov] else {
      m0 <- fit@SampleStats@mean[[g]]; names(m0) <- lavNames(fit, "ov", block = g); m0[ov] }
    vec(as.numeric(m))
  })
  fm <- fitMeasures(fit)
  fm <- fm[intersect(fm_names, names(fm))]
  stopifnot(all(fm_names[1:20] %in% names(fm)))
  list(
    call = call,
    calls_information = list(expected = with_info(call, "expected"),
                             observed = with_info(call, "observed")),
    data_source = data_source,
    syntax = syntax,
    options = list(
      std.lv = opt$std.lv, missing = opt$missing, group = group,
      group.equal = vec(as.character(opt$group.equal)), estimator = opt$estimator,
      meanstructure = opt$meanstructure, likelihood = opt$likelihood,
      information_default = opt$information[1], h1.information = opt$h1.information[1],
      observed.information = opt$observed.information[1], fixed.x = opt$fixed.x),
    fit_measures = named(unclass(fm)),
    ngroups = as.integer(ng),
    group_labels = vec(as.character(lavInspect(fit, "group.label"))),
    nobs = vec(as.integer(nobs)),
    ov_names = vec(ov),
    lv_names = vec(lv),
    parameters = rows,
    constraints = constraints,
    implied = implied,
    sample_cov = sample_cov,
    sample_mean = sample_mean,
    sample_moments_note = if (opt$missing == "ml")
      "lavInspect(fit, 'sampstat'): lavaan's EM (h1) estimates under missing = 'ml'; divisor N"
    else "lavInspect(fit, 'sampstat') cov (divisor N, per group) and the group's column means",
    logl = unname(fitMeasures(fit, "logl")),
    converged = all(conv),
    iterations = as.integer(lavInspect(fit, "iterations")),
    max_abs_est_diff_between_information_fits = est_diff)
}

## ---------------------------------------------------------------- cases
hs_model <- "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"
fixed_model <- paste0("# fixed loading, label equality, fixed factor covariance\n",
                      " visual =~ x1 + 0.5*x2 + x3  # comment\n",
                      " textual =~ x4 + l1*x5 + l1*x6\n",
                      " speed =~ x7 + x8 + x9\n",
                      " visual ~~ 0*speed")
poldem_model <- paste(
  "",
  "  # measurement model",
  "    ind60 =~ x1 + x2 + x3",
  "    dem60 =~ y1 + a*y2 + b*y3 + c*y4",
  "    dem65 =~ y5 + a*y6 + b*y7 + c*y8",
  "  # regressions",
  "    dem60 ~ ind60",
  "    dem65 ~ ind60 + dem60",
  "  # residual correlations",
  "    y1 ~~ y5",
  "    y2 ~~ y4 + y6",
  "    y3 ~~ y7",
  "    y4 ~~ y8",
  "    y6 ~~ y8",
  "", sep = "\n")

cases <- list()
cases$hs_cfa <- sem_case("cfa", hs_model, "hs", "", src_hs)
cases$hs_cfa_std_lv <- sem_case("cfa", hs_model, "hs", "std.lv = TRUE", src_hs)
cases$hs_cfa_meanstructure <- sem_case("cfa", hs_model, "hs", "meanstructure = TRUE", src_hs)
cases$hs_cfa_fiml <- sem_case("cfa", hs_model, "hs_missing", 'missing = "ml"', src_hsm)
cases$hs_multigroup <- sem_case("cfa", hs_model, "hs",
                                'group = "school", group.equal = c("loadings", "intercepts")',
                                src_hs_group, group = "school")
cases$hs_multigroup_free <- sem_case("cfa", hs_model, "hs", 'group = "school"', src_hs_group,
                                     group = "school")
cases$poldem <- sem_case("sem", poldem_model, "PoliticalDemocracy", "", src_pd)
cases$hs_cfa_fixed <- sem_case("cfa", fixed_model, "hs", "", src_hs)

## ---------------------------------------------------------------- bootstrap (hs_cfa)
fit_hs <- run(cases$hs_cfa$call)
boot_call <- 'set.seed(1); bootstrapLavaan(fit, R = 1000, type = "ordinary", FUN = coef)'
set.seed(1)
tm <- system.time(boot <- bootstrapLavaan(fit_hs, R = 1000, type = "ordinary", FUN = coef))
ok <- stats::complete.cases(boot)
nonadm <- if (is.null(attr(boot, "nonadmissible"))) integer(0) else attr(boot, "nonadmissible")
cases$hs_cfa$bootstrap <- list(
  call = boot_call,
  fit = paste("fit <-", cases$hs_cfa$call),
  seed = 1L, R = 1000L, type = "ordinary", FUN = "coef", parallel = "no (default)",
  n_ok = sum(ok),
  names = vec(names(coef(fit_hs))),
  se = vec(as.numeric(apply(boot[ok, , drop = FALSE], 2, sd))),
  mean = vec(as.numeric(colMeans(boot[ok, , drop = FALSE]))),
  est = vec(as.numeric(coef(fit_hs))),
  se_note = paste("sd (divisor R - 1) over every successful replicate of coef(fit) (free parameters,",
                  "lavaan order), non-admissible ones (e.g. a negative variance) included, as lavaan's",
                  "se = 'bootstrap' does; se_admissible_only leaves those out"),
  nonadmissible = vec(as.integer(nonadm)),
  se_admissible_only = vec(as.numeric(apply(boot[ok & !seq_len(nrow(boot)) %in% nonadm, , drop = FALSE],
                                            2, sd))),
  elapsed_s = unname(tm[["elapsed"]]),
  user_s = unname(tm[["user.self"]]),
  system_s = unname(tm[["sys.self"]]),
  timing_note = paste("system.time() around bootstrapLavaan only (1000 refits, serial), on the",
                      "shared 2-core development machine"))
cat(sprintf("bootstrap: %d/%d ok, %.1f s elapsed\n", sum(ok), nrow(boot), tm[["elapsed"]]))

## ---------------------------------------------------------------- write
refs <- list(
  meta = list(
    generated_by = "benchmarks/r/sem_references.R (Rscript --vanilla, from the repository root)",
    date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
    R = R.version.string,
    lavaan = as.character(packageVersion("lavaan")),
    versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan"))),
    platform = R.version$platform,
    blas = if (!is.null(extSoftVersion()[["BLAS"]])) extSoftVersion()[["BLAS"]] else "",
    conventions = paste(
      "Estimator ML, likelihood 'normal' (covariance divisor N), lavaan defaults otherwise.",
      "Matrices are arrays of rows in ov_names order; per-group lists follow group_labels",
      "(lavaan's group order). parameters: every parTable row except '==' constraints (those",
      "are in constraints), fixed ones included (free = false, se_* = null); group is 1-based;",
      "se_expected / se_observed come from refits with information = 'expected' / 'observed'",
      "(calls_information); options.information_default says which lavaan uses by default.",
      "std_all / std_lv / std_nox: parameterEstimates(fit, standardized = TRUE).",
      "logl includes the 2*pi constant.")),
  cases = cases)
writeLines(json(refs), out_json)
for (nm in names(cases)) {
  f <- cases[[nm]]$fit_measures
  cat(sprintf("%-22s converged=%s chisq=%.4f df=%d cfi=%.4f rmsea=%.4f logl=%.4f npar=%d\n", nm,
              cases[[nm]]$converged, f$chisq, as.integer(f$df), f$cfi, f$rmsea, f$logl,
              as.integer(f$npar)))
}
cat("wrote", out_json, "and", pd_csv, "\n")
