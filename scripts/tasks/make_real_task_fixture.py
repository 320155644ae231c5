#!/usr/bin/env python3
"""Builds the real-data task fixtures in Tests/PipelineTests/Fixtures/tasks: small slices of HellaSwag and
TruthfulQA in llama-perplexity's formats, and llama-perplexity's per-item results on the evaluate stage's
tiny model (Tests/PipelineTests/Fixtures/tiny-eval-f16.gguf) as the expected values.

usage (from the worktree root):
    ~/.cache/gguf-oracle/venv/bin/python scripts/tasks/make_real_task_fixture.py ~/.cache/gguf-oracle DATA \
        Tests/PipelineTests/Fixtures/tasks
DATA holds
  hellaswag_val_full.txt  the HellaSwag validation set in llama.cpp's 6-lines-per-item text format (the
                          file llama.cpp's docs name for --hellaswag; MIT)
  TruthfulQA.csv          TruthfulQA's questions (columns Type, Category, Question, Best Answer, Correct
                          Answers, Incorrect Answers, Source; Apache-2.0)

Writes
  hellaswag-val-100.txt        the first 100 items of hellaswag_val_full.txt, unchanged
  truthfulqa-mc1-100.bin       the first 100 TruthfulQA questions as llama-perplexity multiple-choice
                               items: the question, its best answer among its incorrect answers (order
                               drawn with a fixed seed), the best answer the one correct
  expected-real.json           llama-perplexity's per-item results for both files, with the command
"""
import csv, json, os, random, re, struct, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_task_fixture import correct_from_cumulative, mc_binary, run  # noqa: E402

ITEMS = 100


def truthfulqa_tasks(path, count, seed):
    rng = random.Random(seed)
    tasks = []
    for row in list(csv.DictReader(open(path, encoding="utf-8")))[:count]:
        best = row["Best Answer"].strip()
        wrong = [a.strip() for a in row["Incorrect Answers"].split(";") if a.strip()]
        answers = [best] + wrong
        order = list(range(len(answers)))
        rng.shuffle(order)
        tasks.append((row["Question"].strip(), [answers[k] for k in order], [1 if k == 0 else 0 for k in order]))
    return tasks


def main():
    oracle, data, out = os.path.expanduser(sys.argv[1]), sys.argv[2], sys.argv[3]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    perplexity = os.path.join(oracle, "build/llama.cpp/bin/llama-perplexity")
    model = os.path.join(repo, "Tests/PipelineTests/Fixtures/tiny-eval-f16.gguf")
    lines = open(os.path.join(data, "hellaswag_val_full.txt"), encoding="utf-8").read().split("\n")
    hs = os.path.join(out, "hellaswag-val-100.txt")
    open(hs, "w", encoding="utf-8").write("\n".join(lines[:6 * ITEMS]) + "\n")
    tasks = truthfulqa_tasks(os.path.join(data, "TruthfulQA.csv"), ITEMS, 29)
    mc = os.path.join(out, "truthfulqa-mc1-100.bin")
    open(mc, "wb").write(mc_binary(tasks))
    most = max(len(t[1]) for t in tasks)
    # -c: the longest item of the tiny model's 600-piece vocabulary fits; -np: the most answers of an item.
    common = ["-m", model, "-c", "4096", "-t", "2", "-np", str(max(4, most))]
    expected = {"model": "Tests/PipelineTests/Fixtures/tiny-eval-f16.gguf", "runs": []}
    runs = [("hellaswag", hs, ["--hellaswag", "-f", hs, "--hellaswag-tasks"], [ITEMS, 37]),
            ("multiple-choice", mc, ["--multiple-choice", "-bf", mc, "--multiple-choice-tasks"], [0])]
    for kind, path, args, limits in runs:
        for limit in limits:
            cmd = [perplexity] + common + args + [str(limit)]
            # llama-perplexity's log thread may exit before the last lines: run until all are there.
            for attempt in range(8):
                log = run(cmd)
                rows = len(re.findall(r"^\d+\t[0-9.]+(?:%\t\[.*)?$", log, re.M))
                if rows == (limit or ITEMS):
                    break
            else:
                sys.exit("llama-perplexity printed %d item lines, not %d:\n%s" % (rows, limit or ITEMS, log[-3000:]))
            entry = {"kind": kind, "file": os.path.basename(path), "limit": limit or None,
                     "command": " ".join(cmd).replace(perplexity, "llama-perplexity").replace(repo + "/", "").replace(out + "/", "")}
            if kind == "hellaswag":
                found = re.findall(r"^(\d+)\t([0-9.]+)%\t\[", log, re.M)
            else:
                found = re.findall(r"^(\d+)\t([0-9.]+)$", log, re.M)
            entry["correct"] = correct_from_cumulative([(int(n), float(p)) for n, p in found])
            m = re.search(r"Final result: ([0-9.]+) \+/- ([0-9.]+)", log)
            if m:
                entry["final"] = [float(m.group(1)), float(m.group(2))]
            expected["runs"].append(entry)
    with open(os.path.join(out, "expected-real.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
