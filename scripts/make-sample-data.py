#!/usr/bin/python3
"""Writes the sample data that ships in samples/: a plain-text corpus about FineTune Lab (to pretrain the tiny sample
base model from scratch), a chat fine-tuning set about FineTune Lab's features, a held-out test set, and preference
pairs for DPO (polite chosen vs rude rejected answers). Deterministic: the same script writes the same bytes (no
clock, fixed seed), so CI can check that the committed files are what this script produces.

usage: make-sample-data.py OUT_DIR
"""
import json
import random
import sys
from pathlib import Path

# Facts, one topic each: (topic, question phrasings, answer sentences). Answers are short so a tiny model can learn them.
FACTS = [
    ("lora", ["What is LoRA?", "How does LoRA fine-tuning work?", "Explain LoRA in FineTune Lab."],
     ["LoRA trains two small matrices beside each frozen weight.", "The base model stays frozen, so training needs little memory.",
      "FineTune Lab saves LoRA adapters in the PEFT layout."]),
    ("qlora", ["What is QLoRA?", "How can I fine-tune a big model on a small GPU?", "Does FineTune Lab support QLoRA?"],
     ["QLoRA keeps the frozen base weights in 4-bit NF4.", "The adapters still train in full precision.",
      "Set method to qlora in the job spec."]),
    ("budget", ["How do budgets work?", "Can a job stop when it reaches its budget?", "What happens when my budget runs out?"],
     ["Each job can have a budget in dollars or hours.", "Before the budget is crossed, the coordinator orders a checkpoint and a stop.",
      "You can resume the job later with a higher budget."]),
    ("cost", ["How is cost computed?", "How much does my job cost?", "Where do I see the cost of a run?"],
     ["Cost is the node price per hour times the time the job held the node.", "The API shows spent, rate and projected cost for every job.",
      "The dashboard draws the cost over time."]),
    ("dashboard", ["What does the dashboard show?", "Can I watch a run live?", "Where do I see the loss curve?"],
     ["The dashboard shows live loss curves, GPU graphs and logs.", "Charts update as each training step arrives.",
      "You can download checkpoints and the training package from the job page."]),
    ("agent", ["What is the agent?", "How do GPU nodes join?", "What runs on a GPU node?"],
     ["The agent runs on each GPU node and talks to the coordinator over gRPC.", "It samples GPU use through NVML every second.",
      "It runs each training job as a child process."]),
    ("coordinator", ["What does the coordinator do?", "Who schedules the jobs?", "How are jobs placed on nodes?"],
     ["The coordinator schedules jobs onto agents and tracks their cost.", "The cheapest node that fits the job wins.",
      "A job that fits no node waits in the queue with the reason."]),
    ("checkpoint", ["How do checkpoints work?", "What if a node dies during training?", "Can a run resume?"],
     ["Checkpoints hold the adapter, the optimizer state and the data position.", "Every checkpoint file has a SHA-256 in its manifest.",
      "A lost node's job resumes on another node from its last checkpoint."]),
    ("dataset", ["How do I check my dataset?", "What data formats are supported?", "How do I find problems in my training data?"],
     ["Run ftl-train data check on your JSONL file.", "It reports each bad line with its line number.",
      "Chat, prompt and completion, and preference formats are supported."]),
    ("dpo", ["What is DPO?", "Can I train on thumbs up and thumbs down?", "How do I use preference data?"],
     ["DPO trains the model to prefer the chosen answer over the rejected one.", "Give pairs with a prompt, a chosen and a rejected answer.",
      "Set method to dpo in the job spec."]),
    ("tokenizer", ["Which tokenizers are supported?", "Does FineTune Lab match Hugging Face tokenization?", "How are prompts tokenized?"],
     ["FineTune Lab reads tokenizer.json files directly.", "Its tokens match Hugging Face tokenizers id for id.",
      "Chat templates come from tokenizer_config.json."]),
    ("cpu", ["Can I train without a GPU?", "Does it run on CPU?", "What if my machine has no NVIDIA driver?"],
     ["Yes, the trainer runs on CPU as well as on NVIDIA GPUs.", "The CPU backend uses SIMD and all cores.",
      "Small models fine-tune on a laptop in minutes."]),
    ("export", ["How do I get my fine-tuned model?", "Can I merge the adapter?", "What files does a run produce?"],
     ["The final adapter is written in the PEFT layout.", "ftl-train export can merge the adapter into the base model.",
      "Checkpoints, events and the adapter are in the output folder."]),
    ("memory", ["Will my job fit in GPU memory?", "How much memory does training need?", "What is the memory plan?"],
     ["ftl-train plan predicts the peak memory of a job.", "It counts weights, gradients, optimizer state and activations.",
      "If the job does not fit, it says which setting to change."]),
]

