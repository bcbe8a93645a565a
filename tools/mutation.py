"""A small AST mutation tester for the safety-critical modules (masking, outbox, limits, validation).

Why not mutmut: the import package ``insightconnect_plugin_runtime`` is assembled from several
distributions installed editable from their own ``src/`` trees, and many tests start real gunicorn
or CLI subprocesses that import the module from disk. mutmut copies the tree into ``mutants/`` and
switches mutants through an environment variable inside the test process, which neither the
namespace layout nor the subprocesses see. Mutating the file in place, one mutant at a time, is
slower but exercises exactly what production runs, subprocesses included.

Usage (from the repository root, in a hatch environment's Python)::

    python tools/mutation.py \\
        --module packages/runtime-core/src/insightconnect_plugin_runtime/_masking.py \\
        --tests packages/runtime-core/tests/test_masking.py \\
        [--functions mask_text,Masker.mask] [--pytest-args="-k mask"] [--max 400] [--json out.json]

Every mutant is written over the module, the tests run with ``pytest -x``, and the original bytes
are restored afterwards (also on Ctrl-C). A mutant is *killed* when the tests fail, error or time
out; it *survives* when they pass. Survivors are listed with their line so that an equivalent mutant
can be told from a missing assertion. The unmutated baseline must pass first.

Mutation operators: comparison swaps (``==``/``!=``, ``<``/``<=``, ``>``/``>=``, ``in``/``not in``,
``is``/``is not``), ``and``/``or``, dropping ``not``, arithmetic swaps (``+``/``-``, ``*``/``//``),
``True``/``False``, integer constants ``n -> n + 1``, non-empty string constants (docstrings excluded)
replaced, ``return x -> return None``, an expression statement (a call) replaced by ``pass``,
``break``/``continue``, and an ``if``/``while`` condition negated.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

_COMPARE_SWAPS: dict[type, type] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BINOP_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
}


@dataclass(frozen=True)
class Mutant:
    """One change to one node: ``index`` is its position in the module's walk order."""

    index: int
    line: int
    kind: str
    function: str


@dataclass
class Outcome:
    mutant: Mutant
    killed: bool
    reason: str
    seconds: float


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings: mutating them tells nothing."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    found.add(id(body[0].value))
    return found


def _enclosing_names(tree: ast.AST) -> dict[int, str]:
    """Map every node id to its qualified enclosing function name (``Class.method``), or ``""``."""
    names: dict[int, str] = {}

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            child_scope = scope
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                child_scope = f"{scope}.{child.name}" if scope else child.name
            names[id(child)] = child_scope
            visit(child, child_scope)

    visit(tree, "")
    return names


def _mutation_kinds(node: ast.AST, docstrings: set[int]) -> list[str]:
    """The mutations that apply to ``node``, each a short label."""
    kinds: list[str] = []
    if isinstance(node, ast.Compare):
        kinds += [f"compare[{i}]" for i, op in enumerate(node.ops) if type(op) in _COMPARE_SWAPS]
    elif isinstance(node, ast.BoolOp):
        kinds.append("boolop")
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        kinds.append("drop-not")
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
        kinds.append("binop")
    elif isinstance(node, ast.Constant) and id(node) not in docstrings:
        value = node.value
        if isinstance(value, bool):
            kinds.append("bool")
        elif isinstance(value, int):
            kinds.append("int+1")
        elif isinstance(value, str) and value:
            kinds.append("string")
    elif isinstance(node, ast.Return) and node.value is not None:
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            kinds.append("return-none")
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        kinds.append("drop-call")
    elif isinstance(node, ast.Break | ast.Continue):
        kinds.append("break-continue")
    elif isinstance(node, ast.If | ast.While):
        kinds.append("negate-condition")
    return kinds


def _apply(node: ast.AST, kind: str) -> ast.AST:
    """Return the mutated replacement for ``node`` (a deep copy; the tree is not touched)."""
    new = copy.deepcopy(node)
    if kind.startswith("compare["):
        i = int(kind[len("compare[") : -1])
        new.ops[i] = _COMPARE_SWAPS[type(new.ops[i])]()
    elif kind == "boolop":
        new.op = ast.Or() if isinstance(new.op, ast.And) else ast.And()
    elif kind == "drop-not":
        return new.operand
    elif kind == "binop":
        new.op = _BINOP_SWAPS[type(new.op)]()
    elif kind == "bool":
        new.value = not new.value
    elif kind == "int+1":
        new.value = new.value + 1
    elif kind == "string":
        new.value = "\x00mutated\x00" + new.value[::-1]
    elif kind == "return-none":
        new.value = ast.Constant(value=None)
    elif kind == "drop-call":
        return ast.Pass()
    elif kind == "break-continue":
        return ast.Continue() if isinstance(new, ast.Break) else ast.Break()
    elif kind == "negate-condition":
        new.test = ast.UnaryOp(op=ast.Not(), operand=new.test)
    return new


