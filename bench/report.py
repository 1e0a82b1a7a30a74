"""docs/benchmarks.md is written by several commands, each owning a part of the page:
bench/run.py writes the head (the DuckDB figures), and each other run writes its own marked
section and keeps every other part as it was."""

from __future__ import annotations

from pathlib import Path

SECTIONS = {  # sections other runs keep, in page order: (start marker, end marker); "notes" is written by hand
    "imports": ("<!-- imports section: bench/run.py (--only-imports) -->", "<!-- end of imports section -->"),
    "notes": ("<!-- notes: written by hand, kept by every run -->", "<!-- end of notes -->"),
    "chdb": ("<!-- chdb section: bench/run.py --store chdb -->", "<!-- end of chdb section -->"),
    "imports-chdb": ("<!-- imports chdb section: bench/run.py --store chdb (--only-imports) -->",
                     "<!-- end of imports chdb section -->"),
    "filters": ("<!-- filters section: bench/run.py --filters -->", "<!-- end of filters section -->"),
    "beacons": ("<!-- beacons section: bench/beacons.py -->", "<!-- end of beacons section -->"),
    "beacons-chdb": ("<!-- beacons chdb section: bench/beacons.py --store chdb -->",
                     "<!-- end of beacons chdb section -->"),
    "neighbours": ("<!-- neighbours section: bench/neighbours.py -->", "<!-- end of neighbours section -->"),
}


def write_report(out: Path, kind: str, body: str) -> str:
    """Write `body` as section `kind` (or as the page's head when `kind` names no section),
    keep the rest of the page, and return the page's new text."""
    old = out.read_text() if out.exists() else ""
    kept = {name: old[old.index(a):old.index(b) + len(b)] for name, (a, b) in SECTIONS.items() if a in old}
    head = old[:min((old.index(a) for a, _ in SECTIONS.values() if a in old), default=len(old))].rstrip("\n")
    if kind in SECTIONS:
        kept[kind] = f"{SECTIONS[kind][0]}\n{body}\n{SECTIONS[kind][1]}"
    else:
        head = body.rstrip("\n")
    text = "\n\n".join([head] + [kept[name] for name in SECTIONS if name in kept]) + "\n"
    out.write_text(text)
    return text
