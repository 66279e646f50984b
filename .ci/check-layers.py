#!/usr/bin/env python3
"""The house's shape, checked from the code (issue #19).

1. Layers: reads every `crate::a::...` path and `use super::...` in src/ and fails when a top-level module
   imports one on its own or a higher line of .ci/layers.txt.
2. Cycles: inside each top-level module (src/bridge/, src/spool/, ...) and among the mosquitto plugin's
   modules, builds the file-to-file import graph and fails on any cycle. A path through a `mod.rs`
   re-export (`crate::bridge::Settle`) counts as an edge to the file that defines the item.
3. Size: a file in src/ over 800 lines needs a module doc saying why (a `//!` line containing
   "This file is long").
4. Threads: `std::thread::spawn` / `thread::Builder` / `thread::scope` only in src/util/worker.rs, in test
   code, and at the sites listed in .ci/thread-exceptions.txt (path and reason).

An import of an item that a module's own mod.rs defines (child to parent) is not an edge: mod.rs
declares its children, so that arrow would always close a loop. Test code is left out: everything from a `#[cfg(test)]` line on, when a test module closes the file (the
house rule), and `//` comments. Exit 1 with one line per finding; 0 and a summary otherwise.
"""
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MAX_LINES = 800
LONG_MARK = "This file is long"
findings = []


def code_of(path):
    """The file's non-test code with comments removed, and its full line count."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = []
    for line in lines:
        if line.strip().startswith("#[cfg(test)]"):
            break
        out.append(re.sub(r"//.*$", "", line))
    return "\n".join(out), len(lines)


def use_paths(code):
    """Every `crate::...`/`super::...`/`self::...` path, with `use a::{b, c::d}` groups expanded."""
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        paths.extend(expand(re.sub(r"\s+", "", m.group(1))))
    for m in re.finditer(r"(?<![:\w])((?:crate|super|self)(?:::\w+)+)", code):
        paths.append(m.group(1))
    return [p for p in paths if p.split("::")[0] in ("crate", "super", "self")]


def expand(tree):
    """`a::{b,c::{d,e}}` -> [a::b, a::c::d, a::c::e]."""
    i = tree.find("{")
    if i < 0:
        return [re.sub(r"\bas\b.*$", "", tree)]
    prefix, body = tree[:i], tree[i + 1 : tree.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    res = []
    for p in parts:
        if p:
            res.extend(expand(prefix + p))
    return res


class Crate:
    """One crate's files as module paths: 'bridge/settle' for src/bridge/settle.rs, 'bridge' for mod.rs."""

    def __init__(self, src):
        self.src = src
        self.files = {}
        for root, _, fs in os.walk(src):
            for f in fs:
                if not f.endswith(".rs"):
                    continue
                p = os.path.join(root, f)
                rel = os.path.relpath(p, src)[:-3]
                if rel.endswith("/mod"):
                    rel = rel[:-4]
                if rel in ("lib", "main"):
                    rel = ""
                self.files[rel] = p
        self.code = {m: code_of(p) for m, p in self.files.items()}
        # Re-exports of each module file: item name -> the submodule path that holds it.
        self.reexports = defaultdict(dict)
        for m, (code, _) in self.code.items():
            for um in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", code):
                for p in expand(re.sub(r"\s+", "", um.group(1))):
                    segs = p.split("::")
                    if segs[0] == "self":
                        segs = segs[1:]
                    if len(segs) >= 2 and segs[0] not in ("crate", "super", "std", "core"):
                        name = re.split(r"\bas\b", segs[-1])[-1]
                        sub = (m + "/" if m else "") + segs[0]
                        if sub in self.files:
                            self.reexports[m][name] = sub

    def resolve(self, here, path):
        """The file a path points into, or None for the file itself or outside the crate."""
        segs = path.split("::")
        cur = here.split("/") if here else []
        if segs[0] == "crate":
            cur, segs = [], segs[1:]
        elif segs[0] == "self":
            segs = segs[1:]
        while segs and segs[0] == "super":
            cur, segs = cur[:-1], segs[1:]
        # Longest existing module prefix, then one step through a re-export.
        node = "/".join(cur)
        for s in segs:
            nxt = (node + "/" if node else "") + s
            if nxt in self.files:
                node = nxt
            else:
                node = self.reexports.get(node, {}).get(s, node)
                break
        return node if node in self.files else None

    def edges(self):
        out = defaultdict(set)
        for m, (code, _) in self.code.items():
            for p in use_paths(code):
                t = self.resolve(m, p)
                if t is not None and t != m and not m.startswith(t + "/") and t != "":
                    out[m].add(t)
        return out


