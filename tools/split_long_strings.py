"""Split string literals that `ruff format` leaves over the line length (it never splits a
string) into adjacent literals on two lines: the same string, inside the brackets that already
hold it. Used once when the formatter was adopted; re-run after `ruff format` on code merged
from branches that were not formatted yet:

    ruff format governance tests tools bench && python tools/split_long_strings.py \\
        && ruff format governance tests tools bench && ruff check governance tests tools bench
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

RUFF = str(Path(sys.executable).parent / "ruff")
FOLDERS = ["governance", "tests", "tools", "bench"]
WIDTH = 100
LITERAL = re.compile(r'^([rRbBfFuU]*)(["\'])(.*)\2$', re.S)


def too_long() -> dict[str, list[int]]:
    command = [RUFF, "check", "--select", "E501", "--output-format", "concise", *FOLDERS]
    out = subprocess.run(command, capture_output=True, text=True, check=False).stdout  # noqa: S603
    hits: dict[str, list[int]] = {}
    for line in out.splitlines():
        if match := re.match(r"(.+?):(\d+):\d+: E501", line):
            hits.setdefault(match.group(1), []).append(int(match.group(2)))
    return hits


def literal(prefix: str, quote: str, text: str) -> str:
    if "{" not in text:  # an f-string part without a placeholder is a plain string
        prefix = prefix.replace("f", "").replace("F", "")
    return f"{prefix}{quote}{text}{quote}"


def split_line(rows: list[str], tokens: list[tokenize.TokenInfo], number: int) -> bool:
    line = rows[number - 1]
    strings = [
        t
        for t in tokens
        if t.type == tokenize.STRING and t.start[0] == number and t.end[0] == number
    ]
    if not strings:
        return False
    token = max(strings, key=lambda t: t.end[1] - t.start[1])
    match = LITERAL.match(token.string)
    if not match:
        return False
    prefix, quote, body = match.groups()
    first_column = token.start[1] + len(prefix) + 1
    depth, cut = 0, -1
    for i, char in enumerate(body):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == " " and depth == 0 and first_column + i + 2 <= WIDTH and i + 1 < len(body):
            cut = i
    if cut <= 0:
        return False
    before, after = line[: token.start[1]], line[token.end[1] :]
    indent = re.match(r"\s*", line).group(0)  # type: ignore[union-attr]
    continued = indent if not before.strip() else indent + "    "
    rows[number - 1 : number] = [
        f"{before}{literal(prefix, quote, body[: cut + 1])}",
        f"{continued}{literal(prefix, quote, body[cut + 1 :])}{after}",
    ]
    return True


def main() -> None:
    failed = []
    for name, numbers in too_long().items():
        path = Path(name)
        source = path.read_text()
        rows = source.split("\n")
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        for number in sorted(numbers, reverse=True):
            if not split_line(rows, tokens, number):
                failed.append(f"{name}:{number}")
        path.write_text("\n".join(rows))
    if failed:
        sys.exit("split these by hand: " + ", ".join(failed))


if __name__ == "__main__":
    main()
