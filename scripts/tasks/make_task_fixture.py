#!/usr/bin/env python3
"""Builds the task-accuracy fixtures in Tests/PipelineTests/Fixtures/tasks: small task files in
llama-perplexity's three formats, and llama-perplexity's per-item results on the evaluate stage's tiny
model (Tests/PipelineTests/Fixtures/tiny-eval-f16.gguf) as the expected values.

usage (from the worktree root):
    apt-get install bible-kjv      # the KJV text (public domain) and its `bible` reader
    ~/.cache/gguf-oracle/venv/bin/python scripts/tasks/make_task_fixture.py ~/.cache/gguf-oracle Tests/PipelineTests/Fixtures/tasks
    # the whole Proverbs file (529 items: the verses with a ":" or ";" cut) for a 400-item measurement:
    python3 scripts/tasks/make_task_fixture.py --hellaswag-only /tmp/proverbs-hellaswag.txt

Writes
  proverbs-hellaswag.txt  HellaSwag format (6 lines per item: "label: context", gold 0-3, four
                          endings): cloze items made from the Book of Proverbs (KJV): a verse cut at its
                          first ':' or ';', the true second half among three second halves of other
                          verses, drawn with a fixed seed
  winogrande.csv          WinoGrande format (index,sentence with _,choice 1,choice 2,answer), a header
                          line and 32 sentences written for this fixture
  proverbs-mc.bin         llama-perplexity's multiple-choice binary format: Proverbs cloze items with 2
                          to 5 answers, one correct
  expected.json           llama-perplexity's per-item results for each file, with the command; the
                          HellaSwag and WinoGrande files also on llama-quantize's Q4_0 of the model
"""
import hashlib, json, os, random, re, struct, subprocess, sys, tempfile

WINOGRANDE = [
    ("The trophy would not fit in the suitcase because _ was too big.", "the trophy", "the suitcase", 1),
    ("The trophy would not fit in the suitcase because _ was too small.", "the trophy", "the suitcase", 2),
    ("Anna lent her umbrella to Maria because _ was going out into the rain.", "Anna", "Maria", 2),
    ("Anna lent her umbrella to Maria because _ was staying inside all day.", "Anna", "Maria", 1),
    ("The cat chased the mouse until _ was too tired to keep running away.", "the cat", "the mouse", 2),
    ("The cat chased the mouse until _ was too tired to keep up the hunt.", "the cat", "the mouse", 1),
    ("Tom could not lift the box onto the shelf because _ was too weak.", "Tom", "the box", 1),
    ("Tom could not lift the box onto the shelf because _ was too heavy.", "Tom", "the box", 2),
    ("The glass fell onto the rug but _ did not break because it was soft.", "the glass", "the rug", 1),
    ("The lamp was brighter than the candle, so _ lit the whole room.", "the lamp", "the candle", 1),
    ("The lamp was brighter than the candle, so _ was put away in the drawer.", "the lamp", "the candle", 2),
    ("Sarah asked Emma for help with the math homework because _ was good at math.", "Sarah", "Emma", 2),
    ("Sarah asked Emma for help with the math homework because _ was bad at math.", "Sarah", "Emma", 1),
    ("The river was wider than the creek, so crossing _ needed a boat.", "the river", "the creek", 1),
    ("The river was wider than the creek, so crossing _ needed only a jump.", "the river", "the creek", 2),
    ("The doctor gave the patient medicine because _ was sick.", "the doctor", "the patient", 2),
    ("The teacher praised the student because _ had worked hard all term.", "the teacher", "the student", 2),
    ("James wore a coat but Peter did not, so _ was cold on the walk home.", "James", "Peter", 2),
    ("James wore a coat but Peter did not, so _ was warm on the walk home.", "James", "Peter", 1),
    ("The bread was older than the cake, so _ was too hard to eat.", "the bread", "the cake", 1),
    ("The car passed the bicycle on the hill because _ was faster.", "the car", "the bicycle", 1),
    ("The car passed the bicycle on the hill because _ was slower.", "the car", "the bicycle", 2),
    ("Lisa paid Mark for the old guitar, so _ got the money.", "Lisa", "Mark", 2),
    ("Lisa paid Mark for the old guitar, so _ got the guitar.", "Lisa", "Mark", 1),
    ("The dog barked at the mailman because _ was afraid of strangers.", "the dog", "the mailman", 1),
    ("The ice melted faster than the stone warmed, because _ was in the sun.", "the ice", "the stone", 1),
    ("The baby cried when the nurse left, because _ wanted to be held.", "the baby", "the nurse", 1),
    ("The plant grew taller than the fence because _ got plenty of water.", "the plant", "the fence", 1),
    ("Ben beat Carl at chess because _ had practised every day.", "Ben", "Carl", 1),
    ("Ben beat Carl at chess because _ had never played before.", "Ben", "Carl", 2),
    ('"The shop was closed, so _ went home", said the boy to the girl.', "the boy", "the girl", 1),
    ("The kettle boiled before the soup, since _ held less water.", "the kettle", "the soup", 1),
]


