## Reference answers (saturated Gaussian, FIML) for the real data sets with missing values.
##   Rscript --vanilla benchmarks/r/references.R [DATA_DIR] [OUT_JSON]
## defaults: /work/shared/data and tests/data/missing_references.json (run from the repo root).
## Tools: lavaan (missing = "ml", nlminb at default and tightened rel.tol, plus lavaan's own EM
## for the h1 moments), OpenMx FIML (SLSQP and CSOLNP, several starts, mxTryHard), and
## mvnmle::mlest when the package is installed (R_LIBS may point at a private library).
## Every -2 log-likelihood is WITH the 2*pi constant; each estimate's -2LL is also recomputed
## by one formula (m2ll_observed) so that tools are compared on the same footing.
args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1) args[1] else "/work/shared/data"
out_json <- if (length(args) >= 2) args[2] else "tests/data/missing_references.json"
self <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
source(file.path(dirname(normalizePath(self)), "fiml_common.R"))
suppressMessages({library(lavaan); library(OpenMx)})
has_mvnmle <- requireNamespace("mvnmle", quietly = TRUE)

sets <- list(
  mvnmle_apple = list(file = "mvnmle_apple.csv", cols = c("size", "worms")),
  mvnmle_missvals = list(file = "mvnmle_missvals.csv", cols = paste0("x", 1:5)),
  norm_mdata = list(file = "norm_mdata.csv", cols = c("ageh", "agew", "edu", "inc", "kid")),
  airquality = list(file = "airquality.csv", cols = c("Ozone", "Solar.R", "Wind", "Temp")))

## ---------------------------------------------------------------- a small JSON writer
json <- function(v, ind = "") {
  nx <- paste0(ind, "  ")
  if (is.null(v)) return("null")
  if (is.list(v)) {
    if (!length(v)) return(if (is.null(names(v))) "[]" else "{}")
    if (!is.null(names(v))) {
      items <- mapply(function(k, e) paste0(nx, '"', k, '": ', json(e, nx)), names(v), v)
      return(paste0("{\n", paste(items, collapse = ",\n"), "\n", ind, "}"))
    }
    return(paste0("[\n", paste(paste0(nx, sapply(v, json, ind = nx)), collapse = ",\n"),
                  "\n", ind, "]"))
  }
  if (is.matrix(v)) return(json(lapply(seq_len(nrow(v)), function(i) v[i, ]), ind))
  if (is.character(v)) {
    s <- paste0('"', gsub('"', '\\\\"', v), '"')
  } else if (is.logical(v)) {
    s <- ifelse(is.na(v), "null", ifelse(v, "true", "false"))
  } else {
    s <- ifelse(is.finite(v), formatC(v, digits = 17, format = "g"), "null")
    s <- gsub(" ", "", s)
  }
  if (length(v) == 1 && is.null(attr(v, "vector"))) s else paste0("[", paste(s, collapse = ", "), "]")
}
vec <- function(v) structure(as.numeric(v), vector = TRUE)

## scale-relative distance of two answers: max(|dm|/sd, |dS|/(sd sd')), sd from the reference
srel <- function(a, b) {
  sd <- sqrt(diag(b$cov))
  max(abs(a$mean - b$mean) / sd, abs(a$cov - b$cov) / outer(sd, sd))
}

entry <- function(r, x, extra = list()) {
  c(list(mean = vec(r$mean), cov = r$cov,
         m2ll_reported = r$m2ll, m2ll_recomputed = m2ll_observed(x, r$mean, r$cov),
         loglik = -0.5 * m2ll_observed(x, r$mean, r$cov)), extra)
}

