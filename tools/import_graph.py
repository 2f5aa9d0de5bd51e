"""Figures of the import graph of `governance/`, read from the source with `ast` (nothing is
imported, so it runs on any checkout, before or after a move).

    python tools/import_graph.py [--root governance] [--top-level-only] [--cycles]

Prints: modules per package, the lines of the largest package, the strongly-connected groups
of modules (import circles) and the longest import chain. Two graphs are measured:
`all` counts every import, including those written inside functions (what a reader must
follow), `import-time` only those at module level (what runs on `import governance.x`).
A circle is a group of modules each reachable from the others; the longest chain is the
longest path through the graph once each circle is counted as one step.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter, defaultdict
from pathlib import Path


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def collect(root: Path) -> tuple[dict[str, Path], dict[str, set[str]], dict[str, set[str]]]:
    files = {
        module_name(root, p): p for p in sorted(root.rglob("*.py")) if "migrations" not in p.parts
    }
    known = set(files)
    every: dict[str, set[str]] = defaultdict(set)
    top: dict[str, set[str]] = defaultdict(set)

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        type_checking: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                type_checking.update(id(n) for b in node.body for n in ast.walk(b))
        top_nodes = {id(n) for n in tree.body}
        for stmt in tree.body:  # module-level try/if blocks run at import time too
            if isinstance(stmt, (ast.Try, ast.If)):
                top_nodes.update(id(n) for n in ast.walk(stmt))
        for node in ast.walk(tree):
            if id(node) in type_checking:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" for a in node.names] or [base]
            for target in targets:
                found = resolve(target)
                if found and found != module:
                    every[module].add(found)
                    if id(node) in top_nodes:
                        top[module].add(found)
    return files, every, top


def strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            groups.append(sorted(group))

    for v in nodes:
        if v not in index:
            visit(v)
    return groups


def longest_chain(
    nodes: list[str], edges: dict[str, set[str]], groups: list[list[str]]
) -> list[str]:
    owner = {m: i for i, g in enumerate(groups) for m in g}
    dag: dict[int, set[int]] = defaultdict(set)
    for v in nodes:
        for w in edges.get(v, ()):
            if owner[v] != owner[w]:
                dag[owner[v]].add(owner[w])
    best: dict[int, list[int]] = {}
    for g in range(len(groups)):  # Tarjan yields groups in reverse topological order
        tails = [best[h] for h in dag[g]]
        best[g] = [g, *max(tails, key=len, default=[])]
    path = max(best.values(), key=len)
    return [
        groups[g][0] if len(groups[g]) == 1 else f"[{len(groups[g])} in a circle]" for g in path
    ]


def report(root: Path, show_cycles: bool) -> None:
    files, every, top = collect(root)
    nodes = sorted(files)
    per_package: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        per_package[package] += 1
        lines[package] += len(path.read_text().splitlines())
    print(f"modules: {len(files)}, lines: {sum(lines.values())}")
    print("modules per package (lines):")
    for package, count in sorted(per_package.items()):
        print(f"  {package:40} {count:4}  ({lines[package]} lines)")
    largest = max(lines, key=lambda p: lines[p])
    print(f"largest package: {largest} ({lines[largest]} lines, {per_package[largest]} modules)")
    for label, edges in (("all", every), ("import-time", top)):
        groups = strongly_connected(nodes, edges)
        circles = [g for g in groups if len(g) > 1]
        chain = longest_chain(nodes, edges, groups)
        print(
            f"[{label}] circles: {len(circles)} "
            f"(modules in them: {sum(len(g) for g in circles)}, sizes: "
            f"{sorted((len(g) for g in circles), reverse=True)})"
        )
        print(f"[{label}] longest import chain: {len(chain)} steps")
        if show_cycles:
            print("   " + " -> ".join(chain))
            for g in circles:
                print("   circle: " + ", ".join(g))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="governance")
    parser.add_argument("--cycles", action="store_true", help="list circles and the chain")
    args = parser.parse_args()
    report(Path(args.root).resolve(), args.cycles)


if __name__ == "__main__":
    main()
