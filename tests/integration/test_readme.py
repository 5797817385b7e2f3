"""The README's commands work as written: every `graphrec` line names a real command with valid options, and the
read-only ones run against the real server holding the sample graph the quickstart ingests."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import loaders
from graphrec.cli import cli
from graphrec.ingest import ingest
from graphrec.sample import write_sample

REPO = Path(__file__).resolve().parents[2]
RUNNABLE = {"cypher", "stats", "config", "formats", "models"}


def readme_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():  # a command continued with a backslash is one line
            line = line.split("  #")[0].strip()
            if line.startswith(".venv/bin/graphrec "):
                lines.append(shlex.split(line)[1:])
    return lines


def _without_global_options(args: list[str]) -> list[str]:
    """The command and its own options: `--home DIR` and the other options before the command name check and parse
    here, then go, so that a command that runs here runs on the test's server."""
    words = list(args)
    while words and words[0].startswith("--"):
        option = next(p for p in cli.params if words[0] in p.opts)
        words = words[2:] if not option.is_flag else words[1:]
    return words


def test_readme_has_graphrec_commands():
    assert len(readme_commands()) >= 8


@pytest.mark.parametrize("args", readme_commands(), ids=lambda a: " ".join(a)[:60])
def test_readme_command(args, graph, settings, tmp_path):
    args = _without_global_options(args)
    group = cli
    words = list(args)
    while words and isinstance(group, click.Group) and words[0] in group.commands:
        group = group.commands[words.pop(0)]
    assert not isinstance(group, click.Group), f"{args}: no such command"
    group.make_context(group.name, list(words), resilient_parsing=False)  # options and arguments parse

    name = args[0]
    if name == "ingest":
        fmt, path = words[0], REPO / words[1]
        assert fmt in loaders.LOADERS
        if "shared/data" in words[1] and not path.exists():
            pytest.skip(f"{path} not present")
        assert path.exists() or words[1].startswith("my-data"), path
        return
    if name not in RUNNABLE:
        return
    ingest(graph, loaders.load("csv", write_sample(tmp_path / "sample")))  # what the quickstart ingests
    result = CliRunner().invoke(cli, ["--home", str(settings.home), *args], env={"NEO4J_URI": ""})
    assert result.exit_code == 0, result.output
    if name == "cypher":
        assert "(no rows)" not in result.output, f"{args} found nothing on the sample graph"
