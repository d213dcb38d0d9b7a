"""Build small throwaway content directories for engine and checker tests."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

CONFIG = """\
spec_version: 2
config: main
default_lang: en
languages: [en]
onboarding_flow: start
main_flow: start
onboarded_fields: []
retry_text: {en: "Try again."}
globals:
  - {id: stop, flow: stop, mode: replace, intents: [stop], words: {en: [stop]}}
intents: {}
"""

STOP = """\
spec_version: 2
flow: stop
version: 1
default_lang: en
name: Stop
nodes:
  - {id: bye, type: opt_out, text: {en: "Bye."}}
"""


def write_content(root: Path, files: dict[str, str], config: str = CONFIG) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("*.yml"):
        old.unlink()
    (root / "_config.yml").write_text(config, encoding="utf-8")
    (root / "stop.yml").write_text(STOP, encoding="utf-8")
    if "start.yml" not in files:
        (root / "start.yml").write_text(flow_yaml("start", "- {id: s, type: end}\n"), "utf-8")
    for name, text in files.items():
        (root / name).write_text(dedent(text), encoding="utf-8")
    return root


def flow_yaml(flow_id: str, nodes: str, version: int = 1) -> str:
    head = f"spec_version: 2\nflow: {flow_id}\nversion: {version}\ndefault_lang: en\nname: X\n"
    return head + "nodes:\n" + dedent(nodes)
