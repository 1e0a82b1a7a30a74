"""The deploy files (deploy/, docs/deploy.md) checked by the tools made for them: the systemd
units by `systemd-analyze verify` (with the real `moments` executable in ExecStart), the
Dockerfile by hadolint, the compose file by Debian's `docker-compose config`; the Dockerfile
repeats the README's install; the settings table lists every setting there is.

No image registry is reachable here, so the image is linted, not built (docs/deploy.md says so).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from moments.cli import main
from moments.config import Settings
from npm import require_tool

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "deploy.md"
INSTALLED_AT = "/opt/moments/.venv/bin/"  # where the units expect the README's install


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **options)


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "the deploy test verifies the systemd units (apt-get install systemd)")
    units = sorted(path.name for path in (DEPLOY / "systemd").iterdir())
    assert units == ["moments-backup.service", "moments-backup.timer", "moments.service"]
    for name in units:
        text = (DEPLOY / "systemd" / name).read_text()
        # The units name the install of docs/deploy.md; here, this checkout's own executable.
        (tmp_path / name).write_text(text.replace(INSTALLED_AT, f"{Path(sys.executable).parent}/"))
    checked = run([analyze, "verify", *units], cwd=tmp_path)
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stdout + checked.stderr


def moments_commands(text: str) -> list[list[str]]:
    """Each `moments ...` command in shell text (continuations joined, comments dropped, split at && ; |):
    its words after `moments`. A `moments` that is an option's value (`-u moments`), a unit or
    an image name (followed by nothing, an option or another `moments`) is none."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        for segment in re.split(r"\s(?:&&|\|\||;|\|)\s", line.removeprefix("ExecStart=")):
            words = shlex.split(segment, comments=True)
            for i, word in enumerate(words[:-1]):
                if (word == "moments" or word.endswith("/bin/moments")) and not words[i + 1].startswith("-") \
                        and words[i + 1] != "moments" and not (i and words[i - 1].startswith("-")):
                    commands.append(words[i + 1:])
    return commands


def check_command(words: list[str]) -> None:
    """Parse the words as this version's CLI would (unknown commands and options raise)."""
    group: click.Group = main
    context = click.Context(main, info_name="moments")
    while True:
        command = group.get_command(context, words[0])
        assert command is not None, f"no command `{words[0]}`: moments {' '.join(words)}"
        if not isinstance(command, click.Group):
            command.make_context(words[0], words[1:])
            return
        group, context, words = command, click.Context(command, info_name=words[0], parent=context), words[1:]


