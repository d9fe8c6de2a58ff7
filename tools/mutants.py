#!/usr/bin/env python3
"""Mutation testing of torchcount's own code: does the suite fail when one operator, constant or
statement of a file changes? A survivor is a missing test, an equivalent mutant, or a bug. Dev tooling,
not part of the package; it needs pytest-cov (``.venv/bin/python -m pip install pytest-cov``).

  1. The map of which tests run each line, once per revision (the whole suite with coverage contexts,
     about 12 minutes on 2 cores):
       .venv/bin/python -m pytest -q -p no:cacheprovider --cov=torchcount --cov-context=test --cov-report= tests
       .venv/bin/python tools/mutants.py covmap .coverage .mutants/covmap.json
  2. The mutants of a file, numbered (the numbers hold for one text of the file):
       python3 tools/mutants.py list torchcount/measure/bound.py [--lines A-B] [--func NAME] | grep -v 'string XX'
       python3 tools/mutants.py show torchcount/measure/bound.py 12
  3. Run them; best in a clone of its own, since the file is rewritten while they run (and put back):
       .venv/bin/python tools/mutants.py run torchcount/measure/bound.py --ids 1-40,55 --out .mutants/bound.jsonl
     Each mutant runs the tests that cover its line, at most --max-tests of them (default 40: those of
     test files named after the module first, the ``_exact`` ones first among them), stopping at the
     first failure: killed when pytest fails or times out. A survivor of a capped run ("capped": true)
     must be rerun with --max-tests 100000, or with the module's test files (--max-tests 0 --extra
     tests/test_x.py …), before it counts: many fall to a test past the cap. ``uncovered``: no test runs
     the line (a line run only at import, such as a default argument, reads as uncovered).

Mutants replace the source of one AST node: comparisons flipped, and/or swapped or an operand dropped,
``not`` dropped, arithmetic swapped, int constants +1 or 0, floats doubled, booleans negated, strings
wrapped in "XX" (wording; left out with the grep above), an ``if`` negated, ``return None``, a call
statement, break/continue or augmented assignment dropped. A mutant that hangs is killed at --timeout
(use 90 s for measure/timing.py, two of whose mutants loop forever).
"""
import argparse
import ast
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

CMP_SWAP = {ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq], ast.Lt: [ast.LtE, ast.GtE], ast.LtE: [ast.Lt, ast.Gt],
            ast.Gt: [ast.GtE, ast.LtE], ast.GtE: [ast.Gt, ast.Lt], ast.In: [ast.NotIn], ast.NotIn: [ast.In],
            ast.Is: [ast.IsNot], ast.IsNot: [ast.Is]}
BIN_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.Div: ast.Mult,
            ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.BitOr: ast.BitAnd,
            ast.BitAnd: ast.BitOr, ast.LShift: ast.RShift, ast.RShift: ast.LShift}


def _docstring_ids(tree):
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                ids.add(id(body[0].value))
                ids.add(id(body[0]))
    return ids


def _in_fstring_ids(tree):
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for sub in ast.walk(node):
                if sub is not node:
                    ids.add(id(sub))
    return ids


def _funcs(tree):
    """node id → enclosing function qualified name."""
    owner = {}

    def visit(node, name):
        for child in ast.iter_child_nodes(node):
            n = name
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                n = f"{name}.{child.name}" if name else child.name
            owner[id(child)] = n
            visit(child, n)
    visit(tree, "")
    return owner


def _copy(node):
    return ast.parse(ast.unparse(node), mode="eval").body if isinstance(node, ast.expr) else \
        ast.parse(ast.unparse(node)).body[0]


