# One timed lavaan FIML CFA for benchmarks/sem.py (cases bfi and big):
#   Rscript --vanilla benchmarks/r/sem_fiml_bench.R DATA.csv MODEL.txt REPEATS OUT.json
# Times cfa(model, data, missing = "ml") + parameterEstimates() + fitMeasures() inside R
# (median elapsed of REPEATS calls) and writes the fit's logl, chisq, cfi, rmsea and its
# parameter rows (lhs, op, rhs, est, se) as JSON.
suppressMessages(library(lavaan))
args <- commandArgs(TRUE)
x <- read.csv(args[1])
model <- paste(readLines(args[2]), collapse = "\n")
repeats <- as.integer(args[3])
one <- function() {
  f <- cfa(model, data = x, missing = "ml")
  pe <- parameterEstimates(f)
  fm <- fitMeasures(f)
  list(f = f, pe = pe, fm = fm)
}
times <- numeric(repeats)
for (i in seq_len(repeats)) times[i] <- system.time(r <- one())[["elapsed"]]
q <- function(s) paste0('"', s, '"')
num <- function(v) paste(sprintf("%.10g", v), collapse = ",")
pe <- r$pe
json <- sprintf(
  paste0('{"time": %.6f, "times": [%s], "lavaan": "%s", "converged": %s, "logl": %.10f, ',
         '"chisq": %.10f, "cfi": %.10f, "rmsea": %.10f, "lhs": [%s], "op": [%s], ',
         '"rhs": [%s], "est": [%s], "se": [%s]}'),
  median(times), num(times), as.character(packageVersion("lavaan")),
  tolower(as.character(lavInspect(r$f, "converged"))), r$fm[["logl"]], r$fm[["chisq"]],
  r$fm[["cfi"]], r$fm[["rmsea"]], paste(q(pe$lhs), collapse = ","),
  paste(q(pe$op), collapse = ","), paste(q(pe$rhs), collapse = ","), num(pe$est), num(pe$se))
writeLines(json, args[4])
