"""Benchmark: detection quality on a labelled day, and detection speed on noisy traffic.

Run `python -m bench.detections [--seed N] [--noisy-lines 5000000]`. On the labelled day
(bench.scenarios) it prints recall per attack kind (found, and named with a fitting type),
precision over the medium-and-higher findings, the number of findings, which benign
activities drew findings, and the seconds all detections took. With `--noisy-lines` it also
writes that many lines of internet noise (thousands of scanning sources) and prints the
seconds and the number of findings of all detections over them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from analysis.analyzers import AnalysisParams
from analysis.engine import FlowEngine
from bench.scenarios import VULN_SCANNER, Scenario, generate_day, generate_noisy

MEDIUM = 4


def actors_of(finding: dict[str, Any]) -> set[str]:
    """The addresses a finding names as behind it: its peer and its listed actors."""
    evidence = finding["evidence"]
    named = {str(evidence.get("peer"))} | {str(actor) for actor in evidence.get("actors") or []}
    return named - {"None"}


def score(scenario: Scenario, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall per attack, precision over medium-and-higher findings, and the benign
    activities that drew findings."""
    attacks = [item for item in scenario.activities if item.attack]
    benign = [item for item in scenario.activities if not item.attack]
    recall: dict[str, tuple[bool, list[str]]] = {}
    for attack in attacks:
        about = [f for f in findings if actors_of(f) & set(attack.actors)]
        fitting = [f["type"] for f in about if f["type"] in attack.types]
        recall[attack.kind] = (bool(fitting), sorted({f["type"] for f in about}))
    attack_actors = {actor for attack in attacks for actor in attack.actors}
    serious = [f for f in findings if f["severity"] >= MEDIUM]
    true = [f for f in serious if actors_of(f) & attack_actors]
    false = [f for f in serious if not actors_of(f) & attack_actors]
    drew = {
        item.kind: sorted({f["type"] for f in findings if actors_of(f) & set(item.actors)})
        for item in benign
    }
    return {
        "recall": recall,
        "found": sum(1 for ok, _ in recall.values() if ok),
        "attacks": len(attacks),
        "precision": len(true) / len(serious) if serious else 1.0,
        "serious": len(serious),
        "false": false,
        "benign": {kind: types for kind, types in drew.items() if types},
    }


def params_for(scenario: Scenario, indicator_file: Path | None) -> dict[str, Any]:
    params: dict[str, Any] = {"vpc_cidrs": scenario.vpc_cidrs}
    known = {item.name for item in fields(AnalysisParams)}
    if "suppressions" in known:  # the authorised scanner, as a SOC would record it
        params["suppressions"] = [{"detection": "*", "actor": f"{VULN_SCANNER}/32",
                                   "reason": "authorised vulnerability scanner"}]  # fmt: skip
    if indicator_file is not None and "indicators" in known:
        from analysis.reference import parse_indicators

        params["indicators"] = parse_indicators(indicator_file.read_text(), name="bench list")
    return params


def quality(workdir: Path, seed: int) -> None:
    path = workdir / "day.log.gz"
    started = time.perf_counter()
    scenario = generate_day(path, seed=seed)
    print(f"labelled day: {scenario.records:,} records, written in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    indicators = workdir / "indicators.csv"
    indicators.write_text("".join(f"{ip},{label}\n" for ip, label in scenario.indicators))
    with FlowEngine() as engine:
        engine.load_files([str(path)])
        params = params_for(scenario, indicators)
        started = time.perf_counter()
        result = engine.run("detections", params)
        seconds = time.perf_counter() - started
    measured = score(scenario, result.findings)
    print(f"\n{'attack kind':<48} {'found':<6} finding types about its actors")
    for kind, (ok, types) in measured["recall"].items():
        print(f"{kind:<48} {'yes' if ok else 'NO':<6} {', '.join(types) or '-'}")
    print(
        f"\nrecall {measured['found']}/{measured['attacks']} attack kinds; precision "
        f"{measured['precision']:.2f} over {measured['serious']} medium-and-higher findings; "
        f"{len(result.findings)} findings in all; all detections {seconds:.2f} s"
    )
    for finding in measured["false"]:
        print(f"  false: {finding['severity']} {finding['type']} {finding['title']}")
    for kind, types in measured["benign"].items():
        print(f"  benign {kind!r} drew: {', '.join(types)}")
    for rule in result.summary.get("suppressed") or []:
        print(f"  suppressed by rule {rule['reason']!r}: {rule['count']} finding(s)")
    for spared in result.summary.get("recurring_left_out") or []:
        print(f"  recurring, left out: {spared['title']} ({spared['days']} days)")


def speed(workdir: Path, lines: int) -> None:
    path = workdir / f"noisy-{lines}.log.gz"
    if not path.exists():  # a kept work directory reuses it
        started = time.perf_counter()
        generate_noisy(path, lines=lines)
        print(f"\nnoisy traffic written in {time.perf_counter() - started:.1f} s")
    print(f"\nnoisy traffic: {lines:,} records")
    with FlowEngine() as engine:
        engine.load_files([str(path)])
        started = time.perf_counter()
        result = engine.run("detections", {"vpc_cidrs": ["10.20.0.0/16"]})
        seconds = time.perf_counter() - started
    by_type = result.summary.get("by_type", {})
    print(f"all detections {seconds:.2f} s, {len(result.findings)} findings: {by_type}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--noisy-lines", type=int, default=0)
    parser.add_argument("--skip-quality", action="store_true", help="only the speed run")
    parser.add_argument("--workdir", help="keep the generated files here and reuse them")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-detections-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if not args.skip_quality:
            quality(workdir, args.seed)
        if args.noisy_lines:
            speed(workdir, args.noisy_lines)


if __name__ == "__main__":
    main()
