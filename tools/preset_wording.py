"""List a plugin's tests that compare literal preset sentences of the reference runtime.

    python tools/preset_wording.py plugins/phishtank            # a plugin directory on disk
    python tools/preset_wording.py --mirror GIT_DIR phishtank   # read plugins/<name> from a git mirror
    python tools/preset_wording.py --compat-json results.json --mirror GIT_DIR   # explain compat failures

A test that writes out ``"Invalid API key provided."`` where it means "the cause of the API_KEY
preset" breaks on any runtime whose presets are worded differently, icon-runtime's included; the
fix is to compare with ``PluginException.causes[PluginException.Preset.API_KEY]`` (see
docs/migrating.md). This script finds those literals.

The reference's sentences are not copied anywhere: at run time the script reads them out of the
reference wheel's ``exceptions.py`` with ``ast`` (the ``causes``/``assistances`` dictionaries;
nothing of the reference is imported or executed). The wheel is fetched once with
``pip download --no-deps`` into ``~/.cache/icon-runtime`` unless ``--reference-wheel`` names one.
Nothing of ``bin/<plugin>`` or the plugin's package is imported: its tests are parsed, not run.

With ``--compat-json`` (the ``--json`` file of the compatibility harness, ../shared/compat), every
failed test is put in one of two groups: it compares preset wording (its source holds a reference
sentence and its failure mentions one), or it fails for another reason. Exit status 1 if any test
fails for another reason, so ``make compat`` fails only on those.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REFERENCE = "insightconnect-plugin-runtime==6.6.1"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "icon-runtime" / "reference-wheel"
#: Shorter sentences ("Unknown error.") are too likely to be a plugin's own words.
MIN_SENTENCE = 20


@dataclass(frozen=True)
class Sentence:
    owner: str  # "PluginException" or "ConnectionTestException"
    preset: str  # the Preset constant's name, e.g. "API_KEY"
    kind: str  # "causes" or "assistances"
    text: str


@dataclass(frozen=True)
class Hit:
    file: str
    line: int
    test_id: str | None  # module.Class.method (unittest's id) or None outside a test
    sentence: Sentence
    exception: str  # the class the test file uses (PluginException inherits the presets)

    @property
    def replacement(self) -> str:
        return f"{self.exception}.{self.sentence.kind}[{self.exception}.Preset.{self.sentence.preset}]"


# --- the reference's sentences -------------------------------------------------------------------


def reference_wheel(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    found = sorted(CACHE.glob("insightconnect_plugin_runtime-6.6.1-*.whl"))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", CACHE]
        result = subprocess.run([*command, REFERENCE], capture_output=True, text=True)
        if result.returncode:
            sys.exit(f"could not download {REFERENCE}:\n{result.stderr[-2000:]}")
        found = sorted(CACHE.glob("insightconnect_plugin_runtime-6.6.1-*.whl"))
    return found[0]


def reference_sentences(wheel: Path) -> list[Sentence]:
    """Every preset sentence of the reference, read from its exceptions.py without running it."""
    with zipfile.ZipFile(wheel) as archive:
        tree = ast.parse(archive.read("insightconnect_plugin_runtime/exceptions.py"))
    sentences: dict[str, Sentence] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for statement in node.body:
            if not (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Dict)):
                continue
            kind = next((t.id for t in statement.targets if isinstance(t, ast.Name)), None)
            if kind not in ("causes", "assistances"):
                continue
            for key, value in zip(statement.value.keys, statement.value.values, strict=True):
                if not (isinstance(key, ast.Attribute) and isinstance(value, ast.Constant)):
                    continue
                text = str(value.value).strip()
                if len(text) >= MIN_SENTENCE:
                    sentences.setdefault(f"{kind}:{text}", Sentence(node.name, key.attr, kind, text))
    if not sentences:
        sys.exit(f"no preset sentences found in {wheel}: not the reference's layout?")
    return list(sentences.values())


# --- the plugin's tests ---------------------------------------------------------------------------


def test_sources_on_disk(plugin_dir: Path) -> dict[str, str]:
    """unit_test/**/*.py of a plugin directory, keyed by path relative to unit_test/."""
    root = plugin_dir / "unit_test"
    return {str(p.relative_to(root)): p.read_text(errors="replace") for p in sorted(root.rglob("*.py"))}


def test_sources_in_mirror(mirror: str, rev: str, name: str) -> dict[str, str]:
    git = ["git", f"--git-dir={mirror}"]
    prefix = f"plugins/{name}/unit_test/"
    listing = subprocess.run([*git, "ls-tree", "-r", "--name-only", rev, prefix], capture_output=True, text=True)
    sources = {}
    for path in listing.stdout.splitlines():
        if path.endswith(".py"):
            blob = subprocess.run([*git, "show", f"{rev}:{path}"], capture_output=True, check=True).stdout
            sources[path[len(prefix) :]] = blob.decode("utf-8", errors="replace")
    return sources


def find_hits(sources: dict[str, str], sentences: list[Sentence]) -> list[Hit]:
    """Every string literal in the tests that contains a reference preset sentence."""
    hits = []
    for relative, source in sources.items():
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        exception = "PluginException" if "PluginException" in source else "ConnectionTestException"
        module = relative[:-3].replace(os.sep, ".").removesuffix(".__init__")
        owners: dict[int, str] = {}  # id(string node) -> test id, for literals inside a test method
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            for method in (n for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
                for child in ast.walk(method):  # decorators (parameterized cases) included
                    owners[id(child)] = f"{module}.{cls.name}.{method.name}"
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            for sentence in sentences:
                if sentence.text in node.value:
                    hits.append(Hit(relative, node.lineno, owners.get(id(node)), sentence, exception))
    return hits


# --- the compatibility harness's results ---------------------------------------------------------


def belongs_to(test_id: str, function_id: str) -> bool:
    """unittest ids of a test function, parameterized expansions (``test_x_0_case``) included."""
    return test_id == function_id or test_id.startswith(function_id + "_")


def recorded_commits(plugins_txt: Path) -> dict[str, str]:
    """plugin name -> the commit the harness exported it at (its plugins.txt), when that file is there."""
    commits = {}
    if plugins_txt.is_file():
        for line in plugins_txt.read_text().splitlines():
            columns = [c.strip() for c in line.split("#", 1)[0].split("|")]
            if len(columns) >= 3 and len(columns[2]) == 40:
                commits[columns[0]] = columns[2]
    return commits


def explain_compat(results_file: Path, mirror: str | None, rev: str, sentences: list[Sentence]) -> int:
    results = json.loads(results_file.read_text())["results"]
    commits = recorded_commits(Path(__file__).resolve().parents[1].parent / "shared" / "compat" / "plugins.txt")
    wording_total = other_total = passed_total = 0
    print(f"{'plugin':30} {'passed':>7} {'failed':>7} {'preset wording':>15} {'other':>6}")
    details: list[str] = []
    for result in results:
        name = result["name"]
        failed = sorted(t for t, o in result.get("outcomes", {}).items() if o in ("failed", "error", "xpass"))
        commit = commits.get(name, rev)
        hits = find_hits(test_sources_in_mirror(mirror, commit, name), sentences) if (failed and mirror) else []
        wording, other = [], []
        for test_id in failed:
            trace = result.get("details", {}).get(test_id, "")
            # the sentences this test writes out that its failure shows (one case of a parameterized test)
            own = [h for h in hits if h.test_id and belongs_to(test_id, h.test_id) and h.sentence.text in trace]
            if own:
                wording.append((test_id, own))
            else:
                other.append(test_id)
        missing = max(0, (result.get("expected") or 0) - len(result.get("outcomes", {})))
        passed = result.get("passed", 0)
        print(f"{name:30} {passed:>7} {len(failed) + missing:>7} {len(wording):>15} {len(other) + missing:>6}")
        passed_total += passed
        wording_total += len(wording)
        other_total += len(other) + missing
        for test_id, own in wording:
            presets = sorted({f"{h.exception}.Preset.{h.sentence.preset} ({h.sentence.kind})" for h in own})
            details.append(f"  preset wording  {name}: {test_id}: {', '.join(presets)}")
        details += [f"  OTHER FAILURE   {name}: {test_id}" for test_id in other]
        if missing:
            details.append(f"  OTHER FAILURE   {name}: {missing} test(s) did not run ({result.get('status')})")
    print("\n".join(details))
    print(
        f"compat: {passed_total} passed, {wording_total + other_total} failed: {wording_total} compare the "
        f"reference's preset wording (see docs/migrating.md), {other_total} fail for another reason"
    )
    return 1 if other_total else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plugins", nargs="*", help="plugin directories, or plugin names with --mirror")
    parser.add_argument("--mirror", default=os.environ.get("ICP_MIRROR") or None, help="git dir of the plugins repo")
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--reference-wheel", help="the reference's wheel (default: pip download, cached)")
    parser.add_argument("--compat-json", type=Path, help="explain the failures in a compat harness --json file")
    parser.add_argument("--json", action="store_true", help="print the hits as JSON")
    args = parser.parse_args()
    sentences = reference_sentences(reference_wheel(args.reference_wheel))
    if args.compat_json:
        return explain_compat(args.compat_json, args.mirror, args.rev, sentences)
    if not args.plugins:
        parser.error("name a plugin directory (or --compat-json)")
    report: dict[str, list[dict[str, object]]] = {}
    for plugin in args.plugins:
        if Path(plugin).is_dir():
            sources = test_sources_on_disk(Path(plugin))
        elif args.mirror:
            sources = test_sources_in_mirror(args.mirror, args.rev, plugin)
        else:
            parser.error(f"{plugin}: no such directory (use --mirror to read plugins from a git mirror)")
        report[plugin] = [
            {
                "file": f"unit_test/{h.file}",
                "line": h.line,
                "test": h.test_id,
                "preset": f"{h.exception}.Preset.{h.sentence.preset}",
                "use": h.replacement,
            }
            for h in find_hits(sources, sentences)
        ]
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    for plugin, hits in report.items():
        tests = sorted({str(h["test"]) for h in hits if h["test"]})
        print(f"{plugin}: {len(hits)} literal preset sentence(s) in {len(tests)} test(s)")
        for hit in hits:
            where = hit["test"] or "(outside a test method)"
            print(f"  {hit['file']}:{hit['line']}  {where}  -> compare with {hit['use']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