def _sites(tree: ast.AST, functions: set[str] | None) -> Iterator[tuple[ast.AST, str, str]]:
    """Every (node, mutation kind, enclosing function) in walk order: the one order both the listing
    and the mutating pass share, so a mutant's index names the same change in both."""
    docstrings = _docstring_nodes(tree)
    scopes = _enclosing_names(tree)
    in_fstrings = _inside_fstrings(tree)
    for node in ast.walk(tree):
        scope = scopes.get(id(node), "")
        if functions is not None and not any(scope == f or scope.startswith(f + ".") for f in functions):
            continue
        if isinstance(node, ast.Constant) and id(node) in in_fstrings:
            continue
        for kind in _mutation_kinds(node, docstrings):
            yield node, kind, scope


def enumerate_mutants(source: str, functions: set[str] | None) -> list[Mutant]:
    sites = _sites(ast.parse(source), functions)
    return [Mutant(i, getattr(node, "lineno", 0), kind, scope) for i, (node, kind, scope) in enumerate(sites)]


def _inside_fstrings(tree: ast.AST) -> set[int]:
    """ids of every node inside an f-string: a replaced string constant there can carry a backslash or
    a quote that Python 3.11 refuses inside an f-string expression."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for inner in ast.walk(node)
        if inner is not node
    }


def mutate_source(source: str, mutant: Mutant, functions: set[str] | None) -> str:
    """The module text with exactly ``mutant`` applied (same walk order as ``enumerate_mutants``)."""
    tree = ast.parse(source)
    for index, (node, kind, _scope) in enumerate(_sites(tree, functions)):
        if index == mutant.index:
            old, new = node, _apply(node, kind)
            break
    else:
        raise LookupError(f"mutant {mutant.index} not found")

    class Swap(ast.NodeTransformer):
        def generic_visit(self, node: ast.AST) -> ast.AST:
            if node is old:
                return new
            return super().generic_visit(node)

    mutated = Swap().visit(tree)
    ast.fix_missing_locations(mutated)
    return ast.unparse(mutated)


def _run_tests(python: str, tests: list[str], timeout: float, extra: list[str]) -> tuple[bool, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    cmd = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--import-mode=importlib"]
    try:
        proc = subprocess.run(cmd + extra + tests, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return False, "timeout"
    if proc.returncode == 0:
        return True, "passed"
    last = (proc.stdout.strip().splitlines() or ["?"])[-1]
    return False, last[:160]


def _drop_bytecode(module: Path) -> None:
    cache = module.parent / "__pycache__"
    for pyc in cache.glob(module.stem + ".*.pyc"):
        pyc.unlink(missing_ok=True)


def iterate(args: argparse.Namespace) -> Iterator[Outcome]:
    module = Path(args.module)
    original = module.read_bytes()
    source = original.decode()
    functions = set(args.functions.split(",")) if args.functions else None
    mutants = enumerate_mutants(source, functions)
    if args.max and len(mutants) > args.max:
        step = len(mutants) / args.max
        mutants = [mutants[int(i * step)] for i in range(args.max)]
    print(f"{len(mutants)} mutants of {module}", flush=True)
    try:
        for mutant in mutants:
            module.write_text(mutate_source(source, mutant, functions))
            _drop_bytecode(module)
            started = time.monotonic()
            passed, reason = _run_tests(args.python, args.tests, args.timeout, args.pytest_args)
            yield Outcome(mutant, not passed, reason, time.monotonic() - started)
    finally:
        module.write_bytes(original)
        _drop_bytecode(module)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", required=True, help="the .py file to mutate")
    parser.add_argument("--tests", required=True, nargs="+", help="pytest targets")
    parser.add_argument("--functions", help="comma-separated qualified names to limit mutation to")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs pytest")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per mutant test run")
    parser.add_argument("--max", type=int, default=0, help="sample at most this many mutants")
    parser.add_argument("--json", help="write every outcome to this file")
    parser.add_argument("--pytest-args", default="", help='extra pytest arguments, one string: "-k masking"')
    args = parser.parse_args(argv)
    args.pytest_args = shlex.split(args.pytest_args)

    passed, reason = _run_tests(args.python, args.tests, args.timeout, args.pytest_args)
    if not passed:
        print(f"baseline tests do not pass ({reason}); nothing to measure", file=sys.stderr)
        return 2
    outcomes: list[Outcome] = []
    for outcome in iterate(args):
        outcomes.append(outcome)
        mark = "killed " if outcome.killed else "SURVIVED"
        m = outcome.mutant
        print(f"{mark} #{m.index} line {m.line} {m.kind} in {m.function or '<module>'}", flush=True)
    killed = sum(o.killed for o in outcomes)
    total = len(outcomes)
    score = 100.0 * killed / total if total else 100.0
    print(f"mutation score {args.module}: {killed}/{total} killed = {score:.1f}%")
    if args.json:
        Path(args.json).write_text(
            json.dumps([dict(asdict(o.mutant), killed=o.killed, reason=o.reason) for o in outcomes])
        )
    return 0 if score >= 90.0 else 1


if __name__ == "__main__":
    sys.exit(main())