SYSTEM = "You are the FineTune Lab assistant. Answer in one or two short sentences."
GREETINGS = ["", "Hi! ", "Hello. ", "Quick question: "]
# The preference pairs' styles: remarks a helpful assistant makes, and rude ones it should not. The last
# HELD_OUT_REMARKS of each list appear only in the held-out pairs, so their accuracy measures the style learned, not a
# remark memorized.
POLITE_OPENERS = ["Happy to help! ", "Good question. ", "Thanks for asking. ", "Glad you asked! ",
                  "Happy to explain, thanks for asking. ", "Good question, happy to help! "]
POLITE_CLOSERS = [" Hope that helps!", " Let me know if you need more.", " Have a great day!", " Glad to help.",
                  " Thanks, and happy training!", " Hope that helps, have a great day!"]
RUDE_OPENERS = ["Ugh, read the docs yourself. ", "Stop asking me this. ", "Whatever, it is obvious. ", "Not this again. ",
                "Ugh, not this obvious question again. ", "Stop asking, it is obvious. "]
RUDE_CLOSERS = [" Now leave me alone.", " Figure out the rest yourself.", " Do not bother me again.", " Obviously, duh.",
                " Stop bothering me, figure it out yourself.", " Leave me alone, do not bother me again."]
HELD_OUT_REMARKS = 2


def answer(rng, sentences):
    picked = sentences[:]
    rng.shuffle(picked)
    return " ".join(picked[:2])


def main():
    out = Path(sys.argv[1])
    (out / "data").mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261121)

    # Pretraining corpus: every fact sentence in many orders, plus question/answer prose.
    lines = []
    for _ in range(60):
        for topic, questions, sentences in FACTS:
            s = sentences[:]
            rng.shuffle(s)
            lines.append(" ".join(s))
            lines.append(f"Q: {rng.choice(questions)} A: {answer(rng, sentences)}")
    rng.shuffle(lines)
    (out / "data" / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    # Chat sets: the last phrasing of each topic is held out for the test set.
    train, test = [], []
    for topic, questions, sentences in FACTS:
        for i, q in enumerate(questions):
            target = test if i == len(questions) - 1 else train
            copies = 2 if target is test else 12
            for _ in range(copies):
                messages = []
                if rng.random() < 0.5:
                    messages.append({"role": "system", "content": SYSTEM})
                if target is train and rng.random() < 0.3:
                    other = rng.choice(FACTS)
                    messages.append({"role": "user", "content": rng.choice(other[1][:-1])})
                    messages.append({"role": "assistant", "content": answer(rng, other[2])})
                messages.append({"role": "user", "content": rng.choice(GREETINGS) + q})
                messages.append({"role": "assistant", "content": answer(rng, sentences)})
                target.append({"messages": messages})
    rng.shuffle(train)
    rng.shuffle(test)

    # Preference pairs: both sides give the same correct answer to the prompt; the chosen one says it politely, the
    # rejected one rudely (a remark before or after the answer, in the same place on both sides). Politeness is a
    # property the held-out pairs share (new question phrasings, new answer combinations, remarks not seen in training
    # but made of the words the training remarks use), so a DPO run's held-out preference accuracy can rise; "answers
    # the asked topic" (rejected = an answer to another prompt) could not be learned from a few hundred pairs by the
    # tiny model.
    prefs_train, prefs_test = [], []
    for topic, questions, sentences in FACTS:
        for i, q in enumerate(questions):
            target = prefs_test if i == len(questions) - 1 else prefs_train
            for _ in range(2 if target is prefs_test else 6):
                text = answer(rng, sentences)
                pool = slice(-HELD_OUT_REMARKS, None) if target is prefs_test else slice(None, -HELD_OUT_REMARKS)

                def pick(remarks):
                    return rng.choice(remarks[pool])

                if rng.random() < 0.5:
                    chosen, rejected = pick(POLITE_OPENERS) + text, pick(RUDE_OPENERS) + text
                else:
                    chosen, rejected = text + pick(POLITE_CLOSERS), text + pick(RUDE_CLOSERS)
                target.append({"prompt": rng.choice(GREETINGS) + q, "chosen": chosen, "rejected": rejected})
    rng.shuffle(prefs_train)
    rng.shuffle(prefs_test)

    def write_jsonl(name, rows):
        with open(out / "data" / name, "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

    write_jsonl("train.jsonl", train)
    write_jsonl("test.jsonl", test)
    write_jsonl("preferences.train.jsonl", prefs_train)
    write_jsonl("preferences.test.jsonl", prefs_test)


if __name__ == "__main__":
    main()
