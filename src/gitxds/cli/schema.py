"""``gitxds schema``: the JSON Schema of the config format, for editors and CI."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gitxds.config.json_schema import config_json_schema

__all__ = ["register", "render_schema", "run"]

DESCRIPTION = """\
Print a JSON Schema (draft 2020-12) of one config document, any kind, chosen by `kind`. Point an
editor at it and it completes and checks fields as you type; `gitxds validate` still checks what a
schema cannot (references between documents, exactly one endpoint source, ...). With the YAML
language server, the first line of a config file does it:

  # yaml-language-server: $schema=../schema/gitxds.schema.json
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of the config format",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=run)


def render_schema() -> str:
    """The schema as committed in schema/gitxds.schema.json: stable key order, trailing newline."""
    return json.dumps(config_json_schema(), indent=2, sort_keys=True) + "\n"


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(render_schema())
    return 0
