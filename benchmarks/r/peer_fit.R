## One benchmark fit, called by benchmarks/missing_peers.py:
##   Rscript --vanilla peer_fit.R TOOL DATA.bin N D TOL OUT.txt REPEATS
## TOOL: lavaan | openmx. DATA.bin: N*D little-endian float64, row-major, NaN = missing.
## The fit is repeated REPEATS times in this session; the answer file is rewritten after each,
## its "seconds" line lists every fit's wall time (measured inside R around the fit alone).
args <- commandArgs(trailingOnly = TRUE)
tool <- args[1]; path <- args[2]; n <- as.integer(args[3]); d <- as.integer(args[4])
tol <- as.numeric(args[5]); out <- args[6]; repeats <- as.integer(args[7])
self <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
source(file.path(dirname(normalizePath(self)), "fiml_common.R"))

x <- matrix(readBin(path, "double", n = n * d, size = 8, endian = "little"),
            nrow = n, ncol = d, byrow = TRUE)
x[is.nan(x)] <- NA
if (tool == "lavaan") {
  suppressMessages(library(lavaan)); version <- as.character(packageVersion("lavaan"))
  fitter <- function() fit_lavaan(x, tol = tol)
} else if (tool == "openmx") {
  suppressMessages(library(OpenMx)); version <- as.character(packageVersion("OpenMx"))
  fitter <- function() fit_openmx(x, tol = tol)
} else stop("unknown tool ", tool)

fmt <- function(v) paste(formatC(as.numeric(v), digits = 17, format = "g"), collapse = " ")
secs <- numeric(0)
for (k in seq_len(repeats)) {
  r <- fitter()
  secs <- c(secs, r$seconds)
  tmp <- paste0(out, ".tmp")
  writeLines(c(paste("mean", fmt(r$mean)), paste("cov", fmt(t(r$cov))),
               paste("m2ll", fmt(r$m2ll)), paste("maxgrad", fmt(r$maxgrad)),
               paste("status", r$status), paste("iters", fmt(r$iters)),
               paste("seconds", fmt(secs)), paste("version", version),
               paste("note", gsub("\n", " ", r$note))), tmp)
  file.rename(tmp, out)
}
