#!/usr/bin/env python3
"""Ringlog patch 2 of kafka-protocol (see PATCHES.md): make the generated
encoders name the field they refuse.

Upstream, encoding a message whose field is set at a version that lacks it
fails with "A field is set that is not available on the selected protocol
version", naming neither the message, the field nor the version. The broker
logs encode failures as bugs (issue 12), so the message must say which field.
This rewrites each such `bail!` in src/messages/*.rs to
"...: <Struct>.<field> at version <v>", taking the struct from the enclosing
`impl Encodable for <Struct>` and the field from the condition just above.
Idempotent: run it on a pristine or an already patched copy.

Usage: vendor/name_unavailable_fields.py vendor/kafka-protocol [...]
"""
import pathlib
import re
import sys

OLD = 'bail!("A field is set that is not available on the selected protocol version");'
IMPL = re.compile(r"impl Encodable for (\w+)")
FIELD = re.compile(r"self\.(\w+)")


def patch(path: pathlib.Path) -> int:
    lines = path.read_text().split("\n")
    struct = None
    count = 0
    for index, line in enumerate(lines):
        found = IMPL.search(line)
        if found:
            struct = found.group(1)
        if OLD not in line:
            continue
        field = None
        for back in range(index - 1, max(index - 10, -1), -1):
            match = FIELD.search(lines[back])
            if match:
                field = match.group(1)
                break
        assert struct and field, f"{path}:{index + 1}: no struct or field in sight"
        indent = line[: len(line) - len(line.lstrip())]
        lines[index] = (
            f'{indent}bail!("A field is set that is not available on the selected protocol '
            f'version: {struct}.{field} at version {{version}}");'
        )
        count += 1
    path.write_text("\n".join(lines))
    return count


def main() -> None:
    for crate in sys.argv[1:]:
        total = sum(patch(path) for path in sorted(pathlib.Path(crate, "src/messages").glob("*.rs")))
        print(f"{crate}: {total} refusals now name their field")


if __name__ == "__main__":
    main()
