#!/usr/bin/env python3
"""Checks the layering of src/: each module imports only from the layers below it, the two
commands (`inspect`, `train`) not from each other, and no two files from each other.

The layers, lowest first, are LAYERS below; a file's layer is its top-level module under src/
(src/lib.rs and src/main.rs sit on top). An import is any `crate::`, `super::` or `self::`
path in the code (not in comments), resolved to the file of the module it names. Prints each
breach; exits 1 if there is one.

    python3 .ci/checks/layers.py
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src")

# Lowest first; modules on one line are siblings that must not import each other.
LAYERS = [
    ["artifacts", "simd"],
    ["metrics"],
    ["data"],
    ["fused"],
    ["model"],
    ["optim"],
    ["render"],
    ["backend"],
    ["config"],
    ["run_dir"],
    ["assess"],
    ["inspect", "train"],
    ["cli"],
    ["error"],
]


def modules():
    """Every module file: its path as a list of names (`data/mod.rs` -> ['data'])."""
    found = {}
    for base, _, names in os.walk(SRC):
        for name in names:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(base, name), SRC)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            found[tuple(rel)] = os.path.join(base, name)
    return found


def code(path):
    """The file's code without comments, strings and unit-test modules (which may use any
    layer: they test from the outside)."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    while match := re.search(r"#\[cfg\((test|all\(test\b[^\]]*)\)\]", text):
        start = match.start()
        brace = text.find("{", start)
        depth, i = 1, brace + 1
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        text = text[:start] + text[i:]
    return text


def references(text):
    """Each path after `crate::`, `super::` or `self::`, with use-groups expanded."""
    paths = []
    for match in re.finditer(r"\b(crate|super|self)((?:::\w+)*)(::\{)?", text):
        root, rest = match.group(1), match.group(2).split("::")[1:]
        if not rest and not match.group(3):
            continue
        if match.group(3):
            # `a::{b, c::d}`: the group's first names, one level deep, enough for modules.
            depth, i = 1, match.end()
            while i < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            inner = text[match.end():i - 1]
            for part in re.split(r",(?![^{]*\})", inner):
                name = re.match(r"\s*(\w+)", part)
                if name and name.group(1) != "self":
                    paths.append((root, rest + [name.group(1)]))
            paths.append((root, rest))
        else:
            paths.append((root, rest))
    return paths


def resolve(module, root, rest, known):
    """The module (a key of `known`) that `root::rest` from `module` names, if any."""
    if root == "crate":
        base = []
    elif root == "self":
        base = list(module)
    else:
        base = list(module[:-1])
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    full = base + rest
    for length in range(len(full), -1, -1):
        if tuple(full[:length]) in known:
            return tuple(full[:length])
    return None


def layer(module):
    if not module:
        return len(LAYERS)
    for index, names in enumerate(LAYERS):
        if module[0] in names:
            return index
    return None


def main():
    known = modules()
    imports = {}
    for module, path in known.items():
        text = code(path)
        found = [resolve(module, root, rest, known) for root, rest in references(text)]
        # A module's own children by their bare names (`idx::read_images`, `pub use loader::*`).
        for match in re.finditer(r"(?<![\w:])(\w+)::", text):
            child = tuple(module) + (match.group(1),)
            if child in known:
                found.append(child)
        # The crate's root holds every module: its own imports are not checked.
        imports[module] = {t for t in found if t is not None and t != module and module}
    breaches = []
    for module, targets in sorted(imports.items()):
        name = "/".join(module)
        for target in sorted(targets):
            where = "/".join(target) or "the crate's root (lib.rs)"
            if module in imports.get(target, set()) and module < target:
                breaches.append(f"{name} and {where} import each other")
            if target[:len(module)] == module or module[:len(target)] == target and target:
                # A module and its own children or parent: one layer.
                continue
            mine, theirs = layer(module), layer(target)
            if mine is None or theirs is None:
                breaches.append(f"{name} -> {where}: a module not in LAYERS")
            elif theirs > mine:
                breaches.append(f"{name} imports {where}, a layer above it")
            elif theirs == mine and module[0] != target[0]:
                breaches.append(f"{name} imports {where}, a sibling")
    for breach in breaches:
        print(breach)
    print(f"{len(breaches)} breaches of the layering in {len(known)} files")
    sys.exit(1 if breaches else 0)


if __name__ == "__main__":
    main()