def proverbs():
    """(context, ending) pairs: each Proverbs verse cut after its first ':' or ';'."""
    out = subprocess.run(["bible", "-f", "Prov1:1-31:31"], check=True, capture_output=True, text=True).stdout
    pairs = []
    for line in out.splitlines():
        m = re.match(r"^Prv\d+:\d+ (.*)$", line)
        if not m:
            continue
        verse = m.group(1).strip()
        cut = min([i for i in (verse.find(":"), verse.find(";")) if i > 0], default=-1)
        if cut < 0:
            continue
        context, ending = verse[:cut + 1].strip(), verse[cut + 1:].strip()
        if len(context.split()) >= 3 and len(ending.split()) >= 3:
            pairs.append((context, ending))
    return pairs


def hellaswag_lines(pairs, count, seed):
    rng = random.Random(seed)
    lines = []
    for i in range(min(count, len(pairs))):
        context, ending = pairs[i]
        others = rng.sample([p[1] for j, p in enumerate(pairs) if j != i], 3)
        gold = rng.randrange(4)
        endings = others[:gold] + [ending] + others[gold:]
        lines += ["Proverbs: " + context, str(gold)] + endings
    return lines


def mc_binary(tasks):
    """llama-perplexity's multiple-choice file: item count, each item's offset, then per item the
    question, the mc1 answer set (count, strings, labels) and an mc2 set (unused by the scorer)."""
    def string(s):
        b = s.encode("utf-8")
        return struct.pack("<I", len(b)) + b

    def answer_set(answers, labels):
        return struct.pack("<I", len(answers)) + b"".join(string(a) for a in answers) + struct.pack("<%di" % len(labels), *labels)

    bodies = [string(q) + answer_set(a, l) + answer_set(a[:1], [1]) for q, a, l in tasks]
    offsets, pos = [], 4 + 4 * len(bodies)
    for b in bodies:
        offsets.append(pos)
        pos += len(b)
    return struct.pack("<I", len(bodies)) + struct.pack("<%dI" % len(offsets), *offsets) + b"".join(bodies)


def mc_file(pairs, count, seed):
    rng = random.Random(seed)
    tasks = []
    for i in range(count):
        context, ending = pairs[len(pairs) - 1 - i]  # from the end of the book: other verses than the HellaSwag file's
        n = 2 + i % 4  # 2 to 5 answers
        others = rng.sample([p[1] for j, p in enumerate(pairs) if p[1] != ending], n - 1)
        gold = rng.randrange(n)
        answers = others[:gold] + [ending] + others[gold:]
        tasks.append((context, answers, [1 if k == gold else 0 for k in range(n)]))
    return mc_binary(tasks), tasks


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout + "\n" + out.stderr


def correct_from_cumulative(rows):
    """Per-item correct/incorrect from llama-perplexity's running accuracy lines (item, percent)."""
    result, before = [], 0
    for n, percent in rows:
        now = round(percent * n / 100)
        result.append(now - before == 1)
        before = now
    return result


