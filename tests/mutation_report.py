"""`make mutate`'s summary: each mutated module's score, from `mutmut results --all true`.

The score counts a mutant killed when a test failed or timed out with it; survivors are listed
so each can be killed by a test or explained in docs/TESTING.md as equivalent.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*(bot\.[\w.]+?)\.x\w*__mutmut_\d+: (\w[\w ]*)$")


def main() -> int:
    mutmut = Path(sys.executable).parent / "mutmut"
    output = subprocess.run(
        [str(mutmut), "results", "--all", "true"], capture_output=True, text=True, check=False
    ).stdout
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for line in output.splitlines():
        match = LINE.match(line)
        if match is None:
            continue
        module, status = match.groups()
        statuses[module][status] += 1
        if status == "survived":
            survivors[module].append(line.split(":")[0].strip())
    print("| module | mutants | killed | survived | other | score |")
    print("|---|---|---|---|---|---|")
    for module, counts in sorted(statuses.items()):
        killed = counts["killed"] + counts["timeout"]
        tested = killed + counts["survived"]
        other = sum(counts.values()) - tested
        score = f"{100 * killed / tested:.1f} %" if tested else "—"
        print(f"| {module} | {sum(counts.values())} | {killed} | {counts['survived']} | {other} | {score} |")
    for module, names in sorted(survivors.items()):
        print(f"\nSurvivors in {module} (`mutmut show NAME` shows each):")
        print("\n".join(f"- {name}" for name in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
