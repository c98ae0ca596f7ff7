/**
 * The `post_processor` of a `tokenizer.json`, for one sequence: the ids it puts before and after
 * the text's ids when special tokens are added. TemplateProcessing's `single` template gives
 * them (its special tokens' `ids` from `special_tokens`), ByteLevel adds nothing (it only trims
 * offsets), and a Sequence applies each processor to the result of the one before.
 */
import type { JsonNode } from './json_node.ts';

/** What the post-processor adds around a sequence. */
export interface Template {
  before: number[];
  after: number[];
}

const TYPES = ['TemplateProcessing', 'ByteLevel', 'Sequence'] as const;

/** The template of a `post_processor` node (empty when there is none). */
export function buildTemplate(node: JsonNode): Template {
  if (node.missing) return { before: [], after: [] };
  const type = node.type(TYPES);
  switch (type) {
    case 'ByteLevel':
      return { before: [], after: [] };
    case 'Sequence': {
      const template: Template = { before: [], after: [] };
      for (const inner of node.get('processors').items().map(buildTemplate)) {
        template.before = [...inner.before, ...template.before];
        template.after = [...template.after, ...inner.after];
      }
      return template;
    }
    case 'TemplateProcessing': {
      const specials = node.get('special_tokens');
      const template: Template = { before: [], after: [] };
      let seenSequence = false;
      for (const piece of node.get('single').items()) {
        const special = piece.get('SpecialToken');
        if (!special.missing) {
          const name = special.get('id').string();
          const entry = specials.get(name);
          if (entry.missing) special.get('id').fail(`"${name}" is not in post_processor.special_tokens`);
          const ids = entry
            .get('ids')
            .items()
            .map((id) => id.index());
          (seenSequence ? template.after : template.before).push(...ids);
          continue;
        }
        const sequence = piece.get('Sequence');
        if (sequence.missing) piece.fail('expected {"SpecialToken": ...} or {"Sequence": ...}');
        if (sequence.get('id').string() !== 'A')
          sequence.get('id').fail('the single-sequence template can only hold sequence A');
        if (seenSequence) piece.fail('sequence A appears twice');
        seenSequence = true;
      }
      if (!seenSequence) node.get('single').fail('has no sequence A');
      return template;
    }
  }
}
