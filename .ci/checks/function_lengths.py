#!/usr/bin/env python3
"""Lists the functions outside tests longer than --max lines (default 60), in src/ and examples/.

A function runs from its `fn` line to the brace that closes its body; unit-test modules
(`#[cfg(test)] mod ...`) are skipped. Exits 1 if any is longer.

    python3 .ci/checks/function_lengths.py [--max 60]
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+\"[^\"]*\"\s+)?fn\s+(\w+)")


def code_only(line, state):
    """The line without comments and string contents; `state` carries a block comment on."""
    out, i = [], 0
    while i < len(line):
        if state["block"]:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out)
            state["block"], i = False, end + 2
            continue
        two = line[i:i + 2]
        if two == "//":
            break
        if two == "/*":
            state["block"], i = True, i + 2
            continue
        c = line[i]
        if c == '"':
            j = i + 1
            while j < len(line) and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            out.append('""')
            i = j + 1
            continue
        if c == "'" and re.match(r"'(\\.|[^\\'])'", line[i:]):
            i += len(re.match(r"'(\\.|[^\\'])'", line[i:]).group(0))
            continue
        out.append(c)
        i += 1
    return "".join(out)


def functions(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    state = {"block": False}
    code = [code_only(line, state) for line in lines]
    found, skip_until, depth = [], None, 0
    i = 0
    while i < len(code):
        line = code[i]
        if skip_until is None and "#[cfg(test)]" in lines[i]:
            # The test module that follows: skipped to its closing brace.
            j = i + 1
            while j < len(code) and not re.match(r"\s*(pub(\(crate\))?\s+)?mod\s+\w+", code[j]):
                j += 1
            if j < len(code):
                end = closing(code, j)
                i = end + 1
                continue
        match = FN.match(line)
        if match and not line.rstrip().endswith(";"):
            end = closing(code, i)
            if end is not None:
                found.append((match.group(7), i + 1, end - i + 1))
        i += 1
    return found


def closing(code, start):
    """The index of the line whose brace closes the first `{` at or after `start`."""
    depth, opened = 0, False
    for j in range(start, len(code)):
        for c in code[j]:
            if c == "{":
                depth, opened = depth + 1, True
            elif c == "}":
                depth -= 1
                if opened and depth == 0:
                    return j
        if not opened and code[j].rstrip().endswith(";"):
            return None
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=60)
    args = parser.parse_args()
    long = []
    for folder in ("src", "examples"):
        for base, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in sorted(names):
                if name.endswith(".rs"):
                    path = os.path.join(base, name)
                    for fn, line, length in functions(path):
                        if length > args.max:
                            long.append((length, os.path.relpath(path, ROOT), line, fn))
    for length, path, line, fn in sorted(long, reverse=True):
        print(f"{path}:{line}: fn {fn} is {length} lines")
    print(f"{len(long)} functions over {args.max} lines")
    sys.exit(1 if long else 0)


if __name__ == "__main__":
    main()
