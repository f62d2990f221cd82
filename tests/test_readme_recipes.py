"""The README's recipes run as written: every command of its "Recipes" section, in order, in a folder laid
out as the recipes assume (tests/recipes_workspace.py: synthetic embeddings of the real Vox1-O list, a
released folder, Kaldi scores, a checkpoint and audio)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import VOXCELEB, shared

REPO = Path(__file__).resolve().parents[1]
RUN = "from sveval.cli.main import main; main()"


def recipe_commands(readme: str) -> list[str]:
    """The commands of the ```bash blocks between '## Recipes' and the next '## ' heading."""
    section = readme.split("\n## Recipes\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    lines = [line.strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_recipes_are_found():
    commands = recipe_commands((REPO / "README.md").read_text())
    assert len(commands) >= 15 and all(c.startswith("sveval ") for c in commands), commands


@pytest.mark.slow
def test_every_recipe_runs_as_written(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    shared(VOXCELEB / "veri_test2.txt")
    monkeypatch.setenv("SVEVAL_TRIALS_DIR", str(VOXCELEB))
    import recipes_workspace

    recipes_workspace.build(tmp_path, with_model=True)
    for command in recipe_commands((REPO / "README.md").read_text()):
        args = shlex.split(command)[1:]
        done = subprocess.run([sys.executable, "-c", RUN, *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, command
    assert (tmp_path / "release" / "gemini" / "det" / "vox1_O_cleaned.kaldi.det.png").is_file()
    assert (tmp_path / "compare.md").is_file() and (tmp_path / "m-vs-m2.png").is_file()
