# One timed OpenMx CFA for benchmarks/sem.py (the OpenMx peer of every case):
#   Rscript --vanilla benchmarks/r/sem_openmx_bench.R DATA.csv MODEL.txt REPEATS BOOT OUT.json
# MODEL.txt holds lavaan measurement lines only ("f =~ a + b + c"); they are written as the
# RAM model lavaan's cfa() fits: first loading fixed to 1, latent variances and covariances,
# residual variances and manifest means free, latent means 0. Raw data with mxFitFunctionML:
# full-information ML, missing entries included. Timed inside R (elapsed, median of REPEATS):
# mxAutoStart (OpenMx's starting values) + mxRun + summary() with the saturated and
# independence reference models (mxRefModels, fitted), which is what lavaan's fitMeasures()
# needs. BOOT > 0 also times
# mxBootstrap(fit, replications = BOOT) and writes the bootstrap SE of each parameter (sd over
# the replications with status 0 or 1, as OpenMx's own summary counts them).
suppressMessages(library(OpenMx))
args <- commandArgs(TRUE)
x <- read.csv(args[1])
lines <- trimws(unlist(strsplit(readLines(args[2], warn = FALSE), "\n")))
lines <- lines[nzchar(lines)]
repeats <- as.integer(args[3])
boot <- as.integer(args[4])
factors <- list()
for (l in lines) {
  parts <- strsplit(l, "=~", fixed = TRUE)[[1]]
  factors[[trimws(parts[1])]] <- trimws(strsplit(parts[2], "+", fixed = TRUE)[[1]])
}
# OpenMx labels may not hold "~": lavaan's operators are spelt out and restored for the JSON
lavaan_names <- function(n) sub("_MEAN$", "~1", sub("_WITH_", "~~", sub("_BY_", "=~", n)))
latents <- names(factors)
manifests <- unlist(factors, use.names = FALSE)
x <- x[, manifests]
v <- sapply(x, var, na.rm = TRUE)
paths <- list(
  mxPath(from = manifests, arrows = 2, free = TRUE, values = v / 2,
         labels = paste0(manifests, "_WITH_", manifests)),
  mxPath(from = "one", to = manifests, free = TRUE, values = colMeans(x, na.rm = TRUE),
         labels = paste0(manifests, "_MEAN")),
  mxPath(from = latents, arrows = 2, connect = "unique.pairs", free = TRUE,
         values = unlist(lapply(seq_along(latents),  # (i, i) first, then (i, j > i)
                                function(i) c(0.05, rep(0, length(latents) - i)))),
         labels = unlist(lapply(seq_along(latents), function(i)
           paste0(latents[i], "_WITH_", latents[i:length(latents)]))))
)
for (f in latents) {
  ind <- factors[[f]]
  paths[[length(paths) + 1]] <- mxPath(from = f, to = ind, arrows = 1,
    free = c(FALSE, rep(TRUE, length(ind) - 1)), values = 1,
    labels = paste0(f, "_BY_", ind))
}
model <- do.call(mxModel, c(list("cfa", type = "RAM", manifestVars = manifests,
                                 latentVars = latents, mxData(x, type = "raw")), paths))
one <- function() {
  # OpenMx's own starting values (ULS on the data), as its users are told to get them
  fit <- mxRun(mxAutoStart(model), silent = TRUE, suppressWarnings = TRUE)
  s <- summary(fit, refModels = mxRefModels(fit, run = TRUE))
  list(fit = fit, s = s)
}
times <- numeric(repeats)
for (i in seq_len(repeats)) times[i] <- system.time(r <- one())[["elapsed"]]
p <- r$s$parameters
out <- list(
  time = median(times), openmx = as.character(packageVersion("OpenMx")),
  optimizer = mxOption(NULL, "Default optimizer"), status = r$fit$output$status$code,
  logl = -r$fit$output$minimum / 2, chisq = r$s$Chi, cfi = r$s$CFI, rmsea = r$s$RMSEA,
  name = lavaan_names(p$name), est = p$Estimate, se = p$Std.Error)
if (boot > 0) {
  set.seed(1)
  t <- system.time(b <- mxBootstrap(r$fit, replications = boot, silent = TRUE))[["elapsed"]]
  raw <- b$compute$output$raw
  ok <- raw$statusCode %in% c("OK", "OK/green")
  out$boot_time <- t
  out$boot_ok <- sum(ok)
  out$boot_se <- unname(sapply(p$name, function(n) sd(raw[ok, n])))
}
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE))),
                 "json_common.R"))
writeLines(json(out), args[5])