def mutants(text):
    """[(line, end_line, col, end_col, replacement, description, func)] in a stable order."""
    tree = ast.parse(text)
    docs, fstr, owner = _docstring_ids(tree), _in_fstring_ids(tree), _funcs(tree)
    stmt_line = {}  # node id → the line of the statement holding it (coverage records statement lines)

    def mark(node, line):
        for child in ast.iter_child_nodes(node):
            here = child.lineno if isinstance(child, ast.stmt) else line
            stmt_line[id(child)] = here
            mark(child, here)
    mark(tree, 1)
    out = []

    def add(node, new_src, desc, paren=True):
        if id(node) in fstr:
            return
        src = f"({new_src})" if paren else new_src
        out.append((node.lineno, node.end_lineno, node.col_offset, node.end_col_offset, src, desc,
                    owner.get(id(node), ""), stmt_line.get(id(node), node.lineno)))

    for node in ast.walk(tree):
        if id(node) in docs or not hasattr(node, "lineno"):
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                for new in CMP_SWAP.get(type(op), []):
                    m = _copy(node)
                    m.ops[i] = new()
                    add(node, ast.unparse(m), f"{type(op).__name__}->{new.__name__}")
        elif isinstance(node, ast.BoolOp):
            m = _copy(node)
            m.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            add(node, ast.unparse(m), f"{type(node.op).__name__}->{type(m.op).__name__}")
            for i in range(len(node.values)):  # drop one operand
                if len(node.values) > 1:
                    m = _copy(node)
                    del m.values[i]
                    add(node, ast.unparse(m) if len(m.values) > 1 else ast.unparse(m.values[0]),
                        f"drop operand {i} of {type(node.op).__name__}")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            add(node, ast.unparse(node.operand), "drop not")
        elif isinstance(node, ast.BinOp) and type(node.op) in BIN_SWAP:
            m = _copy(node)
            m.op = BIN_SWAP[type(node.op)]()
            add(node, ast.unparse(m), f"{type(node.op).__name__}->{type(m.op).__name__}")
        elif isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                add(node, repr(not v), f"{v}->{not v}")
            elif isinstance(v, int):
                add(node, repr(v + 1), f"{v}->{v + 1}")
                if v != 0:
                    add(node, "0", f"{v}->0")
            elif isinstance(v, float):
                add(node, repr(v * 2 if v else 1.0), f"{v}->{v * 2 if v else 1.0}")
            elif isinstance(v, str) and id(node) not in docs:
                add(node, repr("XX" + v + "XX"), "string XX", paren=False)
        elif isinstance(node, ast.If):
            t = node.test
            add(t, "not (" + ast.unparse(t) + ")", "negate if")
        elif isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            add(node, "return None", "return None", paren=False)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            add(node, "pass", "drop call statement", paren=False)
        elif isinstance(node, (ast.Break, ast.Continue)):
            add(node, "pass", f"drop {type(node).__name__.lower()}", paren=False)
        elif isinstance(node, ast.AugAssign):
            add(node, "pass", "drop augmented assignment", paren=False)
    out.sort(key=lambda m: (m[0], m[2], m[1], m[3], m[5], m[4]))
    return out


def apply(text, m):
    line, end_line, col, end_col, src = m[:5]
    lines = text.splitlines(keepends=True)
    # columns are UTF-8 byte offsets
    start = sum(len(l.encode()) for l in lines[:line - 1]) + col
    end = sum(len(l.encode()) for l in lines[:end_line - 1]) + end_col
    b = text.encode()
    return (b[:start] + src.encode() + b[end:]).decode()


def select(ms, args):
    idx = list(range(1, len(ms) + 1))
    if getattr(args, "ids", None):
        chosen = set()
        for part in args.ids.split(","):
            a, _, b = part.partition("-")
            chosen.update(range(int(a), int(b or a) + 1))
        idx = [i for i in idx if i in chosen]
    if getattr(args, "lines", None):
        a, _, b = args.lines.partition("-")
        idx = [i for i in idx if int(a) <= ms[i - 1][0] <= int(b or a)]
    if getattr(args, "func", None):
        idx = [i for i in idx if ms[i - 1][6] == args.func or ms[i - 1][6].startswith(args.func + ".")]
    return idx