def main():
    if sys.argv[1] == "--hellaswag-only":
        open(sys.argv[2], "w").write("\n".join(hellaswag_lines(proverbs(), 100000, 19)) + "\n")
        return
    oracle, out = os.path.expanduser(sys.argv[1]), sys.argv[2]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.makedirs(out, exist_ok=True)
    perplexity = os.path.join(oracle, "build/llama.cpp/bin/llama-perplexity")
    model = os.path.join(repo, "Tests/PipelineTests/Fixtures/tiny-eval-f16.gguf")
    pairs = proverbs()
    hs = os.path.join(out, "proverbs-hellaswag.txt")
    open(hs, "w").write("\n".join(hellaswag_lines(pairs, 40, 19)) + "\n")
    wg = os.path.join(out, "winogrande.csv")
    with open(wg, "w") as f:
        f.write("index,sentence,option1,option2,answer\n")
        for i, (sentence, a, b, answer) in enumerate(WINOGRANDE):
            quoted = '"' + sentence + '"' if "," in sentence or '"' in sentence else sentence
            f.write("%d,%s,%s,%s,%d\n" % (i, quoted, a, b, answer))
    mc = os.path.join(out, "proverbs-mc.bin")
    data, _ = mc_file(pairs, 32, 23)
    open(mc, "wb").write(data)

    common = ["-m", model, "-c", "1024", "-t", "2", "-np", "8"]
    expected = {"model": "Tests/PipelineTests/Fixtures/tiny-eval-f16.gguf", "runs": []}
    # The same on llama-quantize's Q4_0 of the model (an artifact the evaluate stage scores).
    tmp = tempfile.mkdtemp()
    q4 = os.path.join(tmp, "tiny-eval-Q4_0.gguf")
    subprocess.run([sys.executable, os.path.join(oracle, "quantize_ref.py"), model, q4, "Q4_0"], check=True, capture_output=True)
    runs = [("hellaswag", hs, ["--hellaswag", "-f", hs, "--hellaswag-tasks"], [40, 25]),
            ("winogrande", wg, ["--winogrande", "-f", wg, "--winogrande-tasks"], [0, 20]),
            ("multiple-choice", mc, ["--multiple-choice", "-bf", mc, "--multiple-choice-tasks"], [0, 20])]
    items = {"winogrande": 30, "multiple-choice": 32}  # lines 0 (header), 31 (the quoted one) and 33 (the last) are not items
    runs += [("hellaswag", hs, ["--hellaswag", "-f", hs, "--hellaswag-tasks"], [40], q4),
             ("winogrande", wg, ["--winogrande", "-f", wg, "--winogrande-tasks"], [0], q4)]
    for kind, path, args, limits, *artifact in runs:
        for limit in limits:
            cmd = [perplexity] + common + args + [str(limit)]
            if artifact:
                cmd[cmd.index(model)] = artifact[0]
            # llama-perplexity writes its log from a thread that may not have printed the last
            # lines when the process exits: run again until every item's line is there.
            for attempt in range(8):
                log = run(cmd)
                rows = len(re.findall(r"^\d+\t[0-9.]+(?:%\t\[.*|\t.*)?$", log, re.M))
                if rows == (limit or items[kind]):
                    break
            else:
                sys.exit("llama-perplexity printed %d item lines, not %d:\n%s" % (rows, limit or items[kind], log[-3000:]))
            entry = {"kind": kind, "file": os.path.basename(path), "limit": limit or None,
                     "command": " ".join(cmd).replace(perplexity, "llama-perplexity").replace(repo + "/", "").replace(out + "/", "").replace(tmp + "/", "")}
            if artifact:
                entry["artifact"] = "Q4_0"
                entry["artifact_sha256"] = hashlib.sha256(open(q4, "rb").read()).hexdigest()
                entry["command"] = "quantize_ref.py tiny-eval-f16.gguf tiny-eval-Q4_0.gguf Q4_0; " + entry["command"]
            if kind == "winogrande":
                rows = re.findall(r"^(\d+)\t([0-9.]+)\t\s*(-?[0-9.]+|-?nan|-?inf)\s+(-?[0-9.]+|-?nan|-?inf)\s+(\d)\s+(\d)$", log, re.M)
                entry["correct"] = [r[4] == r[5] for r in rows]
                entry["chosen"] = [int(r[4]) - 1 for r in rows]
                entry["scores"] = [[float(r[2]), float(r[3])] for r in rows]
            elif kind == "hellaswag":
                rows = re.findall(r"^(\d+)\t([0-9.]+)%\t\[", log, re.M)
                entry["correct"] = correct_from_cumulative([(int(n), float(p)) for n, p in rows])
            else:
                rows = re.findall(r"^(\d+)\t([0-9.]+)$", log, re.M)
                entry["correct"] = correct_from_cumulative([(int(n), float(p)) for n, p in rows])
            m = re.search(r"Final (?:Winogrande score\(\d+ tasks\)|result): ([0-9.]+) \+/- ([0-9.]+)", log)
            if m:
                entry["final"] = [float(m.group(1)), float(m.group(2))]
            if not entry["correct"]:
                sys.exit("no per-item lines in llama-perplexity's output:\n" + log[-3000:])
            expected["runs"].append(entry)
    json.dump(expected, open(os.path.join(out, "expected.json"), "w"), indent=1)
    open(os.path.join(out, "expected.json"), "a").write("\n")


if __name__ == "__main__":
    main()