def cycles(nodes, edges):
    """Strongly connected components with more than one node."""
    index, low, stack, on, res, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in nodes:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                res.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return res


def check_crate(name, src, layers):
    crate = Crate(src)
    edges = crate.edges()
    top_edges = defaultdict(set)
    for a, ts in edges.items():
        for b in ts:
            ta, tb = a.split("/")[0], b.split("/")[0]
            if ta != tb and ta:
                top_edges[ta].add(tb)
    if layers:
        level = {m: i for i, line in enumerate(layers) for m in line}
        for a in sorted(top_edges):
            for b in sorted(top_edges[a]):
                if a not in level or b not in level:
                    findings.append(f"{name}: module {a} or {b} is not in .ci/layers.txt")
                elif level[b] >= level[a]:
                    why = "a peer" if level[b] == level[a] else "a higher layer"
                    via = sorted(x for x in edges if x.split("/")[0] == a and any(t.split("/")[0] == b for t in edges[x]))
                    findings.append(f"{name}: {a} imports {b}, {why} (in {', '.join(via)})")
    # Cycles among the files of each top-level module (for the plugin: among all its modules).
    groups = defaultdict(set)
    for m in crate.files:
        groups[m.split("/")[0] if layers else ""].add(m)
    for g, nodes in sorted(groups.items()):
        for comp in cycles(nodes, edges):
            findings.append(f"{name}: import cycle among {', '.join(comp)}")
    return crate, edges


def main():
    with open(os.path.join(ROOT, ".ci/layers.txt")) as f:
        layers = [l.split() for l in f if l.strip() and not l.startswith("#")]
    lib, lib_edges = check_crate("library", os.path.join(ROOT, "src"), layers)
    plugin, plugin_edges = check_crate("plugin", os.path.join(ROOT, "mosquitto-plugin/src"), None)

    long_files = []
    for m, p in sorted(lib.files.items()):
        with open(p, encoding="utf-8") as f:
            text = f.read()
        n = text.count("\n")
        if n > MAX_LINES:
            docs = "\n".join(l for l in text.split("\n") if l.startswith("//!"))
            if LONG_MARK not in docs:
                findings.append(f"{os.path.relpath(p, ROOT)}: {n} lines, and no module doc line saying '{LONG_MARK}' and why")
            else:
                long_files.append(f"{os.path.relpath(p, ROOT)} ({n})")

    allowed = {}
    exc = os.path.join(ROOT, ".ci/thread-exceptions.txt")
    if os.path.exists(exc):
        with open(exc) as f:
            for l in f:
                if l.strip() and not l.startswith("#"):
                    path, _, why = l.strip().partition(" ")
                    allowed[path] = why.strip()
    spawns = []
    for crate in (lib, plugin):
        for m, p in sorted(crate.files.items()):
            rel = os.path.relpath(p, ROOT)
            if rel == "src/util/worker.rs":
                continue
            code, _ = crate.code[m]
            if re.search(r"thread::(spawn|Builder|scope)\b", code):
                if rel in allowed:
                    spawns.append(rel)
                else:
                    findings.append(f"{rel}: starts a thread outside util::worker and is not in .ci/thread-exceptions.txt")
    for rel in allowed:
        if not os.path.exists(os.path.join(ROOT, rel)):
            findings.append(f".ci/thread-exceptions.txt names {rel}, which does not exist")

    if findings:
        for l in findings:
            print("check-layers:", l)
        sys.exit(1)
    n_edges = sum(len(v) for v in lib_edges.values()) + sum(len(v) for v in plugin_edges.values())
    print(
        f"check-layers: ok: {len(lib.files)} library and {len(plugin.files)} plugin files, {n_edges} file imports, "
        f"no cycle, no upward import; long files with a stated reason: {', '.join(long_files) or 'none'}; "
        f"thread exceptions: {', '.join(spawns) or 'none'}"
    )


if __name__ == "__main__":
    main()
