#!/usr/bin/env python3
"""check-layers.py SOURCE_ROOT

The tree's layers, as DESIGN.md draws them:
- lib/ and tools/ are graphs without cycles: a module (x.c with its x.h)
  includes the headers of the modules it calls, and no chain of includes
  leads back to it. A header-only module (lib/state.h) is a node like the
  others.
- Product code never includes test code: nothing under lib/, daemon/,
  tools/, examples/ or bench/ includes a header of tests/, and only
  examples/, bench/ and tests/ use the test kit in testing/.
- The daemon, tools, examples and benchmarks see the public header only,
  never a header of lib/.
"""
import os
import re
import sys

root = sys.argv[1]
include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
failures = []


def includes(path):
    with open(path, encoding="utf-8") as f:
        return include.findall(f.read())


def module_graph(top):
    """The module graph of directory `top` (lib, tools): a module is x.c
    with its x.h, or either alone; an include of y.h from x.c or x.h, y.h
    in the same directory, is an edge x -> y. Each cycle found goes to
    failures as a chain; returns the number of modules."""
    directory = os.path.join(root, top)
    edges = {}
    for name in sorted(os.listdir(directory)):
        stem, ext = os.path.splitext(name)
        if ext not in (".c", ".h"):
            continue
        deps = edges.setdefault(stem, set())
        for inc in includes(os.path.join(directory, name)):
            dep = os.path.splitext(os.path.basename(inc))[0]
            if dep != stem and \
                    os.path.exists(os.path.join(directory, dep + ".h")):
                deps.add(dep)

    state = {}

    def visit(node, path):
        if state.get(node) == "done":
            return
        if state.get(node) == "open":
            cycle = path[path.index(node):] + [node]
            failures.append(f"{top}/ has a cycle: " + " -> ".join(cycle))
            return
        state[node] = "open"
        for dep in sorted(edges.get(node, ())):
            visit(dep, path + [node])
        state[node] = "done"

    for node in sorted(edges):
        visit(node, [])
    return len(edges)


modules = {top: module_graph(top) for top in ("lib", "tools")}

# Product code and the test kit.
kit = set(os.listdir(os.path.join(root, "testing")))
internals = set(n for n in os.listdir(os.path.join(root, "lib"))
                if n.endswith(".h"))
tests_headers = set()
for dirpath, _, files in os.walk(os.path.join(root, "tests")):
    tests_headers.update(f for f in files if f.endswith(".h"))
for top in ("lib", "daemon", "tools", "examples", "bench", "testing"):
    for dirpath, _, files in os.walk(os.path.join(root, top)):
        for name in files:
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            for inc in includes(path):
                base = os.path.basename(inc)
                if "tests/" in inc or (base in tests_headers and
                                       not os.path.exists(os.path.join(dirpath, base))):
                    failures.append(f"{rel} includes test code: {inc}")
                if top in ("lib", "daemon", "tools") and base in kit and \
                        not os.path.exists(os.path.join(dirpath, base)):
                    failures.append(f"{rel} (product code) uses the test kit: {inc}")
                if top in ("daemon", "tools", "examples", "bench") and \
                        base in internals and \
                        not os.path.exists(os.path.join(dirpath, base)):
                    failures.append(f"{rel} reaches inside lib/: {inc} "
                                    "(the public header is <viommu/viommu.h>)")

for f in failures:
    print(f)
if failures:
    sys.exit(1)
print(", ".join(f"{top}/: {n} modules" for top, n in modules.items()) +
      ", no cycle; no product code includes test code")
