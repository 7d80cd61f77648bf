## Timed peer fits of the model benchmark, called by benchmarks/models.py:
##   Rscript --vanilla models_peer.R factanal COV.bin D N K OUT REPEATS
##   Rscript --vanilla models_peer.R lavaan_fiml DATA.bin N D K OUT REPEATS
##   Rscript --vanilla models_peer.R lavaan_hs CSV - - - OUT REPEATS
## COV.bin: D*D little-endian float64 (the covariance with divisor N); DATA.bin: N*D float64,
## row-major, NaN = missing. Each fit is repeated REPEATS times in this session; the answer file
## (plain "key values..." lines) is rewritten after each fit, and its "seconds" line lists every
## fit's wall time, measured inside R with proc.time() around the fit call alone (no package
## loading, no data reading, no post-processing).
##
## factanal:    factanal(covmat = list(cov = S, n.obs = N), factors = K, rotation = "none"),
##              its defaults otherwise (optim L-BFGS-B, lower = 0.005); answers on the
##              correlation scale (uniquenesses, loadings).
## lavaan_fiml: the exploratory K-factor model as lavaan syntax, in the parameterisation of
##              mle_jax.FactorAnalysis (loadings lower-trapezoid: factor j does not load on
##              the first j - 1 variables; factor variances 1, factors uncorrelated), which has
##              the likelihood of efa(nfactors = K) (any rotation); missing = "ml",
##              meanstructure (saturated means), se = "none", test = "none", h1 = FALSE,
##              baseline = FALSE: the fit alone. Answers: the implied mean and covariance.
## lavaan_hs:   cfa(visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9)
##              on the CSV (lavaan's defaults: marker loadings 1, expected information) with
##              standard errors, then parameterEstimates(): what a user runs.
args <- commandArgs(trailingOnly = TRUE)
tool <- args[1]; path <- args[2]; a3 <- args[3]; a4 <- args[4]; a5 <- args[5]
out <- args[6]; repeats <- as.integer(args[7])
suppressMessages(library(lavaan))
fmt <- function(v) paste(formatC(as.numeric(v), digits = 17, format = "g"), collapse = " ")

write_answer <- function(lines) {
  tmp <- paste0(out, ".tmp")
  writeLines(lines, tmp)
  file.rename(tmp, out)
}

if (tool == "factanal") {
  d <- as.integer(a3); n <- as.numeric(a4); k <- as.integer(a5)
  S <- matrix(readBin(path, "double", n = d * d, size = 8, endian = "little"), d, d)
  version <- paste("R", paste(R.version$major, R.version$minor, sep = "."))
  fitter <- function() factanal(covmat = list(cov = S, n.obs = n), factors = k,
                                rotation = "none")
  answer <- function(f) c(paste("uniquenesses", fmt(f$uniquenesses)),
                          paste("loadings", fmt(t(unclass(f$loadings)))),
                          paste("converged", fmt(f$converged)),
                          paste("objective", fmt(f$criteria[["objective"]])),
                          paste("counts", fmt(f$criteria[c("counts.function",
                                                            "counts.gradient")])))
} else if (tool == "lavaan_fiml") {
  n <- as.integer(a3); d <- as.integer(a4); k <- as.integer(a5)
  x <- matrix(readBin(path, "double", n = n * d, size = 8, endian = "little"),
              nrow = n, ncol = d, byrow = TRUE)
  x[is.nan(x)] <- NA
  v <- paste0("v", seq_len(d))
  df <- as.data.frame(x); names(df) <- v
  f <- paste0("f", seq_len(k))
  lines <- character(0)
  for (j in seq_len(k)) {
    terms <- ifelse(seq_len(d) < j, paste0("0*", v), paste0("NA*", v))
    lines <- c(lines, paste(f[j], "=~", paste(terms, collapse = " + ")), paste0(f[j], " ~~ 1*", f[j]))
    if (j < k) lines <- c(lines, paste0(f[j], " ~~ 0*", f[(j + 1):k]))
  }
  model <- paste(lines, collapse = "\n")
  version <- paste("lavaan", as.character(packageVersion("lavaan")))
  fitter <- function() lavaan(model, data = df, missing = "ml", meanstructure = TRUE,
                              int.ov.free = TRUE, auto.var = TRUE, se = "none",
                              test = "none", h1 = FALSE, baseline = FALSE, warn = FALSE)
  answer <- function(fit) {
    imp <- lavInspect(fit, "implied")
    c(paste("mean", fmt(imp$mean[v])), paste("cov", fmt(t(imp$cov[v, v]))),
      paste("loglik", fmt(fit@loglik$loglik)),
      paste("converged", fmt(lavInspect(fit, "converged"))),
      paste("iterations", fmt(lavInspect(fit, "iterations"))))
  }
} else if (tool == "lavaan_hs") {
  hs <- read.csv(path)
  hs_model <- "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"
  version <- paste("lavaan", as.character(packageVersion("lavaan")))
  fitter <- function() {
    fit <- cfa(hs_model, data = hs)
    list(fit = fit, table = parameterEstimates(fit))
  }
  answer <- function(r) c(paste("loglik", fmt(as.numeric(logLik(r$fit)))),
                          paste("se", fmt(r$table$se)),
                          paste("converged", fmt(lavInspect(r$fit, "converged"))))
} else stop("unknown tool ", tool)

secs <- numeric(0)
for (rep in seq_len(repeats)) {
  t0 <- proc.time()[["elapsed"]]
  r <- fitter()
  secs <- c(secs, proc.time()[["elapsed"]] - t0)
  write_answer(c(answer(r), paste("seconds", fmt(secs)), paste("version", version)))
}
