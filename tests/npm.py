"""The npm folders the tests use (tests/node, tests/browser): `npm ci` them on demand.

A missing toolchain or a failed install is a test failure, not a skip.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def require_tool(name: str, purpose: str) -> str:
    """The path of an executable on PATH, or fail the test saying what needs it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: {purpose}", pytrace=False)
    return path


def ensure_node_modules(folder: Path, pinned: dict[str, str]) -> None:
    """`npm ci` in `folder` when node_modules is absent or older than package-lock.json (one
    runner at a time, across processes), then check each pinned package's installed version."""
    lock = folder / "package-lock.json"
    assert lock.is_file(), f"{lock} is missing"
    npm = require_tool("npm", f"the tests need Node.js >= 18 and npm to install {folder}")
    digest = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]
    guard_path = Path(tempfile.gettempdir()) / f"moments-npm-ci-{digest}.lock"
    with open(guard_path, "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        installed = folder / "node_modules" / ".package-lock.json"
        if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime:
            result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True,
                                    text=True, timeout=300)
            if result.returncode != 0:
                pytest.fail(f"npm ci failed in {folder}:\n{result.stdout}\n{result.stderr}", pytrace=False)
    for package, version in pinned.items():
        manifest = json.loads((folder / "node_modules" / package / "package.json").read_text())
        assert manifest["version"] == version, f"installed {package} is {manifest['version']}, want {version}"
