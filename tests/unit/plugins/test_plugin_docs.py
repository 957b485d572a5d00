"""Every plugin of the collection documents itself the way ansible-doc renders it, with the
collection's version as version_added, and the collection carries the files a certified
collection carries (its license, a Markdown changelog)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
MODULES = sorted(p.stem for p in (ROOT / "plugins/modules").glob("*.py") if not p.name.startswith("_"))
CALLBACKS = sorted(p.stem for p in (ROOT / "plugins/callback").glob("*.py") if not p.name.startswith("_"))


def filter_names() -> list[str]:
    names = []
    for path in sorted((ROOT / "plugins/filter").glob("*.py")):
        plugin = importlib.import_module(f"ansible_collections.intelgraph.ops.plugins.filter.{path.stem}")
        names.extend(plugin.FilterModule().filters())
    return sorted(names)


FILTERS = filter_names()


def ansible_doc(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), NO_COLOR="1", ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(BIN / "ansible-doc"), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def docs() -> dict[str, dict]:
    """The JSON documentation of every module, filter and callback, by type and full name."""
    found: dict[str, dict] = {}
    for kind, names in (("module", MODULES), ("filter", FILTERS), ("callback", CALLBACKS)):
        proc = ansible_doc("-t", kind, "--json", *(f"intelgraph.ops.{name}" for name in names))
        assert proc.returncode == 0, proc.stderr
        assert "ERROR" not in proc.stderr, proc.stderr
        found.update({f"{kind}:{name}": doc for name, doc in json.loads(proc.stdout).items()})
    return found


@pytest.mark.parametrize("name", FILTERS)
def test_every_filter_renders_with_ansible_doc(docs: dict[str, dict], name: str) -> None:
    entry = docs.get(f"filter:intelgraph.ops.{name}")
    assert entry and entry.get("doc"), f"ansible-doc -t filter intelgraph.ops.{name} renders nothing"
    assert entry["doc"]["short_description"]
    assert entry["examples"].strip()
    assert entry["return"]


def test_the_text_rendering_of_every_filter() -> None:
    for name in FILTERS:
        proc = ansible_doc("-t", "filter", f"intelgraph.ops.{name}")
        assert proc.returncode == 0 and "ERROR" not in proc.stderr, (name, proc.stderr)


@pytest.mark.parametrize(
    "plugin",
    [f"module:{m}" for m in MODULES]
    + [f"filter:{f}" for f in FILTERS]
    + [f"callback:{c}" for c in CALLBACKS],
)
def test_version_added_is_the_collection_version(docs: dict[str, dict], plugin: str) -> None:
    kind, name = plugin.split(":")
    doc = docs[f"{kind}:intelgraph.ops.{name}"]["doc"]
    assert str(doc.get("version_added")) == GALAXY["version"], (
        f"{plugin}: version_added {doc.get('version_added')}"
    )


def test_the_license_file_matches_galaxy() -> None:
    assert GALAXY["license"] == ["Apache-2.0"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text


def test_the_changelog_is_produced_as_markdown() -> None:
    config = yaml.safe_load((ROOT / "changelogs/config.yaml").read_text())
    assert config["output_formats"] == ["md"]
    assert config["changelog_filename_template"].endswith(".md")


def test_the_sanity_ignores_match_ansible_core_and_say_why() -> None:
    from ansible.release import __version__

    major_minor = ".".join(__version__.split(".")[:2])
    ignores = ROOT / f"tests/sanity/ignore-{major_minor}.txt"
    assert ignores.is_file(), f"no sanity ignore file for ansible-core {major_minor}"
    for number, line in enumerate(ignores.read_text().splitlines(), start=1):
        entry, sep, why = line.partition(" # ")
        assert sep and why.strip() and len(entry.split()) == 2, (
            f"{ignores.name}:{number} needs one entry and a reason"
        )
        assert (ROOT / entry.split()[0]).exists(), (
            f"{ignores.name}:{number}: {entry.split()[0]} does not exist"
        )
