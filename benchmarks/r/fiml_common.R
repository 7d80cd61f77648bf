## Saturated-Gaussian FIML fits with lavaan and OpenMx (shared by references.R and peer_fit.R).
## Every fit returns list(mean, cov, m2ll, maxgrad, status, iters, seconds, note):
## m2ll is -2 log-likelihood WITH the 2*pi constant; cov has divisor n.

sat_names <- function(d) paste0("v", seq_len(d))

## The usual start: observed column means, observed variances (divisor n_obs), zero covariances.
start_values <- function(x) {
  m <- colMeans(x, na.rm = TRUE)
  v <- colMeans(sweep(x, 2, m)^2, na.rm = TRUE)
  list(mean = m, cov = diag(v, length(v)))
}

lavaan_model <- function(d) {
  v <- sat_names(d)
  cov_lines <- unlist(lapply(seq_len(d), function(i) paste(v[i], "~~", v[i:d])))
  paste(c(cov_lines, paste(v, "~ 1")), collapse = "\n")
}

## lavaan, missing = "ml", nlminb with control = list(rel.tol = tol, ...).
## h1 = TRUE also runs lavaan's own EM for the unrestricted (h1) moments (reported separately).
fit_lavaan <- function(x, tol = 1e-14, h1 = FALSE, iter.max = 100000L) {
  d <- ncol(x)
  df <- as.data.frame(x); names(df) <- sat_names(d)
  model <- lavaan_model(d)
  t0 <- proc.time()[["elapsed"]]
  fit <- lavaan::lavaan(model, data = df, missing = "ml", meanstructure = TRUE,
                        likelihood = "normal", se = "none", test = "none", baseline = FALSE,
                        h1 = h1, optim.method = "nlminb",
                        control = list(rel.tol = tol, iter.max = iter.max,
                                       eval.max = 2L * iter.max),
                        warn = FALSE)
  secs <- proc.time()[["elapsed"]] - t0
  imp <- lavaan::lavInspect(fit, "implied")
  S <- unname(imp$cov[sat_names(d), sat_names(d)]); m <- unname(imp$mean[sat_names(d)])
  grad <- lavaan::lavInspect(fit, "gradient")
  ll <- fit@loglik$loglik
  conv <- lavaan::lavInspect(fit, "converged")
  out <- list(mean = as.numeric(m), cov = S, m2ll = -2 * ll, maxgrad = max(abs(grad)),
              status = if (conv) "ok" else "not converged",
              iters = lavaan::lavInspect(fit, "iterations"), seconds = secs,
              note = sprintf("nlminb rel.tol=%g; max|grad| of lavaan's objective (loglik/N scale)",
                             tol))
  if (h1) {
    h1s <- lavaan::lavInspect(fit, "sampstat.h1")
    out$h1 <- list(mean = as.numeric(h1s$mean[sat_names(d)]),
                   cov = unname(h1s$cov[sat_names(d), sat_names(d)]),
                   m2ll = -2 * fit@h1$logl$loglik)
  }
  out
}

## OpenMx FIML: mxExpectationNormal + mxFitFunctionML on raw data, Symm covariance and Full
## mean matrices all free. optimizer: "CSOLNP" or "SLSQP" (NPSOL when the build has it).
fit_openmx <- function(x, tol = 1e-14, optimizer = "SLSQP", start = NULL, threads = 2L,
                       tryhard = 0L) {
  suppressMessages(library(OpenMx))
  d <- ncol(x)
  v <- sat_names(d)
  df <- as.data.frame(x); names(df) <- v
  st <- if (is.null(start)) start_values(x) else start
  mxOption(NULL, "Default optimizer", optimizer)
  model <- mxModel("sat",
    mxData(df, type = "raw"),
    mxMatrix("Symm", d, d, free = TRUE, values = st$cov, name = "S"),
    mxMatrix("Full", 1, d, free = TRUE, values = st$mean, name = "M"),
    mxExpectationNormal(covariance = "S", means = "M", dimnames = v),
    mxFitFunctionML())
  model <- mxOption(model, "Optimality tolerance", tol)
  model <- mxOption(model, "Function precision", 1e-15)
  model <- mxOption(model, "Number of Threads", threads)
  model <- mxOption(model, "Calculate Hessian", "No")
  model <- mxOption(model, "Standard Errors", "No")
  t0 <- proc.time()[["elapsed"]]
  fit <- if (tryhard > 0) {
    suppressMessages(mxTryHard(model, extraTries = tryhard, silent = TRUE, bestInitsOutput = FALSE))
  } else {
    suppressMessages(mxRun(model, silent = TRUE, suppressWarnings = TRUE))
  }
  secs <- proc.time()[["elapsed"]] - t0
  code <- fit$output$status$code
  list(mean = as.numeric(mxEval(M, fit)), cov = unname(mxEval(S, fit)),
       m2ll = fit$output$minimum, maxgrad = max(abs(fit$output$gradient)),
       status = if (code %in% c(0L, 1L)) "ok" else "not converged",
       iters = if (is.null(fit$output$iterations)) NA else fit$output$iterations,
       seconds = secs, code = code,
       note = sprintf("%s, Optimality tolerance=%g, status code %d; max|grad| of -2LL",
                      optimizer, tol, code))
}

## Observed-data -2 log-likelihood with the 2*pi constant, recomputed from (mean, cov).
m2ll_observed <- function(x, m, S) {
  tot <- 0
  for (i in seq_len(nrow(x))) {
    o <- which(!is.na(x[i, ]))
    if (!length(o)) next
    r <- x[i, o] - m[o]
    So <- S[o, o, drop = FALSE]
    tot <- tot + length(o) * log(2 * pi) + as.numeric(determinant(So)$modulus) +
      sum(r * solve(So, r))
  }
  tot
}
