#!/usr/bin/env python3
"""Checks that every path of this repository named in its comments and docs exists: the
`src/...`, `tests/...`, `docs/...`, `bench/...`, `examples/...`, `config/...`, `vendor/...`,
`fuzz/...` and `.ci/...` paths in the Markdown files, Cargo.toml, the Rust sources and the
scripts, and the relative links of the Markdown files. Prints each missing one; exits 1 if any.

    python3 .ci/checks/paths.py
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOP = r"(?:src|tests|docs|bench|examples|config|vendor|fuzz|\.ci)"
PATH = re.compile(r"(?<![\w./-])(" + TOP + r"/[\w./-]*[\w/])")
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")
SKIP = {"target", ".git", "vendor", "fuzz-regressions", "seeds"}


def files():
    for base, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith(".") or d == ".ci"]
        for name in names:
            if name.endswith((".md", ".rs", ".py", ".toml")) or name == "run":
                yield os.path.join(base, name)


def main():
    missing = []
    for path in sorted(files()):
        rel = os.path.relpath(path, ROOT)
        text = open(path, encoding="utf-8", errors="replace").read()
        for match in PATH.finditer(text):
            named = match.group(1).rstrip(".")
            after = text[match.end():match.end() + 2]
            # A glob (`src/model/**/*.rs`, `docs/exact-*.png`) or a pattern (`model-N.mpk`).
            if any(c in after for c in "*{<") or "*" in named or named.endswith("-N"):
                continue
            if not os.path.exists(os.path.join(ROOT, named)):
                line = text[:match.start()].count("\n") + 1
                missing.append(f"{rel}:{line}: '{named}' does not exist")
        if rel.endswith(".md"):
            for match in LINK.finditer(text):
                target = match.group(1)
                if re.match(r"[a-z]+:", target):
                    continue
                if not os.path.exists(os.path.join(os.path.dirname(path), target)):
                    line = text[:match.start()].count("\n") + 1
                    missing.append(f"{rel}:{line}: link '{target}' does not exist")
    for line in missing:
        print(line)
    print(f"{len(missing)} paths named that do not exist")
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
