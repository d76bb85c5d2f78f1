"""Runs `scim-sanity probe` as shipped against a live server and compares its failures with the
known ones in scim_sanity_expected.json, each with the documented decision it follows from (see
README.md, "Conformance"). A new failure, or a known one that no longer happens (so the README
is stale), fails the run.

Environment: SCIM_URL and SCIM_TOKEN; SCIM_SANITY (path of the scim-sanity executable).
"""
import json
import os
import pathlib
import subprocess
import sys

here = pathlib.Path(__file__).parent
expected = json.loads((here / "scim_sanity_expected.json").read_text())["failures"]
proc = subprocess.run(
    [os.environ["SCIM_SANITY"], "probe", os.environ["SCIM_URL"], "--token", os.environ["SCIM_TOKEN"],
     "--i-accept-side-effects", "--json-output"],
    capture_output=True, text=True, timeout=300,
)
try:
    report = json.loads(proc.stdout)
except json.JSONDecodeError:
    print(proc.stdout, proc.stderr)
    sys.exit("scim-sanity: no JSON report")
failed = {r["name"]: r.get("message", "") for r in report["results"] if r["status"] in ("fail", "error")}
for r in report["results"]:
    print(f"  {r['status']:5} {r['name']}" + (f": {r.get('message', '')}" if r["status"] != "pass" else ""))
    if r["name"] in failed and r["name"] in expected:
        print(f"        known: {expected[r['name']]}")
unexpected = sorted(set(failed) - set(expected))
fixed = sorted(set(expected) - set(failed))
s = report["summary"]
print(f"scim-sanity: {s['passed']} of {len(report['results'])} checks pass, {len(failed) - len(unexpected)} known "
      f"deviations (README.md, Conformance), {len(unexpected)} unexpected, {s['warnings']} warnings, "
      f"{s['skipped']} skipped")
if unexpected:
    print("scim-sanity: unexpected failures:", *unexpected, sep="\n  ")
if fixed:
    print("scim-sanity: failures listed as expected no longer happen (update README and the list):", *fixed, sep="\n  ")
sys.exit(1 if unexpected or fixed else 0)
