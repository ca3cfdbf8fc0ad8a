"""``graphspec summary`` and ``graphspec schema``: show a spec's layers, or the spec schema."""

from __future__ import annotations

import argparse
import json

from graphspec.cli.check import compile_file
from graphspec.cli.errors import EXIT_OK
from graphspec.cli.inputs import input_file
from graphspec.cli.options import add_command, add_format_option


def cmd_summary(args: argparse.Namespace) -> int:
    from graphspec.summary import format_summary, summary_dict

    graph = compile_file(input_file(args.path, "a spec file"))
    if args.format == "json":
        print(json.dumps(summary_dict(graph), indent=2))
    else:
        print(format_summary(graph))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    if args.markdown:
        from graphspec.schema_doc import markdown_reference

        print(markdown_reference(), end="")
        return EXIT_OK
    from graphspec import Spec

    print(json.dumps(Spec.model_json_schema(by_alias=True), indent=2))
    return EXIT_OK


def add_show_commands(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "summary",
        help="per-layer table of a spec, decoder and head included",
        description="Per-layer table: name, op, output shape, params, FLOPs "
        "(2 x MACs), receptive field, cumulative stride; and totals.",
        examples=[
            "graphspec summary specs/unet-small.yaml",
            "graphspec summary specs/ssd-small.yaml  # also the SSD default-box count",
            "graphspec summary specs/vgg16.yaml --format json",
        ],
    )
    p.add_argument("path", metavar="SPEC", help="the spec file")
    add_format_option(p, "every layer and the totals", json_alias=True)
    p.set_defaults(func=cmd_summary)

    p = add_command(
        sub,
        "schema",
        help="print the JSON Schema of a spec (for YAML editors), or a Markdown reference",
        description="Print the JSON Schema of a spec, for YAML editors and language "
        "servers, or with --markdown the key reference that docs/spec.md holds.",
        examples=[
            "graphspec schema > graphspec.schema.json",
            "graphspec schema --markdown > docs/spec.md",
        ],
    )
    p.add_argument(
        "--markdown",
        action="store_true",
        help="a Markdown table of every key and op instead (what docs/spec.md holds)",
    )
    p.set_defaults(func=cmd_schema)