def test_the_units_and_the_guide_run_commands_that_exist() -> None:
    """ExecStart lines, the image's CMD and every `moments` command of docs/deploy.md parse with this CLI."""
    units = [moments_commands(line) for name in ("moments.service", "moments-backup.service")
             for line in (DEPLOY / "systemd" / name).read_text().splitlines() if line.startswith("ExecStart=")]
    assert [command[:1] for found in units for command in found] == [["serve"], ["backup"]]
    blocks = re.findall(r"```sh\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    documented = [command for block in blocks for command in moments_commands(block)]
    assert {command[0] for command in documented} >= {"env", "token", "backup", "copy"}, documented
    image = json.loads(re.search(r"^CMD (\[.*\])$", (DEPLOY / "Dockerfile").read_text(), flags=re.MULTILINE).group(1))
    assert image[0] == INSTALLED_AT + "moments"
    for command in [c for found in units for c in found] + documented + [image[1:]]:
        check_command(command)
    with pytest.raises(click.NoSuchOption):  # the check can fail
        check_command(["backup", "--to", "x"])


def test_dockerfile_passes_hadolint() -> None:
    hadolint = require_tool("hadolint", "the deploy test lints deploy/Dockerfile (pip install -e '.[test]')")
    linted = run([hadolint, "--no-color", str(DEPLOY / "Dockerfile")])
    assert linted.returncode == 0 and linted.stdout == "", linted.stdout + linted.stderr


def test_dockerfile_installs_as_the_readme_and_ci_do() -> None:
    """Its pip line is the README's Quick start install with the ClickHouse extra, as CI's is with
    the test extra; its Debian packages are among those .ci/run installs (and python3 itself)."""
    readme = (ROOT / "README.md").read_text()
    quick_start = re.search(r"```sh\n(python3 -m venv .venv && \. \.venv/bin/activate && pip install -q -e \.) "
                            r"&& moments serve --demo\n```", readme)
    assert quick_start, "the README's Quick start install line"
    ci = (ROOT / ".ci" / "run").read_text()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    install = quick_start.group(1).removesuffix(" .")
    assert f"{install} '.[test]'" in ci
    assert f"RUN {install} '.[clickhouse]'\n" in dockerfile
    packages = set(re.search(r"apt-get install -y --no-install-recommends ([a-z0-9. -]+?) *\\?\n", dockerfile).group(1).split())
    ci_packages = set(re.findall(r"missing\+=\(([a-z0-9-]+)\)", ci))
    assert packages - {"python3"} <= ci_packages and "python3-venv" in packages, (packages, ci_packages)
    copied = set(re.findall(r"^COPY (.+) \./", dockerfile, flags=re.MULTILINE))
    assert copied == {"pyproject.toml README.md LICENSE", "src"}
    # Only what it copies goes into the build context (BuildKit reads Dockerfile.dockerignore).
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert [line for line in ignored if line.startswith("!")] == ["!pyproject.toml", "!README.md", "!LICENSE", "!src/"]


def test_compose_file_is_valid_and_runs_the_image_on_clickhouse() -> None:
    compose = require_tool("docker-compose", "the deploy test checks deploy/compose.yaml (apt-get install docker-compose)")
    env = {"PATH": os.environ["PATH"], "CLICKHOUSE_PASSWORD": "s3cret"}
    rendered = run([compose, "-f", str(DEPLOY / "compose.yaml"), "config"], env=env, cwd=ROOT)
    assert rendered.returncode == 0, rendered.stderr
    config = rendered.stdout
    assert "dockerfile: deploy/Dockerfile" in config and f"context: {ROOT}" in config
    assert "MOMENTS_STORE: clickhouse://moments:s3cret@clickhouse:8123/moments" in config
    assert "127.0.0.1:8000:8000" in config and "condition: service_healthy" in config
    # Without the password it refuses, rather than start a ClickHouse with an empty one.
    refused = run([compose, "-f", str(DEPLOY / "compose.yaml"), "config"], env={"PATH": os.environ["PATH"]}, cwd=ROOT)
    assert refused.returncode != 0 and "set CLICKHOUSE_PASSWORD" in refused.stderr


def test_the_settings_table_lists_every_setting_and_serve_option() -> None:
    guide = GUIDE.read_text()
    table = guide[guide.index("\n## Settings\n"):].split("\n## ")[1]  # to the next section, if any
    config_source = (ROOT / "src" / "moments" / "config.py").read_text()
    variables = set(re.findall(r'"(MOMENTS_[A-Z_]+)"', config_source))
    assert len(variables) >= len(dataclasses.fields(Settings)) - 1  # default_timeframe_s has none
    serve_source = (ROOT / "src" / "moments" / "cli" / "serve.py").read_text()
    variables |= set(re.findall(r'envvar="([A-Z_]+)"', serve_source))  # options that read one (--log-level...)
    for name in variables | {"MOMENTS_DB", "MOMENTS_STORE", "MOMENTS_URL"}:
        assert f"`{name}`" in table, name
    serve = main.get_command(click.Context(main), "serve")
    for option in serve.params:
        for flag in (o for o in option.opts if o.startswith("--")):
            assert f"`{flag}" in table, flag
    # The defaults it gives are the code's.
    defaults = {f"MOMENTS_{field.name.upper()}": field.default for field in dataclasses.fields(Settings)}
    checked = 0
    for variable, default in re.findall(r"^\| `(MOMENTS_[A-Z_]+)` \|[^|]*\| ([^|]+) \|", table, flags=re.MULTILINE):
        if isinstance(defaults.get(variable), (int, float)):
            assert float(default.split()[0]) == defaults[variable], (variable, default)
            checked += 1
    assert checked >= 10
