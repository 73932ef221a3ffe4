#!/usr/bin/env python3
"""check-layers.py SOURCE_ROOT

The tree's layers, as the README's Layout section draws them:
- lib/ (with lib/host/ and lib/hostsys/), daemon/ and tools/ are graphs
  without cycles: a module (x.c with its x.h, named by its directory:
  host/vfio) includes the headers of the modules it calls, and no chain of
  includes leads back to it. A header-only module (lib/state.h) is a node
  like the others.
- lib/hostsys/ includes nothing of lib/ outside itself: viommuctl links it
  without the rest of the library.
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


def module_graph(top, subs=("",)):
    """The module graph of directory `top` and its subdirectories `subs`:
    a module is x.c with its x.h, or either alone, named sub/x; an include
    of a header of the tree (relative to the including file, as the
    compiler first looks) is an edge. Each cycle found goes to failures as
    a chain; returns the number of modules."""
    directory = os.path.abspath(os.path.join(root, top))
    edges = {}
    for sub in subs:
        for name in sorted(os.listdir(os.path.join(directory, sub))):
            stem, ext = os.path.splitext(name)
            if ext not in (".c", ".h"):
                continue
            node = os.path.join(sub, stem)
            deps = edges.setdefault(node, set())
            for inc in includes(os.path.join(directory, sub, name)):
                header = os.path.normpath(os.path.join(directory, sub, inc))
                if not os.path.isfile(header) or \
                        os.path.commonpath([directory, header]) != directory:
                    continue  # a system or public header
                dep = os.path.splitext(os.path.relpath(header, directory))[0]
                if sub == "hostsys" and not dep.startswith("hostsys/"):
                    failures.append(f"{top}/{node}{ext} (hostsys) includes "
                                    f"{top}/{dep}.h")
                if dep != node:
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


modules = {"lib": module_graph("lib", ("", "host", "hostsys")),
           "daemon": module_graph("daemon"), "tools": module_graph("tools")}

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
