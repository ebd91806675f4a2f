"""The `dfd` command.

Each subcommand is a module with `HELP`, `add_arguments(parser)` and
`run(args) -> int`. The live system's own commands live in `stream.commands`;
training and benchmark commands come in through the `dfd.commands` entry-point
group, so `stream` never imports `training` and `dfd watch` never loads torch.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import re
import sys
from importlib.metadata import PackageNotFoundError, entry_points, version
from types import ModuleType

from edge_model.errors import DfdError

BUILTIN = {
    "watch": "stream.commands.watch",
    "scan": "stream.commands.scan",
    "alerts": "stream.commands.alerts",
    "keys": "stream.commands.keys",
    "web": "stream.commands.web",
}
# The order `dfd --help` lists them in.
ORDER = ["watch", "scan", "alerts", "web", "preprocess", "train", "evaluate", "export", "quantize", "bench", "keys"]
# A value like -1h (relative time) is not an option; argparse would take it for one.
_RELATIVE_VALUE = re.compile(r"^-\d+(?:\.\d+)?\s*[smhdw]$")
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader went away


def _command_modules() -> dict[str, str]:
    modules = dict(BUILTIN)
    for ep in entry_points(group="dfd.commands"):
        modules.setdefault(ep.name, ep.value)
    return dict(sorted(modules.items(), key=lambda kv: (ORDER + [kv[0]]).index(kv[0])))


class _Parser(argparse.ArgumentParser):
    """A usage error is one line too, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        sys.stdout.flush()  # --help into a closed pipe: raise here, where main handles it
        super().exit(status, message)


def did_you_mean(word: str, choices: list[str]) -> str:
    """' (did you mean X?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _version() -> str:
    try:
        return version("dfd")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser(
    only: str | None = None,
) -> tuple[argparse.ArgumentParser, dict[str, ModuleType], dict[str, argparse.ArgumentParser]]:
    """Every command's parser; with `only` (a command name), that command's alone.

    Importing a command's module imports what it runs, so `dfd watch`, which
    becomes the supervisor of a live system, builds only its own: it never
    loads ONNX Runtime or OpenCV for `dfd scan` or `dfd bench`.
    """
    parser = _Parser(
        prog="dfd",
        description="Real-time deepfake detection for live video on ordinary CPUs.",
    )
    parser.add_argument("--version", action="version", version=f"dfd {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    loaded: dict[str, ModuleType] = {}
    parsers: dict[str, argparse.ArgumentParser] = {}
    commands = _command_modules()
    if only in commands:
        commands = {only: commands[only]}
    for name, module_name in commands.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name,
            help=module.HELP.splitlines()[0],
            description=module.HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        loaded[name] = module
        parsers[name] = p
    return parser, loaded, parsers


def _glue_relative_values(argv: list[str]) -> list[str]:
    """`--since -1h` -> `--since=-1h`, so a negative relative time reads as the value it is."""
    out: list[str] = []
    for arg in argv:
        if out and _RELATIVE_VALUE.match(arg) and out[-1].startswith("--") and "=" not in out[-1]:
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _parse(argv: list[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace, dict[str, ModuleType]]:
    """Parse, with usage errors that name the subcommand and suggest the closest spelling."""
    parser, modules, parsers = build_parser(argv[0] if argv else None)
    if argv and not argv[0].startswith("-") and argv[0] not in modules:
        parser.error(f"unknown command {argv[0]!r}{did_you_mean(argv[0], list(modules))}")
    args, extras = parser.parse_known_args(argv)
    if extras:
        sub = parsers.get(args.command, parser)
        flags = [o for action in sub._actions for o in action.option_strings]
        hint = did_you_mean(extras[0].split("=")[0], flags) if extras[0].startswith("-") else ""
        sub.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
    return parser, args, modules


def _run(argv: list[str]) -> int:
    parser, args, modules = _parse(argv)
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


def main(argv: list[str] | None = None) -> int:
    try:
        code = _run(_glue_relative_values(sys.argv[1:] if argv is None else list(argv)))
        sys.stdout.flush()  # here, where a closed pipe can still be handled
        return code
    except BrokenPipeError:
        # The reader went away (`dfd alerts --csv | head`): stop quietly. Output still
        # buffered would raise again at exit, so stdout now points at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
