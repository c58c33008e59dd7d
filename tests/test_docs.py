"""Help is part of the product: every subcommand and flag has help text and is in the README."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

import create_account
import create_k8s_config
import create_pvc
import create_syncthing_config
import manage_chain
from tests.conftest import REPO

PARSERS = {
    "create_account.py": create_account.build_parser,
    "create_syncthing_config.py": create_syncthing_config.build_parser,
    "create_k8s_config.py": create_k8s_config.build_parser,
    "create_pvc.py": create_pvc.build_parser,
    "manage_chain.py": manage_chain.build_parser,
}
READMES = ["README.md", "README.zh-CN.md"]
CHINESE = ".zh-CN.md"
DOCS = sorted(path.name for path in (REPO / "docs").glob("*.md") if not path.name.endswith(CHINESE))


def documentation(readme: str) -> str:
    """A README and the docs/ pages in its language (docs/X.md with README.md, docs/X.zh-CN.md with README.zh-CN.md)."""
    chinese = readme.endswith(CHINESE)
    pages = [name.removesuffix(".md") + CHINESE if chinese else name for name in DOCS]
    return "\n".join((REPO / path).read_text() for path in [readme, *(f"docs/{page}" for page in pages)])


def flags(parser: argparse.ArgumentParser, where: str) -> Iterator[tuple[str, str, str | None]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{where} {name}", name, sub.description
                yield from flags(sub, f"{where} {name}")
        elif action.option_strings and "--help" not in action.option_strings:
            yield where, action.option_strings[0], action.help


ALL_FLAGS = [item for script, build in PARSERS.items() for item in flags(build(), script)]


@pytest.mark.parametrize(("where", "flag", "help_text"), ALL_FLAGS, ids=[f"{w} {f}" for w, f, _ in ALL_FLAGS])
def test_flag_has_help_and_is_documented(where: str, flag: str, help_text: str | None):
    assert help_text and len(help_text) > 10, f"{where} {flag} needs help text"
    documented = f"`{flag}`" if flag.startswith("--") else flag
    for readme in READMES:
        assert documented in documentation(readme), f"{readme} (with docs/) does not document {where} {flag}"


def test_readme_quick_start_commands_are_the_ones_ci_runs():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("```", 1)[0].strip() for block in quick.split("```sh\n")[1:]]
    assert len(blocks) == 2
    main_job, tests = blocks
    assert "./create_k8s_config.py local_cluster" in main_job
    for step in tests.split(" && "):
        assert step in ci, f"CI must run {step!r}"


def test_chinese_readme_keeps_step_with_the_english_one():
    english, chinese = ((REPO / name).read_text() for name in READMES)

    def outline(text: str) -> list[str]:
        return [line.split(" ", 1)[0] for line in text.splitlines() if line.startswith("#")]

    def quick_start_commands(text: str) -> list[str]:
        return [block.split("```", 1)[0] for block in text.split("```sh\n")[1:3]]

    assert outline(english) == outline(chinese), "the two READMEs must have the same sections"
    assert len(quick_start_commands(english)) == 2
    assert quick_start_commands(english) == quick_start_commands(chinese)
    for name in ("create_k8s_config.py multi_cluster", "kubectl apply -f test-chain.yaml", "add_node"):
        assert name in english and name in chinese
    for readme in READMES:
        assert "--update-golden" in documentation(readme)  # docs/development in the README's language


@pytest.mark.parametrize("page", DOCS)
def test_every_docs_page_has_a_chinese_twin_with_the_same_sections(page: str):
    english = (REPO / "docs" / page).read_text()
    chinese = (REPO / "docs" / (page.removesuffix(".md") + CHINESE)).read_text()

    def outline(text: str) -> list[str]:
        return [line.split(" ", 1)[0] for line in text.splitlines() if line.startswith("#")]

    def commands(text: str) -> list[str]:
        return [block.split("```", 1)[0] for block in text.split("```sh\n")[1:]]

    assert outline(english) == outline(chinese)
    assert commands(english) == commands(chinese), "the two pages must show the same commands"
    for readme in READMES:
        assert f"docs/{page.removesuffix('.md')}" in (REPO / readme).read_text(), f"{readme} does not link {page}"


# --- every command the documentation shows uses subcommands and flags that exist --------------------

SCRIPT_CALL = re.compile(
    r"(?:^|[\s;&|(`])(?:\./|/[\w/.-]+/)?(create_k8s_config|create_pvc|create_account|create_syncthing_config|manage_chain)\.py\b([^\n`|;&)]*)"
)


CODE = re.compile(r"```[a-z]*\n(.*?)```|`([^`\n]+)`", re.DOTALL)


def shown_commands() -> Iterator[tuple[str, str, list[str]]]:
    """(page, script, its arguments) for every call of one of our scripts in the code of a README or docs page."""
    pages = [*READMES, *(f"docs/{path.name}" for path in sorted((REPO / "docs").glob("*.md")))]
    for page in pages:
        for block in CODE.finditer((REPO / page).read_text()):
            for line in (block.group(1) or block.group(2)).splitlines():
                for match in SCRIPT_CALL.finditer(line):
                    words = match.group(2).split("#", 1)[0].split()
                    yield page, match.group(1) + ".py", words


def flag_names(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


SHOWN = list(shown_commands())


def test_the_documentation_shows_commands():
    assert len(SHOWN) > 40  # the control: the pattern finds the calls


@pytest.mark.parametrize(("page", "script", "words"), SHOWN, ids=[f"{p}: {s} {' '.join(w)[:40]}" for p, s, w in SHOWN])
def test_every_command_shown_uses_flags_that_exist(page: str, script: str, words: list[str]):
    parser = PARSERS[script]()
    commands = subparsers(parser)
    known = flag_names(parser) | {"--help", "-h", "--version"}
    if commands and words and not words[0].startswith("-"):
        name = words[0].replace("-", "_")
        assert name in commands, f"{page}: {script} has no subcommand {words[0]}"
        known |= flag_names(commands[name])
    elif commands:  # a flag named with the script alone: it must be some subcommand's
        known |= {flag for command in commands.values() for flag in flag_names(command)}
    for word in words:
        flag = word.strip("[]").split("=", 1)[0]
        if flag.startswith("--") and flag != "--":
            assert "--" + flag[2:].replace("-", "_") in known, f"{page}: {script} {' '.join(words)}: no flag {flag}"