def covmap(cov_file, out):
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    con = sqlite3.connect(cov_file)
    files = dict(con.execute("select id, path from file"))
    contexts = dict(con.execute("select id, context from context"))
    result = {}
    from coverage.numbits import numbits_to_nums
    for file_id, context_id, numbits in con.execute("select file_id, context_id, numbits from line_bits"):
        path = files[file_id]
        rel = path[path.index("torchcount/"):] if "torchcount/" in path else path
        ctx = contexts[context_id]
        if not ctx or not ctx.endswith("|run"):
            continue
        test = ctx[:-4]
        for n in numbits_to_nums(numbits):
            result.setdefault(rel, {}).setdefault(str(n), []).append(test)
    json.dump(result, open(out, "w"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("file")
    ap.add_argument("arg", nargs="?")
    ap.add_argument("--ids")
    ap.add_argument("--lines")
    ap.add_argument("--func")
    ap.add_argument("--cov", default=".mutants/covmap.json")
    ap.add_argument("--out", default=".mutants/results.jsonl")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--extra", action="append", default=[])
    ap.add_argument("--max-tests", type=int, default=40)
    args = ap.parse_args()
    if args.cmd == "covmap":
        covmap(args.file, args.arg)
        return
    text = open(args.file).read()
    ms = mutants(text)
    if args.cmd == "list":
        for i in select(ms, args):
            m = ms[i - 1]
            print(f"{i}\tL{m[0]}\t{m[6]}\t{m[5]}\t{m[4][:80]!r}")
        return
    if args.cmd == "show":
        i = int(args.arg)
        new = apply(text, ms[i - 1])
        import difflib
        sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True), args.file, f"mutant {i}", n=1))
        return
    if args.cmd == "run":
        cov = json.load(open(args.cov)) if os.path.exists(args.cov) else {}
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        lines = cov.get(args.file, {})
        pyc_dir = os.path.join(os.path.dirname(args.file), "__pycache__")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        try:
            for i in select(ms, args):
                m = ms[i - 1]
                tests = set()
                for ln in [m[7], *range(m[0], m[1] + 1)]:
                    tests.update(lines.get(str(ln), []))
                tests = sorted(tests)
                new = apply(text, ms[i - 1])
                try:
                    compile(new, args.file, "exec")
                except SyntaxError as e:
                    rec = {"id": i, "line": m[0], "func": m[6], "desc": m[5], "status": "invalid", "why": str(e)}
                    open(args.out, "a").write(json.dumps(rec) + "\n")
                    continue
                if not tests and not args.extra:
                    rec = {"id": i, "line": m[0], "func": m[6], "desc": m[5], "status": "uncovered"}
                    open(args.out, "a").write(json.dumps(rec) + "\n")
                    print(i, "uncovered", flush=True)
                    continue
                # a capped run: the tests of files named after the mutated module first (test_measure*.py for
                # measure/...), the "_exact" files first among them; a survivor of a capped run must be
                # rechecked with --max-tests 100000 (all covering tests) before it counts as a survivor
                capped = len(tests) > args.max_tests
                if capped:
                    stem = os.path.basename(os.path.dirname(args.file)) if args.file.endswith("__init__.py") \
                        else os.path.basename(args.file)[:-3]
                    parent = os.path.basename(os.path.dirname(args.file))  # (measure/hooks.py: test_measure*)

                    def rank(t):
                        f = t.split("::")[0]
                        return (stem not in f, parent not in f, "_exact" not in f, t)
                    tests = sorted(tests, key=rank)[:args.max_tests]
                open(args.file, "w").write(new)
                for f in os.listdir(pyc_dir) if os.path.isdir(pyc_dir) else []:
                    if f.startswith(os.path.basename(args.file)[:-3] + "."):
                        os.remove(os.path.join(pyc_dir, f))
                t0 = time.time()
                try:
                    p = subprocess.run([".venv/bin/python", "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                        "-p", "no:randomly", "--no-header", "-o", "addopts=",
                                        *tests, *args.extra], capture_output=True, text=True, timeout=args.timeout, env=env)
                    rc = p.returncode
                    tail = (p.stdout + p.stderr)[-600:]
                except subprocess.TimeoutExpired:
                    rc, tail = "timeout", ""
                status = "survived" if rc == 0 else ("killed" if rc in (1, 2, "timeout") else f"error{rc}")
                rec = {"id": i, "line": m[0], "func": m[6], "desc": m[5], "status": status,
                       "tests": len(tests), "capped": capped, "secs": round(time.time() - t0, 1)}
                if status != "killed":
                    rec["tail"] = tail[-300:]
                open(args.out, "a").write(json.dumps(rec) + "\n")
                print(i, status, rec["secs"], flush=True)
        finally:
            open(args.file, "w").write(text)


if __name__ == "__main__":
    main()
