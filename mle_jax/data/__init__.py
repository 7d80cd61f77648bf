"""Small real data sets shipped with the package, and the CSV reader the command line uses.

The files live beside this module (provenance in ``README.md`` here) and are read with
:mod:`importlib.resources`, so they work from a wheel as well as from a checkout.

* :func:`load_dataset`: ``"iris"``, ``"faithful"`` (complete) and ``"apple"``, ``"missvals"``,
  ``"mdata"``, ``"airquality"`` (with missing values, NaN), and for structured models
  ``"holzinger_swineford"`` (factor analysis), ``"sleepstudy_wide"`` (mixed model) and
  ``"political_democracy"`` (structural equation model).
* :func:`read_csv`: the numeric columns of a CSV file; missing markers
  (:data:`MISSING_MARKERS`: empty, ``NA``, ``NaN``, ``nan``) become NaN, all-text columns are
  labels and left out, any other non-number cell is an error naming its row and column.
"""

from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np

from ._csv import MISSING_MARKERS as MISSING_MARKERS
from ._csv import parse_table as _parse_table
from ._csv import read_csv as read_csv

__all__ = ["DATASETS", "MISSING_MARKERS", "Dataset", "load_dataset", "read_csv"]

#: name -> (file, column holding string labels or None)
DATASETS = {
    "iris": ("iris.csv", "Species"),
    "faithful": ("faithful.csv", None),
    "apple": ("mvnmle_apple.csv", None),
    "missvals": ("mvnmle_missvals.csv", None),
    "mdata": ("norm_mdata.csv", None),
    "airquality": ("airquality.csv", None),
    "holzinger_swineford": ("holzinger_swineford.csv", "school"),
    "sleepstudy_wide": ("sleepstudy_wide.csv", None),
    "political_democracy": ("political_democracy.csv", None),
}


class Dataset(NamedTuple):
    """A numeric table: ``data`` ``(n, d)`` float64 and its ``d`` column names.

    Unpacks as ``x, columns = mj.load_dataset("faithful")``.
    """

    data: np.ndarray
    columns: list


def load_dataset(name: str, *, subset: str | None = None) -> Dataset:
    """Load one of the bundled data sets (see ``DATASETS``) as float64, NaN where missing.

    Complete data:

    * ``"iris"``: 150 x 4, sepal/petal length and width (cm); R ``datasets::iris``.
    * ``"faithful"``: 272 x 2, eruption length and waiting time to the next eruption (min),
      Old Faithful geyser; R ``datasets::faithful``.

    With missing values (NaN; provenance in the data folder's ``README.md``):

    * ``"apple"``: 18 x 2 (``size``, ``worms``), 6 missing, monotone; Little & Rubin (1987)
      Table 6.1, R package mvnmle.
    * ``"missvals"``: 13 x 5 (``x1`` .. ``x5``), 15 missing, monotone, near-collinear; Hald's
      cement data with holes, Little & Rubin (1987) Table 6.4, R package mvnmle.
    * ``"mdata"``: 25 x 5 (``ageh``, ``agew``, ``edu``, ``inc``, ``kid``), 14 missing,
      non-monotone, scales from 1 to 1e5; Schafer (1997), R package norm.
    * ``"airquality"``: 153 x 4 (``Ozone``, ``Solar.R``, ``Wind``, ``Temp``), 44 missing
      (37 Ozone, 7 Solar.R); New York, May to September 1973, R ``datasets::airquality``.

    A complete-case fit (dropping rows with NaN) of the last four is biased; their
    maximum-likelihood estimate uses every observed value.

    For structured covariance models (R reference fits: ``tests/data/model_references.json``):

    * ``"holzinger_swineford"``: 301 x 14 (``id``, ``sex``, ``ageyr``, ``agemo``, ``grade``,
      ``x1`` .. ``x9``; one ``grade`` is NaN), mental ability test scores of 7th/8th-grade
      children, R package lavaan ``HolzingerSwineford1939``; the label column ``school``
      (``"Pasteur"``, ``"Grant-White"``) selects a school with ``subset``. The classic
      three-factor model uses ``x1`` .. ``x9`` (the last nine columns).
    * ``"sleepstudy_wide"``: 18 x 11 (``Subject``, ``Day0`` .. ``Day9``), reaction times (ms)
      under sleep deprivation, R package lme4 ``sleepstudy`` in wide form, one row per subject.
      ``Subject`` holds the subjects' numeric ids (308 .. 372), so it is a numeric column, not
      a label: drop it (``data[:, 1:]``) before fitting.
    * ``"political_democracy"``: 75 x 11 (``y1`` .. ``y8``, ``x1`` .. ``x3``), indicators of
      political democracy in 1960 (``y1`` .. ``y4``) and 1965 (``y5`` .. ``y8``) and of
      industrialisation in 1960 (``x1`` .. ``x3``) for 75 developing countries, Bollen (1989),
      R package lavaan ``PoliticalDemocracy`` (references: ``tests/data/sem_references.json``).

    Args:
        name: one of the names above.
        subset: keep only the rows whose label column equals this value (iris: a species,
            ``"setosa"``, ``"versicolor"`` or ``"virginica"``).

    Returns:
        :class:`Dataset` ``(data, columns)`` with the numeric columns only.

    Examples:
        >>> import mle_jax as mj
        >>> x, columns = mj.load_dataset("faithful")
        >>> x.shape, columns
        ((272, 2), ['eruptions', 'waiting'])
        >>> mj.load_dataset("iris", subset="setosa").data.shape
        (50, 4)
        >>> import numpy as np
        >>> x, columns = mj.load_dataset("airquality")
        >>> x.shape, int(np.isnan(x).sum())
        ((153, 4), 44)
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    filename, label = DATASETS[name]
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    table = _parse_table(text, filename)
    data, columns = table.select()
    if subset is not None:
        if label is None:
            raise ValueError(f"data set {name!r} has no label column to take a subset of")
        labels = table.labels[label]
        keep = labels == subset
        if not keep.any():
            raise ValueError(
                f"no rows of {name!r} have {label} == {subset!r}; "
                f"choose one of {sorted(set(labels.tolist()))}"
            )
        data = data[keep]
    return Dataset(data, columns)
