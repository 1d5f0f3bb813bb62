"""No import cycles between a crate's modules (`make lint`).

For every crate under crates/, each source file is a module (`storage/index.rs` is
`storage::index`). Every path it names (`crate::a::b`, `super::x`, `super::super::y::z`, brace
groups included) is resolved to the longest module it reaches. A reference between two modules
counts between their sibling ancestors under the closest common parent: `session::supervisor`
naming `storage::index` is an edge session -> storage; `storage::index` naming `storage::list` is
index -> list. References to a module's own ancestors or descendants are the tree itself, not
edges. Any cycle among siblings fails the check, with the files that make it.

Usage: check_module_cycles.py [crates dir]
"""
import re
import sys
from collections import defaultdict
from pathlib import Path

PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+|(?:::\w+)*::\{[^}]*\})")


def module_of(src: Path, file: Path):
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def expand(tail: str):
    """`::a::{b::c, d}` -> [[a, b, c], [a, d]]; `::a::b` -> [[a, b]]."""
    if "{" in tail:
        head, _, group = tail.partition("{")
        base = [p for p in head.split("::") if p]
        out = []
        for item in group.rstrip("}").split(","):
            item = item.strip().split(" as ")[0]
            if item in ("", "self"):
                out.append(base)
            else:
                out.append(base + [p for p in item.split("::") if p])
        return out
    return [[p for p in tail.split("::") if p]]


def resolve(modules, start, segments):
    """The longest known module `start + segments` reaches."""
    path = tuple(start)
    best = path if path in modules else None
    for seg in segments:
        path = path + (seg,)
        if path in modules:
            best = path
        else:
            break
    return best


def check_crate(src: Path):
    files = {module_of(src, f): f for f in src.rglob("*.rs")}
    modules = set(files)
    edges = defaultdict(set)  # (parent, a, b) -> set of files
    for module, file in files.items():
        text = file.read_text()
        # Drop comments so that doc text naming modules does not count.
        text = re.sub(r"//[^\n]*", "", text)
        for root, tail in PATH.findall(text):
            if root == "crate":
                base = ()
            elif root == "self":
                base = module
            else:
                ups = 1 + tail.count("::super")
                tail = tail.replace("::super", "")
                base = module[: max(0, len(module) - ups)]
            for segments in expand(tail):
                target = resolve(modules, base, segments)
                if target is None or target == module:
                    continue
                common = 0
                while (
                    common < min(len(module), len(target))
                    and module[common] == target[common]
                ):
                    common += 1
                if common in (len(module), len(target)):
                    continue  # an ancestor or a descendant: the tree itself
                parent = module[:common]
                edges[(parent, module[common], target[common])].add(
                    str(file.relative_to(src.parent))
                )
    graphs = defaultdict(lambda: defaultdict(set))
    for (parent, a, b) in edges:
        graphs[parent][a].add(b)
    problems = []
    for parent, graph in graphs.items():
        for cycle in cycles(graph):
            where = "::".join(parent) or "crate"
            links = []
            for a, b in zip(cycle, cycle[1:] + cycle[:1]):
                links.append(f"{a} -> {b} ({', '.join(sorted(edges[(parent, a, b)]))})")
            problems.append(f"{src.parent.name}: cycle in {where}: " + "; ".join(links))
    return problems


def cycles(graph):
    """One cycle per strongly connected component of more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(path_through(graph, set(component)))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def path_through(graph, component):
    """A cycle inside `component`, as a list of nodes."""
    start = sorted(component)[0]
    path, seen = [start], {start}
    node = start
    while True:
        nxt = sorted(w for w in graph.get(node, ()) if w in component)
        if start in nxt and len(path) > 1:
            return path
        step = next((w for w in nxt if w not in seen), None)
        if step is None:
            return path
        path.append(step)
        seen.add(step)
        node = step


def main():
    crates = Path(sys.argv[1] if len(sys.argv) > 1 else "crates")
    problems = []
    for src in sorted(crates.glob("*/src")):
        problems += check_crate(src)
    if problems:
        print("import cycles between modules:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("no import cycles between modules")


if __name__ == "__main__":
    main()
