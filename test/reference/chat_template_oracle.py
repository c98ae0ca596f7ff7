#!/usr/bin/python3
"""Python's jinja2 (Debian python3-jinja2) as the chat-template oracle.

usage: chat_template_oracle.py < cases.jsonl > texts.jsonl

The first input line is {"template": TEXT, "variables": {...}}: the template and the variables
every rendering gets (the special tokens). Each further line is {"messages": [...],
"add_generation_prompt": bool}; the script prints the rendered text of each as a JSON string.

The environment is set up the way Hugging Face's apply_chat_template describes its own: an
immutable sandbox with trim_blocks and lstrip_blocks, the loop-controls extension, a tojson
filter that keeps non-ASCII characters as they are (json.dumps with ensure_ascii=False, and the
indent, separators and sort_keys options), and the globals raise_exception (raises with the
message) and strftime_now (the local time, formatted). tools and documents are None.
"""
import json
import sys
from datetime import datetime

from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    lines = iter(sys.stdin)
    head = json.loads(next(lines))
    template = environment().from_string(head["template"])
    variables = head["variables"]
    for line in lines:
        if not line.strip():
            continue
        case = json.loads(line)
        try:
            text = template.render(messages=case["messages"], add_generation_prompt=case["add_generation_prompt"],
                                   tools=None, documents=None, **variables)
            print(json.dumps(text, ensure_ascii=False))
        except TemplateError as err:
            print(json.dumps({"error": str(err)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
