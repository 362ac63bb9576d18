"""The documentation stays true: its examples run, its links lead somewhere, the front page
stays short, and its test command is the one CI runs.

Convention for README.md and docs/*.md: the fenced ```python and ```sh blocks of one file run
in order, in a fresh temporary folder holding a copy of the repository's corpora/ (so
``corpora/en.txt`` works), with the installed ``bytepiece`` command on PATH. Python blocks of
one file share a namespace. A block right after the line ``<!-- not run -->`` is skipped:
only for what cannot run here (install commands, cluster addresses, huge corpora).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CORPORA, ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = "<!-- not run -->"
FENCE = re.compile(r"^```(\w*)\s*$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
#: The front page's limit (issue 16), in characters.
README_LIMIT = 10_000


def code_blocks(text: str) -> list[tuple[str, str, int, bool]]:
    """The fenced blocks of a Markdown text: (language, code, first line, skipped).

    >>> code_blocks("a\\n```sh\\nls\\n```\\n<!-- not run -->\\n```python\\nx = 1\\n```\\n")
    [('sh', 'ls\\n', 3, False), ('python', 'x = 1\\n', 7, True)]
    """
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        previous = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        blocks.append((match.group(1), "".join(line + "\n" for line in lines[start:end]),
                       start + 1, previous == NOT_RUN))
        i = end + 1
    return blocks


def slug(heading: str) -> str:
    """GitHub's anchor of a heading.

    >>> slug("Training at scale: `--max-memory`, 4 GB")
    'training-at-scale---max-memory-4-gb'
    """
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (outside code blocks), GitHub's way."""
    found, seen, fenced = set(), {}, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            base = slug(line.lstrip("#"))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            out.append(line)
    return "\n".join(out)


# -- the examples run -----------------------------------------------------------------

def run_examples(text: str, name: str, folder: Path) -> int:
    """Run the examples of the Markdown ``text`` (of the file ``name``) in ``folder`` as the
    module docstring says; the number of blocks run."""
    shutil.copytree(CORPORA, folder / "corpora",
                    ignore=shutil.ignore_patterns("bench", "scale"))
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    namespace: dict = {"__name__": "__doc_example__"}
    ran = 0
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for lang, code, line, skipped in code_blocks(text):
            if skipped or lang not in ("python", "sh"):
                continue
            where = f"{name}, line {line}"
            if lang == "sh":
                done = subprocess.run(["bash", "-e", "-c", code], cwd=folder, env=env,
                                      capture_output=True, text=True, timeout=300)
                assert done.returncode == 0, \
                    f"{where}: status {done.returncode}\n{code}\n{done.stderr[-2000:]}"
            else:
                try:
                    exec(compile(code, where, "exec"), namespace)
                except Exception as e:  # the example's own error, with where it is
                    raise AssertionError(f"{where}: {type(e).__name__}: {e}\n{code}") from e
            ran += 1
    finally:
        os.chdir(cwd)
    return ran


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run(doc, tmp_path):
    text = doc.read_text(encoding="utf-8")
    blocks = [b for b in code_blocks(text) if b[0] in ("python", "sh") and not b[3]]
    if not blocks:
        return  # a page without examples has nothing to run
    assert run_examples(text, str(doc.relative_to(ROOT)), tmp_path) == len(blocks)


def test_a_failing_example_fails_and_skipped_ones_do_not_run(tmp_path):
    text = ("```sh\nbytepiece --help > help.txt\n```\n\n```python\nx = 1\n```\n\n"
            "<!-- not run -->\n```sh\nexit 3\n```\n\n")
    assert run_examples(text, "doc.md", tmp_path / "a") == 2
    assert (tmp_path / "a" / "help.txt").read_text().startswith("Usage: bytepiece")
    assert (tmp_path / "a" / "corpora" / "en.txt").exists()
    with pytest.raises(AssertionError, match=r"doc\.md, line 15: AssertionError: x is 1"):
        run_examples(text + "```python\nassert x == 2, 'x is 1'\n```\n", "doc.md", tmp_path / "b")
    with pytest.raises(AssertionError, match=r"doc\.md, line 2: status 4"):
        run_examples("```sh\nexit 4\n```\n", "doc.md", tmp_path / "c")


# -- links, size, the test command ----------------------------------------------------

@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_somewhere(doc):
    text = prose(doc.read_text(encoding="utf-8"))
    checked = 0
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if file == ROOT / "docs" / "llm.md" and not file.exists():
            continue  # written on another branch (special tokens, transformers export)
        assert file.exists(), f"{doc.name}: link {target!r}: no such file"
        if anchor:
            assert file.suffix == ".md", f"{doc.name}: link {target!r}: anchor into a non-Markdown file"
            assert anchor in anchors(file), f"{doc.name}: link {target!r}: no such heading"
        checked += 1
    if doc.name == "README.md":
        assert checked >= 8  # the front page links onward


def test_front_page_is_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8")) <= README_LIMIT


def test_readme_test_command_is_what_ci_runs():
    """.ci/run installs the test extra and runs pytest: the README says the same."""
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = [code for lang, code, _, _ in code_blocks((ROOT / "README.md").read_text())
              if lang == "sh"]
    test_commands = [code.strip() for code in blocks if "pytest" in code]
    assert test_commands == [".venv/bin/pip install '.[test]' && .venv/bin/python -m pytest -q"]
    assert ".venv/bin/pip install --quiet '.[test]'" in ci
    assert ".venv/bin/python -m pytest -q" in ci


def test_helpers_by_hand(tmp_path):
    import doctest

    failures, tried = doctest.testmod(sys.modules[__name__])
    assert tried >= 2 and failures == 0
    page = tmp_path / "page.md"
    page.write_text("# A\n\n## Python API\n\n```sh\n# not a heading\n```\n\n## A\n")
    assert anchors(page) == {"a", "python-api", "a-1"}
    assert prose(page.read_text()) == "# A\n\n## Python API\n\n\n## A"


# -- --help: every option with an example ----------------------------------------------

COMMANDS = ("train", "encode", "decode", "convert", "eval", "inspect", "compile")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_an_example_in_help(command):
    from conftest import invoke_cli

    result = invoke_cli([command, "--help"])
    assert result.exit_code == 0
    text = result.stdout
    examples = text[text.index("Examples:"):text.index("\nOptions:")]
    options = set(re.findall(r"^  (?:(-\w), )?(--[\w-]+)", text[text.index("\nOptions:"):], re.M))
    options -= {("-h", "--help")}
    assert options, command
    for short, option in sorted(options):
        forms = {option, "--no-" + option[2:]} | ({short} if short else set())
        # a flag pair such as --ensure-unicode / --no-ensure-unicode shows one of its forms
        assert any(re.search(re.escape(f) + r"(?![\w-])", examples) for f in forms), \
            f"bytepiece {command} --help: no example uses {option}"


def test_main_help_lists_every_command_and_examples():
    from conftest import invoke_cli

    text = invoke_cli(["--help"]).stdout
    assert "Examples:" in text
    for command in COMMANDS:
        assert re.search(rf"^  {command}\b", text, re.M), command
