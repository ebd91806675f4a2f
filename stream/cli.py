"""The `dfd` command.

Each subcommand is a module with `HELP`, `add_arguments(parser)` and
`run(args) -> int`. The live system's own commands live in `stream.commands`;
training and benchmark commands come in through the `dfd.commands` entry-point
group, so `stream` never imports `training` and `dfd watch` never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points
from types import ModuleType

from edge_model.errors import DfdError

BUILTIN = {
    "watch": "stream.commands.watch",
    "scan": "stream.commands.scan",
    "alerts": "stream.commands.alerts",
    "keys": "stream.commands.keys",
}
# The order `dfd --help` lists them in.
ORDER = ["watch", "scan", "alerts", "preprocess", "train", "evaluate", "export", "bench", "keys"]


def _command_modules() -> dict[str, str]:
    modules = dict(BUILTIN)
    for ep in entry_points(group="dfd.commands"):
        modules.setdefault(ep.name, ep.value)
    return dict(sorted(modules.items(), key=lambda kv: (ORDER + [kv[0]]).index(kv[0])))


class _Parser(argparse.ArgumentParser):
    """A usage error is one line too, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = _Parser(
        prog="dfd",
        description="Real-time deepfake detection for live video on ordinary CPUs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    loaded: dict[str, ModuleType] = {}
    for name, module_name in _command_modules().items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name,
            help=module.HELP.splitlines()[0],
            description=module.HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        loaded[name] = module
    return parser, loaded


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(modules[args.command].run(args) or 0)
    except DfdError as exc:
        print(f"dfd {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
