#!/usr/bin/env python3
"""Fails when the modules of a crate import each other in a cycle (ARCHITECTURE.md: "no import
cycle between modules"). A module is a top-level module of the crate's `src/` (`pipeline/` with its
submodules is one); an import is any `crate::<module>` path outside comments and `mod tests`.
Generated code and `src/bin/` are left out. Usage: scripts/module_cycles.py <crate dir>..."""
import os
import re
import sys


def edges(crate):
    src = os.path.join(crate, "src")
    graph, why = {}, {}
    for root, _, files in os.walk(src):
        if "generated" in root.split(os.sep):
            continue
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            parts = os.path.relpath(path, src)[:-3].split(os.sep)
            if parts[0] == "bin":
                continue
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            top = parts[0] if parts else "lib"
            text = open(path, encoding="utf-8").read()
            text = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)
            code = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
            # `use crate::{a::X, b}` groups: their first segments.
            for group in re.findall(r"crate::\{([^;]*?)\};", code, flags=re.S):
                depth, first = 0, True
                for tok in re.findall(r"\w+|[{},]", group):
                    if tok == "{":
                        depth += 1
                    elif tok == "}":
                        depth -= 1
                    elif tok == ",":
                        first = depth == 0
                    elif first and depth == 0:
                        first = False
                        code += f"\ncrate::{tok}"
            for line in code.split("\n"):
                for dep in re.findall(r"crate::(\w+)", line):
                    if dep != top:
                        graph.setdefault(top, set()).add(dep)
                        why.setdefault((top, dep), f"{path}: {line.strip()[:100]}")
    return graph, why


def cycles(graph):
    found, seen = [], set()
    def walk(node, stack):
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cyc = stack[stack.index(nxt):]
                if frozenset(cyc) not in seen:
                    seen.add(frozenset(cyc))
                    found.append(cyc)
            elif len(stack) < 8:
                walk(nxt, stack + [nxt])
    for node in sorted(graph):
        walk(node, [node])
    return found


def main():
    bad = 0
    for crate in sys.argv[1:]:
        graph, why = edges(crate)
        for cyc in cycles(graph):
            bad += 1
            print(f"{crate}: import cycle {' -> '.join(cyc + [cyc[0]])}")
            for a, b in zip(cyc, cyc[1:] + [cyc[0]]):
                print(f"    {a} -> {b}: {why[(a, b)]}")
    if bad:
        sys.exit(1)
    print(f"module cycles: none in {', '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
