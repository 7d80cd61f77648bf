"""The benchmark peers are correct, and every benchmark script still imports and names only
what mle_jax has (fast checks; the benchmarks themselves are not run here)."""

import ast
import importlib
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")

from benchmarks import peers  # noqa: E402
from benchmarks.run import error, make_data, reference  # noqa: E402


def test_hand_written_nll_and_gradient_match_finite_differences_and_mle_jax():
    import jax.numpy as jnp

    import mle_jax as mj

    x = make_data(500, 3)
    mean0, raw0 = peers.init_params(x)
    theta = np.concatenate([mean0, raw0]) + np.random.default_rng(0).normal(size=9) * 0.1
    f, g = peers.nll_and_grad(theta, x)
    mean, chol = peers.unpack(theta, 3)
    want = float(mj.nll(mj.MvnParams.from_mean_chol(jnp.asarray(mean), jnp.asarray(chol)), x))
    np.testing.assert_allclose(f * x.shape[0], want, rtol=1e-12)
    eps = 1e-6
    fd = [
        (peers.nll_and_grad(theta + eps * e, x)[0] - peers.nll_and_grad(theta - eps * e, x)[0])
        / (2 * eps)
        for e in np.eye(theta.size)
    ]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_generated_data_have_the_documented_correlation_conditioning():
    x = make_data(200_000, 10)
    corr = np.corrcoef(x.T)
    assert 40 < np.linalg.cond(corr) < 60  # 49.8 for the population (see make_data)
    assert make_data(10, 0).shape == (10,)


def test_scipy_peer_reaches_the_closed_form():
    x = make_data(2000, 2)
    out = peers.scipy_lbfgsb(2, np.float64)(x)
    # scipy stops on its relative-decrease test, near but not always under the common
    # max-|gradient| tolerance of 1e-9 (then reported as not converged)
    assert error(out, reference(x)) < 1e-7 and out.iters > 5


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem != "__init__")


def _trees(source):
    """The script's syntax tree, and those of the code strings it runs in a subprocess."""
    tree = ast.parse(source)
    yield tree
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "import mle_jax" in node.value or "from mle_jax" in node.value:
                try:
                    yield ast.parse(textwrap.dedent(node.value))
                except SyntaxError:
                    pass


def _lookup(dotted):
    """``mle_jax.a.b`` as a module, or as an attribute of its parent module."""
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError:
        parent, _, attr = dotted.rpartition(".")
        return getattr(importlib.import_module(parent), attr)


def _unresolved(source):
    """The ``mle_jax`` names a source imports or reads (``mj.fit``, ``_problem._EM_STEPS``,
    also inside functions and in subprocess code strings) that do not exist; runs none of it."""
    bad = []
    for tree in _trees(source):
        bound = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [(a.name, a.asname) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [(f"{node.module}.{a.name}", a.asname or a.name) for a in node.names]
            else:
                continue
            for name, asname in names:
                if name.split(".")[0] != "mle_jax":
                    continue
                try:
                    obj = _lookup(name)
                except (ImportError, AttributeError):
                    bad.append(name)
                    continue
                if asname:
                    bound[asname] = obj
                else:  # `import mle_jax.x` binds mle_jax
                    bound["mle_jax"] = importlib.import_module("mle_jax")

        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                _resolve(node, bound, bad)
    return sorted(set(bad))


def _resolve(expr, bound, bad):
    """The object ``mj.a.b`` names while it is a module's attribute; missing ones to ``bad``."""
    if isinstance(expr, ast.Name):
        return bound.get(expr.id)
    if isinstance(expr, ast.Attribute):
        obj = _resolve(expr.value, bound, bad)
        if isinstance(obj, types.ModuleType):
            if not hasattr(obj, expr.attr):
                bad.append(f"{obj.__name__}.{expr.attr}")
                return None
            return getattr(obj, expr.attr)
    return None


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_script_imports_and_names_only_what_exists(name):
    """`python -m benchmarks.<name>` (and benchmarks/gpu_check.sh) would not stop at an
    import or a renamed function: the module imports, and every mle_jax name it uses exists."""
    importlib.import_module(f"benchmarks.{name}")
    assert _unresolved((BENCHMARKS / f"{name}.py").read_text()) == [], name


def test_the_name_check_can_fail():
    src = "import mle_jax as mj\nfrom mle_jax import _problem\n"
    src += "def f():\n    mj.nope(_problem.gone)\n"
    assert _unresolved(src) == ["mle_jax._problem.gone", "mle_jax.nope"]
    assert _unresolved("from mle_jax import _prepare") == ["mle_jax._prepare"]
    assert _unresolved("import mle_jax._gone as g") == ["mle_jax._gone"]
    code = 'CHILD = """\nimport mle_jax as mj\nmj.fit_everything()\n"""\n'
    assert _unresolved(code) == ["mle_jax.fit_everything"]
