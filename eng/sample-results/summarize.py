#!/usr/bin/env python3
"""Prints every run of the given results.csv files (one row each) and, per settings, mean ± sd over seeds.
Usage: python3 eng/sample-results/summarize.py OUTPUT_DIR [OUTPUT_DIR ...]   (reads OUTPUT_DIR/results.csv)"""
import csv, statistics, sys
from collections import defaultdict

rows = []
for folder in sys.argv[1:]:
    try:
        f = open(f"{folder}/results.csv")
    except FileNotFoundError:
        continue
    with f:
        for r in csv.DictReader(f):
            r["folder"] = folder
            rows.append(r)
print("| folder | model | settings | seed | mAP | AP50 | AP75 | train s |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['folder']} | {r['model']} | {r['settings']} | {r['seed']} | {100*float(r['map']):.1f} | {100*float(r['map50']):.1f} | {100*float(r['map75']):.1f} | {r['train_seconds']} |")
groups = defaultdict(dict)
for r in rows:
    groups[(r["model"], r["settings"])][r["seed"]] = r
print()
print("| model | settings | seeds | mAP per seed | mAP mean ± sd | AP50 mean | AP75 mean |")
print("|---|---|---|---|---|---|---|")
for (model, settings), by_seed in groups.items():
    seeds = sorted(by_seed)
    maps = [100 * float(by_seed[s]["map"]) for s in seeds]
    sd = statistics.stdev(maps) if len(maps) > 1 else float("nan")
    ap50 = statistics.mean(100 * float(by_seed[s]["map50"]) for s in seeds)
    ap75 = statistics.mean(100 * float(by_seed[s]["map75"]) for s in seeds)
    print(f"| {model} | {settings} | {', '.join(seeds)} | {' / '.join(f'{m:.1f}' for m in maps)} | {statistics.mean(maps):.1f} ± {sd:.1f} | {ap50:.1f} | {ap75:.1f} |")
