#!/usr/bin/python3
"""Reference renderings of chat templates with Python's jinja2, set up exactly as transformers'
apply_chat_template sets it up (chat_template_utils._compile_jinja_template / render_jinja_template):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols]; GenerationBlock below plays AssistantTracker),
its own tojson filter (json.dumps, ensure_ascii=False), raise_exception and strftime_now globals, and the
special tokens of tokenizer_config.json passed as variables next to messages/tools/documents.

usage: chat_template_ref.py --cases CASES.json [--config tokenizer_config.json] [--template-name NAME]
                            [--now 2026-11-21T12:34:56]
CASES.json is a list of {"messages": [...], "add_generation_prompt": bool, "tools": ..., "documents": ...,
"kwargs": {...}, "template": "optional template text that replaces the config's"}.
Prints a JSON list with {"text": rendering} or {"error": "ExceptionType: message"} per case.
"""
import argparse
import datetime
import json
import sys

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

SPECIAL_TOKEN_NAMES = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]


class GenerationBlock(Extension):
    """transformers' AssistantTracker as it behaves when no assistant mask is requested: {% generation %} renders its
    body through a call block (so a set inside does not leak out)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def make_env(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return now.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def config_template(config, name):
    t = config.get("chat_template")
    if isinstance(t, list):
        wanted = name or "default"
        for entry in t:
            if entry["name"] == wanted:
                return entry["template"]
        raise SystemExit(f"no chat template named {wanted}")
    return t


def special_tokens(config):
    out = {}
    for key in SPECIAL_TOKEN_NAMES:
        v = config.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        if isinstance(v, str):
            out[key] = v
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", required=True)
    ap.add_argument("--config")
    ap.add_argument("--template-name")
    ap.add_argument("--now", default="2026-11-21T12:34:56")
    args = ap.parse_args()

    config = {}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            config = json.load(f)
    with open(args.cases, encoding="utf-8") as f:
        cases = json.load(f)
    env = make_env(datetime.datetime.fromisoformat(args.now))
    default_template = config_template(config, args.template_name) if config else None
    tokens = special_tokens(config)

    results = []
    for case in cases:
        source = case.get("template", default_template)
        try:
            template = env.from_string(source)
            variables = dict(tokens)
            variables.update(case.get("kwargs", {}))
            text = template.render(messages=case.get("messages", []), tools=case.get("tools"),
                                   documents=case.get("documents"),
                                   add_generation_prompt=case.get("add_generation_prompt", False), **variables)
            results.append({"text": text})
        except Exception as e:  # the test compares failures too: both sides must refuse the same input
            results.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
