"""Strip the symbol tables of the compiled extensions in a folder of wheels, in place.

Several dependencies publish their extension modules unstripped (PyYAML's ``_yaml``, rpds-py,
wrapt, charset-normalizer, protobuf): 5.3 MB of ``.so`` files, 1.9 MB once stripped. ``strip
--strip-unneeded`` keeps every symbol the dynamic loader needs, which is what Debian and Alpine do
to their own packages. Each wheel is rewritten with its RECORD updated (new hashes and sizes), so
pip installs it as usual.

    python strip_wheels.py WHEELHOUSE
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import wheel_record


def strip_wheel(wheel: Path, strip: str) -> tuple[int, int]:
    """Rewrite ``wheel`` with stripped ``.so`` members; return (bytes before, after) of those."""
    with zipfile.ZipFile(wheel) as source:
        members = source.infolist()
        shared = [m for m in members if m.filename.endswith(".so") or ".so." in m.filename]
        if not shared:
            return 0, 0
        contents = {m.filename: source.read(m) for m in members}
    before = after = 0
    with tempfile.TemporaryDirectory() as work:
        for member in shared:
            path = Path(work, "lib.so")
            path.write_bytes(contents[member.filename])
            subprocess.run([strip, "--strip-unneeded", str(path)], check=True)
            stripped = path.read_bytes()
            before += len(contents[member.filename])
            after += len(stripped)
            contents[member.filename] = stripped
    record_name = next(m.filename for m in members if m.filename.endswith(".dist-info/RECORD"))
    rows = wheel_record.parse(contents[record_name].decode())
    for row in rows:
        if row[0] in contents and row[0] != record_name:
            row[:] = wheel_record.entry(row[0], contents[row[0]])
    contents[record_name] = wheel_record.render(rows).encode()
    rewritten = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target:
        for member in members:
            target.writestr(member, contents[member.filename], compress_type=zipfile.ZIP_DEFLATED)
    rewritten.replace(wheel)
    return before, after


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: strip_wheels.py WHEELHOUSE", file=sys.stderr)
        return 2
    strip = shutil.which("strip")
    if strip is None:
        print("strip_wheels: 'strip' (binutils) not found", file=sys.stderr)
        return 1
    total_before = total_after = 0
    for wheel in sorted(Path(argv[0]).glob("*.whl")):
        before, after = strip_wheel(wheel, strip)
        total_before += before
        total_after += after
    print(f"strip_wheels: extension modules {total_before / 1e6:.1f} MB -> {total_after / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
