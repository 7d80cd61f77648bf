## A small JSON writer shared by the R reference scripts (model_references.R, sem_references.R).
## Numbers are written with 17 significant digits (round-trip exact); NA and non-finite -> null.
## json(v): a named list -> object, an unnamed list -> array, a matrix -> array of rows, a
## length-1 vector -> scalar unless it carries attr "vector" (vec() sets it: always an array).
## Strings escape backslashes, double quotes, newlines and tabs (as references.R, plus those).

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
  if (is.matrix(v)) {
    rows <- lapply(seq_len(nrow(v)), function(i) structure(unname(v[i, ]), vector = TRUE))
    return(json(rows, ind))
  }
  if (is.factor(v)) v <- structure(as.character(v), vector = attr(v, "vector"))
  if (is.character(v)) {
    e <- gsub("\\", "\\\\", v, fixed = TRUE)
    e <- gsub('"', '\\"', e, fixed = TRUE)
    e <- gsub("\n", "\\n", e, fixed = TRUE)
    e <- gsub("\t", "\\t", e, fixed = TRUE)
    s <- ifelse(is.na(v), "null", paste0('"', e, '"'))
  } else if (is.logical(v)) {
    s <- ifelse(is.na(v), "null", ifelse(v, "true", "false"))
  } else {
    s <- ifelse(is.finite(v), formatC(v, digits = 17, format = "g"), "null")
    s <- gsub(" ", "", s)
  }
  if (length(v) == 1 && is.null(attr(v, "vector"))) s else paste0("[", paste(s, collapse = ", "), "]")
}
vec <- function(v) structure(unname(v), vector = TRUE)           # always a JSON array
named <- function(v) as.list(v)                                   # named vector -> JSON object
mat <- function(m) unname(as.matrix(m))
## a data frame -> object of column arrays
cols <- function(df) lapply(as.list(df), function(x) vec(if (is.factor(x)) as.character(x) else x))