results <- list()
for (key in names(sets)) {
  s <- sets[[key]]
  raw <- read.csv(file.path(data_dir, s$file), na.strings = "NA")
  x <- as.matrix(raw[, s$cols]); colnames(x) <- NULL
  d <- ncol(x); n <- nrow(x)
  cat("==", key, n, "x", d, "\n")
  tools <- list()

  ## lavaan: default rel.tol (1e-10) and tightened (1e-14), plus lavaan's EM h1 moments
  for (tol in c(1e-10, 1e-14)) {
    r <- fit_lavaan(x, tol = tol, h1 = TRUE)
    nm <- sprintf("lavaan_nlminb_reltol_%g", tol)
    tools[[nm]] <- entry(r, x, list(status = r$status, iterations = r$iters,
                                    max_abs_gradient = r$maxgrad,
                                    options = sprintf(paste0(
                                      'lavaan(saturated, missing="ml", meanstructure=TRUE, ',
                                      'likelihood="normal", optim.method="nlminb", ',
                                      'control=list(rel.tol=%g, iter.max=1e5, eval.max=2e5))'), tol)))
    if (tol == 1e-14) {
      h <- r$h1
      tools[["lavaan_h1_EM"]] <- entry(list(mean = h$mean, cov = h$cov, m2ll = h$m2ll), x,
        list(options = 'lavInspect(fit, "sampstat.h1"): lavaan\'s EM for the unrestricted moments (default EM settings)'))
    }
  }

  ## OpenMx: two optimizers x three starts, then mxTryHard from the default start
  st_default <- start_values(x)
  pc <- cov(x, use = "pairwise.complete.obs") * (n - 1) / n
  ev <- eigen(pc, symmetric = TRUE)
  pc <- ev$vectors %*% diag(pmax(ev$values, 1e-3 * max(ev$values)), d) %*% t(ev$vectors)
  st_pairwise <- list(mean = colMeans(x, na.rm = TRUE), cov = (pc + t(pc)) / 2)
  st_listwise <- {cc <- x[complete.cases(x), , drop = FALSE]
                  list(mean = colMeans(cc), cov = cov(cc) * (nrow(cc) - 1) / nrow(cc))}
  starts <- list(default = st_default, pairwise = st_pairwise, listwise = st_listwise)
  omx_runs <- list()
  for (opt in c("SLSQP", "CSOLNP")) {
    for (sn in names(starts)) {
      r <- tryCatch(fit_openmx(x, tol = 1e-14, optimizer = opt, start = starts[[sn]]),
                    error = function(e) NULL)
      if (is.null(r)) next
      omx_runs[[paste(opt, sn)]] <- list(optimizer = opt, start = sn, m2ll = r$m2ll,
                                         status_code = r$code, max_abs_gradient = r$maxgrad,
                                         fit = r)
    }
  }
  invisible(capture.output(
    r <- fit_openmx(x, tol = 1e-14, optimizer = "SLSQP", start = st_default, tryhard = 10L)))
  omx_runs[["SLSQP mxTryHard"]] <- list(optimizer = "SLSQP", start = "default + mxTryHard(extraTries=10)",
                                        m2ll = r$m2ll, status_code = r$code,
                                        max_abs_gradient = r$maxgrad, fit = r)
  m2 <- sapply(omx_runs, function(o) o$m2ll)
  best <- omx_runs[[which.min(m2)]]
  first <- omx_runs[[1]]
  tools[["OpenMx_best"]] <- entry(best$fit, x, list(
    run = names(omx_runs)[which.min(m2)], status_code = best$status_code,
    max_abs_gradient = best$max_abs_gradient,
    options = 'mxExpectationNormal(S Symm free, M Full free) + mxFitFunctionML() on mxData(raw); mxOption "Optimality tolerance"=1e-14, "Function precision"=1e-15',
    all_runs = lapply(omx_runs, function(o) list(optimizer = o$optimizer, start = o$start,
                                                 m2ll = o$m2ll, status_code = o$status_code,
                                                 max_abs_gradient = o$max_abs_gradient))))
  tools[["OpenMx_default_start_SLSQP"]] <- entry(first$fit, x, list(status_code = first$status_code,
    max_abs_gradient = first$max_abs_gradient))

  ## both tools again on data divided by the observed column SDs, answers transformed back
  ## (the MLE is equivariant: mean * sc, cov * sc sc'); -2LL recomputed on the raw data
  sc <- apply(x, 2, sd, na.rm = TRUE)
  xs <- sweep(x, 2, sc, "/")
  back <- function(r) list(mean = r$mean * sc, cov = r$cov * outer(sc, sc), m2ll = NA)
  r <- fit_lavaan(xs, tol = 1e-14)
  tools[["lavaan_scaled_reltol_1e-14"]] <- entry(back(r), x, list(status = r$status,
    iterations = r$iters, max_abs_gradient_scaled = r$maxgrad,
    options = "as lavaan_nlminb_reltol_1e-14, on x / colSD(x), back-transformed"))
  for (opt in c("SLSQP", "CSOLNP")) {
    r <- fit_openmx(xs, tol = 1e-14, optimizer = opt)
    tools[[paste0("OpenMx_scaled_", opt)]] <- entry(back(r), x, list(status_code = r$code,
      max_abs_gradient_scaled = r$maxgrad,
      options = paste("OpenMx", opt, "default start, on x / colSD(x), back-transformed")))
  }

  ## mvnmle::mlest (value = -2 log-likelihood WITHOUT the 2*pi constant)
  if (has_mvnmle) {
    for (iterlim in c(100L, 400L, 5000L)) {
      r <- suppressWarnings(mvnmle::mlest(x, iterlim = iterlim))
      tools[[sprintf("mvnmle_mlest_iterlim_%d", iterlim)]] <- entry(
        list(mean = r$muhat, cov = r$sigmahat, m2ll = r$value + sum(!is.na(x)) * log(2 * pi)), x,
        list(value_reported = r$value, stop_code = r$stop.code, iterations = r$iterations,
             max_abs_gradient = max(abs(r$gradient)),
             options = sprintf("mlest(x, iterlim=%d) (nlm defaults otherwise)", iterlim),
             note = "m2ll_reported = value + n_observed*log(2*pi): mlest's value excludes the 2*pi constant"))
    }
  }

  ## agreement: pairwise scale-relative distance and -2LL gap between every two tools
  best_name <- names(tools)[which.min(sapply(tools, function(t) t$m2ll_recomputed))]
  agree <- list()
  nms <- names(tools)
  for (i in seq_along(nms)) for (j in seq_along(nms)) if (i < j) {
    e <- srel(tools[[nms[i]]], tools[[nms[j]]])
    agree[[length(agree) + 1]] <- list(a = nms[i], b = nms[j], scale_rel_err = e,
      digits = floor(-log10(max(e, 1e-17))),
      m2ll_diff = tools[[nms[i]]]$m2ll_recomputed - tools[[nms[j]]]$m2ll_recomputed)
  }
  vs_best <- lapply(nms, function(nm) list(tool = nm,
    scale_rel_err = srel(tools[[nm]], tools[[best_name]]),
    m2ll_above_best = tools[[nm]]$m2ll_recomputed - tools[[best_name]]$m2ll_recomputed))
  results[[key]] <- list(file = s$file, columns = s$cols, n = n, d = d,
                         n_missing = sum(is.na(x)),
                         n_patterns = nrow(unique(is.na(x))),
                         best = best_name, tools = tools, vs_best = vs_best,
                         agreement = agree)
  for (nm in nms) cat(sprintf("  %-32s -2LL %.12f  err vs best %.1e\n", nm,
                              tools[[nm]]$m2ll_recomputed,
                              srel(tools[[nm]], tools[[best_name]])))
}

meta <- list(
  generated_by = "Rscript --vanilla benchmarks/r/references.R /work/shared/data tests/data/missing_references.json",
  R_version = R.version.string,
  lavaan_version = as.character(packageVersion("lavaan")),
  OpenMx_version = as.character(packageVersion("OpenMx")),
  mvnmle_version = if (has_mvnmle) as.character(packageVersion("mvnmle")) else "not installed",
  conventions = paste("Saturated Gaussian by FIML: each row contributes the density of its observed entries;",
                      "cov has divisor n; loglik and m2ll include the 2*pi constant;",
                      "m2ll_recomputed is -2 loglik recomputed from (mean, cov) by one formula for every tool;",
                      "scale_rel_err = max(|dmean_i|/sd_i, |dcov_ij|/(sd_i sd_j)) with sd from the second / best answer;",
                      "digits = floor(-log10(scale_rel_err))."))
writeLines(json(list(meta = meta, datasets = results)), out_json)
cat("wrote", out_json, "\n")
