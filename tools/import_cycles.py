"""Print mle_jax's module-level import graph size and any import cycle.

``python tools/import_cycles.py`` (lazy imports inside functions are not edges).
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "mle_jax"


def graph() -> dict:
    mods = {}
    for p in ROOT.rglob("*.py"):
        name = ".".join(p.relative_to(ROOT.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    edges = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    dep = sub if sub in mods else target
                    if dep in mods and dep != m:
                        edges[m].add(dep)
    return edges


def cycles(edges: dict) -> list:
    state, found = {}, []

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for n in edges[m]:
            if state.get(n) == 1:
                found.append(stack[stack.index(n) :] + [n])
            elif not state.get(n):
                visit(n, stack)
        stack.pop()
        state[m] = 2

    for m in edges:
        if not state.get(m):
            visit(m, [])
    return found


if __name__ == "__main__":
    g = graph()
    found = cycles(g)
    print(f"{len(g)} modules, {sum(map(len, g.values()))} import edges, cycles: {found or 'none'}")
