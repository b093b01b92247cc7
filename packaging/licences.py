"""Write the licences of everything a bundle holds: the Debian copyright file and the licence texts.

    python packaging/licences.py DOC_DIR [--without DIST ...]

Run with the build environment's Python. The bundled distributions are neural-easel's requirements,
followed transitively through their metadata (so the list cannot drift from what pip installed), less
those the spec leaves out (--without). DOC_DIR gets `copyright` (machine-readable, DEP-5) and
`licenses/<distribution>/` with each one's licence files, and Python's own.
"""

import argparse
import re
import shutil
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LICENCE_FILE = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)


def bundled(start: str, without: set[str]) -> list[metadata.Distribution]:
    """`start` and every distribution it requires, outside extras, once each."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [start]
    while todo:
        name = canonical(todo.pop())
        if name in seen or name in without:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement for another platform (its marker is false here)
        seen[name] = dist
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
    return sorted(seen.values(), key=lambda d: canonical(d.metadata["Name"]))


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def licence_of(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get_all("License-Expression") or []
    if expression:
        return str(expression[0])
    short = str((meta.get_all("License") or [""])[0]).strip()
    if short and "\n" not in short and len(short) < 80 and short != "UNKNOWN":
        return short
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    return ", ".join(classifiers) or "see its licence files"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("doc_dir", type=Path)
    parser.add_argument("--without", action="append", default=[], help="a distribution not bundled")
    args = parser.parse_args()
    without = {canonical(n) for n in args.without}
    licences = args.doc_dir / "licenses"
    lines = []
    for dist in bundled("neural-easel", without):
        name, version = dist.metadata["Name"], dist.version
        if canonical(name) == "neural-easel":
            continue
        lines.append(f" {name} {version}: {licence_of(dist)}")
        for file in dist.files or []:
            if LICENCE_FILE.search(file.name) and not file.name.endswith((".py", ".pyc")):
                target = licences / canonical(name) / file.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(str(dist.locate_file(file))), target)
    python_licence = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    if python_licence.exists():
        (licences / "python").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(python_licence, licences / "python" / "LICENSE.txt")
    python = f"Python {sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}: PSF-2.0"
    mit = "\n".join(f" {line}" if line else " ." for line in (ROOT / "LICENSE").read_text().splitlines()[2:])
    (args.doc_dir / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: Neural Easel\n"
        "Comment: The package bundles a Python runtime and the Python distributions it needs\n"
        " (listed below), so that it runs without any other Python installed. The licence\n"
        " texts of each are in /usr/share/doc/neural-easel/licenses/.\n\n"
        "Files: *\n"
        "Copyright: 2026 The Neural Easel developers\n"
        "License: MIT\n\n"
        "Files: usr/lib/neural-easel/_internal/*\n"
        "Copyright: the authors of each bundled component, as their licence files say\n"
        "License: bundled-components\n"
        f" {python}\n" + "\n".join(lines) + "\n\n"
        "License: MIT\n" + mit + "\n\n"
        "License: bundled-components\n"
        " Each component is distributed under the licence named beside it above; the full texts\n"
        " are installed in /usr/share/doc/neural-easel/licenses/<component>/. Qt for Python\n"
        " (PySide6, shiboken6) ships without licence files: it is used under the LGPL-3.0, whose\n"
        " text is in /usr/share/common-licenses/LGPL-3 on Debian systems.\n"
    )


if __name__ == "__main__":
    main()
