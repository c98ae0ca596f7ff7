/**
 * A model's chat template: the Jinja `chat_template` of its `tokenizer_config.json`, rendered
 * with `@huggingface/jinja` (made to agree with jinja2: src/tokenizer/jinja_python.ts) under
 * Hugging Face's `apply_chat_template` conventions. The
 * environment is transformers' (trim_blocks and lstrip_blocks, loop controls, the
 * `raise_exception` and `strftime_now` globals, `tojson` without ASCII escaping); the variables
 * are `messages`, `add_generation_prompt`, `tools` and `documents` (none), and every special
 * token the config names (`bos_token`, `eos_token`, `unk_token`, `pad_token`, ...,
 * `additional_special_tokens`), as transformers passes its special_tokens_map.
 */
import { parse, tokenize } from '@huggingface/jinja';
import { renderPython } from './jinja_python.ts';
import { JsonNode } from './json/json_node.ts';
import type { Tokenizer } from './tokenizer.ts';

/** One message of a conversation (`role` is "system", "user", "assistant", ...). */
export interface ChatMessage {
  role: string;
  content: string;
}

/** The special-token keys of transformers' special_tokens_map, in its order. */
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

/** A parsed chat template with the special-token variables of its config. */
export class ChatTemplate {
  private readonly program: ReturnType<typeof parse>;

  /** `source` and `variables` as fromConfig builds them; a template that does not parse throws, naming `source`. */
  constructor(
    readonly text: string,
    readonly source: string,
    readonly variables: Record<string, unknown>,
  ) {
    try {
      this.program = parse(tokenize(text, { lstrip_blocks: true, trim_blocks: true }));
    } catch (err) {
      throw new Error(`${source}: chat_template does not parse: ${(err as Error).message}`);
    }
  }

  /**
   * The template of a parsed tokenizer_config.json (`source` names it in errors): its
   * `chat_template` string, or from a list of named templates the one named "default"; null
   * when it has none.
   */
  static fromConfig(config: unknown, source: string): ChatTemplate | null {
    const root = new JsonNode(config, source);
    if (!root.isObject()) root.fail('expected a JSON object (a tokenizer_config.json)');
    const entry = root.get('chat_template');
    if (entry.missing) return null;
    let text: string;
    if (Array.isArray(entry.value)) {
      const named = entry.value.find(
        (t) => t !== null && typeof t === 'object' && (t as { name?: unknown }).name === 'default',
      );
      if (!named) entry.fail('a list of templates without one named "default"');
      text = new JsonNode(
        (named as { template?: unknown }).template,
        source,
        `${entry.path}[name=default].template`,
      ).string();
    } else {
      text = entry.string();
    }
    const variables: Record<string, unknown> = {};
    for (const key of SPECIAL_TOKEN_KEYS) {
      const token = root.get(key);
      if (!token.missing) variables[key] = token.isObject() ? token.get('content').string() : token.string();
    }
    const extra = root.get('additional_special_tokens');
    if (Array.isArray(extra.value)) {
      variables.additional_special_tokens = extra.value.map((t, i) => {
        const node = new JsonNode(t, source, `${extra.path}[${i}]`);
        return node.isObject() ? node.get('content').string() : node.string();
      });
    }
    return new ChatTemplate(text, source, variables);
  }

  /**
   * The text of `messages` as apply_chat_template(tokenize=False) gives it; an error the
   * template raises (raise_exception) names the template's source.
   * @example
   * template.render([{ role: 'user', content: 'Hi' }], true);
   * // '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n'
   */
  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return renderPython(this.program, {
        ...this.variables,
        messages,
        add_generation_prompt: addGenerationPrompt,
        tools: null,
        documents: null,
      });
    } catch (err) {
      throw new Error(`${this.source}: chat_template: ${(err as Error).message}`);
    }
  }
}

/** Stands for an assistant message's content while the end-of-turn token is looked for. */
const PROBE = 'wasmformers probe answer';

/**
 * The id of the token that closes an assistant turn: the first special token the template puts
 * after an assistant message's content (`<|eot_id|>` for Llama 3, `<|im_end|>` for Qwen, `</s>`
 * for Llama 2). A special token is one that decoding with skip_special_tokens leaves out, or the
 * EOS. Throws, naming the template, when there is none.
 */
export function endOfTurnId(template: ChatTemplate, tok: Tokenizer): number {
  const text = template.render(
    [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: PROBE },
    ],
    false,
  );
  const at = text.lastIndexOf(PROBE);
  if (at < 0)
    throw new Error(
      `${template.source}: chat_template leaves out the assistant's content, so its end-of-turn token cannot be found`,
    );
  for (const id of tok.encode(text.slice(at + PROBE.length), { bos: false, eos: false })) {
    if (id === tok.eosId || (tok.decode([id], { skipSpecialTokens: true }) === '' && tok.decode([id]) !== ''))
      return id;
  }
  throw new Error(
    `${template.source}: chat_template puts no special token after the assistant's content (no end-of-turn token)`,
  );
}

/**
 * The ids of `prompt` as one user message followed by the generation prompt, tokenized as
 * apply_chat_template(tokenize=True) does: without adding special tokens, so that the BOS is
 * there only if the template writes it.
 */
export function chatPromptIds(template: ChatTemplate, tok: Tokenizer, prompt: string): number[] {
  return tok.encode(template.render([{ role: 'user', content: prompt }], true), { bos: false, eos: false });
}
