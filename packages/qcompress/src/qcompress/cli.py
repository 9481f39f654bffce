"""The ``qcompress`` command line.

qcompress compress IN.npy OUT.qc [--method M] [--set KEY=VALUE ...] [--bits B | --rel-l2 E]
qcompress decompress IN.qc OUT.npy
qcompress inspect FILE            (a container or a saved file; checks every checksum)
qcompress methods
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from qcore.entrypoint import CliParser, entry_point

from qcompress.api import METHODS, compress, decompress, inspect
from qcompress.errors import CorruptData, InvalidSettings, QcompressError, UnsupportedTensor
from qcompress.storage import FILE_MAGIC, Reader

__all__ = ["main"]


def _parser() -> CliParser:
    parser = CliParser(prog="qcompress", description="Compress and restore tensors.")
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("compress", help="compress a .npy array into a container")
    c.add_argument("input", type=Path, help="a .npy file (no pickled objects)")
    c.add_argument("output", type=Path, help="container to write")
    c.add_argument("--method", default="shuffle-zstd", help="a method from `qcompress methods`")
    c.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a method setting, e.g. --set block_size=64 (VALUE is parsed as JSON, else text)",
    )
    c.add_argument("--bits", type=float, help="bit budget per value (method auto)")
    c.add_argument("--rel-l2", type=float, dest="rel_l2", help="relative L2 target (method auto)")
    d = commands.add_parser("decompress", help="restore a container to a .npy file")
    d.add_argument("input", type=Path)
    d.add_argument("output", type=Path)
    i = commands.add_parser("inspect", help="verify a container or saved file and print its header")
    i.add_argument("input", type=Path)
    commands.add_parser("methods", help="list the method names")
    return parser


def _parse_setting(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise InvalidSettings(f"--set: expected KEY=VALUE (e.g. block_size=64), got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle, which we never use
        raise UnsupportedTensor(f"{path}: not a plain numeric .npy array ({exc})") from exc


def _summary(header: dict[str, Any], size: int) -> str:
    t = header["tensor"]
    line = (
        f"{t['kind']} {t['dtype']} {t['shape']}  method {' + '.join(header['chain'])}  {size} bytes"
    )
    if header["error"]:
        e = header["error"]
        line += f"  rel_l2 {e['rel_l2']:.3e}  max_abs {e['max_abs']:.3e}"
        line += f"  {e.get('bits_per_value', float('nan')):.3f} bits/value"
    else:
        line += "  lossless"
    return line


@entry_point("qcompress", user_errors=(QcompressError,))
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "methods":
        print("\n".join(METHODS))
        return 0
    if args.command == "compress":
        settings = dict(_parse_setting(s) for s in args.settings)
        if args.bits is not None or args.rel_l2 is not None:
            if args.method not in ("auto", "shuffle-zstd"):
                raise InvalidSettings("--bits/--rel-l2: these choose the method; drop --method")
            method = "auto"
            settings.update(
                {k: v for k, v in (("bits", args.bits), ("rel_l2", args.rel_l2)) if v is not None}
            )
        else:
            method = args.method
        data = compress(_read_npy(args.input), method, **settings)
        args.output.write_bytes(data)
        print(_summary(inspect(data), len(data)))
        return 0
    if args.command == "decompress":
        tensor = decompress(args.input.read_bytes())
        np.save(args.output, np.asarray(tensor), allow_pickle=False)
        return 0
    with args.input.open("rb") as handle:
        magic = handle.read(4)
    if magic == FILE_MAGIC:
        with Reader(args.input) as reader:
            for name in reader:
                view = reader.container(name)
                try:
                    print(f"{name or '(tensor)'}: {_summary(inspect(view), len(view))}")
                finally:
                    view.release()
        return 0
    data = args.input.read_bytes()
    try:
        header = inspect(data)
    except CorruptData as exc:
        raise CorruptData(f"{args.input}: {exc}") from exc
    print(_summary(header, len(data)))
    print(json.dumps(header["params"], sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
