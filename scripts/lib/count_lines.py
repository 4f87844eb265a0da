"""Line counts of shared/src and tests/ at a git revision (for refactor reports).

usage: python3 scripts/lib/count_lines.py REV
Non-test lines of a file are those before its inline `#[cfg(test)] mod … {` test module (a
`#[cfg(test)]` on a single item, such as a constant, or on a `mod x;` declaration of a test file,
does not end the count); store/layout.rs is a test module as a whole.
"""

import subprocess
import sys


def files(rev, folder):
    out = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, folder],
                         capture_output=True, text=True, check=True).stdout
    return [f for f in out.split() if f.endswith(".rs")]


def lines(rev, path):
    return subprocess.run(["git", "show", f"{rev}:{path}"],
                          capture_output=True, text=True, check=True).stdout.splitlines()


def main():
    rev = sys.argv[1]
    total = code = 0
    for f in files(rev, "shared/src"):
        text = lines(rev, f)
        total += len(text)
        if f.endswith("store/layout.rs"):
            continue
        code += next((i for i, l in enumerate(text) if l.startswith("#[cfg(test)]")
                      and i + 1 < len(text) and text[i + 1].startswith("mod ")
                      and text[i + 1].rstrip().endswith("{")), len(text))
    tests = sum(len(lines(rev, f)) for f in files(rev, "tests"))
    print(f"{rev}: shared/src {total} lines ({code} non-test), tests/ {tests} lines")


if __name__ == "__main__":
    main()
