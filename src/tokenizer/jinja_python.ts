/**
 * `@huggingface/jinja` made to agree with Python's jinja2 where they differ on what chat
 * templates use (test/tokenizer/chat_template.test.ts compares both): `==` and `!=` compare as
 * Python does (JavaScript's loose `"\n " == false` is true; Python's `"\n " == False` is not);
 * `str.strip/lstrip/rstrip` and the `trim` filter take Python's `chars` argument and strip
 * Python's whitespace (which has U+001C..U+001F and U+0085 but not U+FEFF); printed values and
 * `~` go through Python's str() (`True`, `None`, `['a', 1]`, `{'role': 'user'}`); strings are
 * measured and indexed by code point; `capitalize` title-cases the first character. The fixes
 * are hooks on one Interpreter instance, not changes to the library's classes; the globals are
 * those of transformers' environment. What the library lacks (`'a' * 3`, the `format`, `round`
 * and `center` builtins, one-item tuples) stays an error; a printed `dict.items()` still shows
 * its pairs as lists.
 */
import { Environment, Interpreter, type parse } from '@huggingface/jinja';

type Program = ReturnType<typeof parse>;

/** The interpreter's runtime values and AST nodes, as far as the hooks look at them. */
interface Value {
  type: string;
  value: unknown;
}
interface Node {
  type: string;
  value?: unknown;
  operator?: { value: string };
  left?: Node;
  right?: Node;
  callee?: Node;
  object?: Node;
  property?: Node;
  computed?: boolean;
  args?: Node[];
}

/** The interpreter's internal methods the hooks wrap (private in its typings). */
interface Hooks {
  evaluate(node: Node, env: Environment): Value;
  evaluateBlock(statements: Node[], env: Environment): Value;
  evaluateMemberExpression(node: Node, env: Environment): Value;
  evaluateBinaryExpression(node: Node, env: Environment): Value;
  evaluateCallExpression(node: Node, env: Environment): Value;
  evaluateArguments(args: Node[], env: Environment): [Value[], Map<string, Value>];
  applyFilter(operand: Value, filter: Node, env: Environment): Value;
}

/** Python's str.isspace() characters. */
const PY_SPACE = new Set(
  '\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000',
);

/** Python's s.strip(chars) (`left`/`right` pick lstrip/rstrip); chars null strips whitespace. */
export function pyStrip(s: string, chars: string | null, left = true, right = true): string {
  const drop = chars === null ? PY_SPACE : new Set(chars);
  const points = Array.from(s);
  let start = 0,
    end = points.length;
  if (left) while (start < end && drop.has(points[start])) start++;
  if (right) while (end > start && drop.has(points[end - 1])) end--;
  return points.slice(start, end).join('');
}

const NUMERIC = new Set(['IntegerValue', 'FloatValue', 'BooleanValue']);

/** Python's `a == b` on runtime values. */
function pyEquals(a: Value, b: Value): boolean {
  if (NUMERIC.has(a.type) && NUMERIC.has(b.type)) return Number(a.value) === Number(b.value);
  if (a.type !== b.type) return false;
  if (a.type === 'NullValue' || a.type === 'UndefinedValue') return true;
  if (a.type === 'ArrayValue') {
    const x = a.value as Value[],
      y = b.value as Value[];
    return x.length === y.length && x.every((v, i) => pyEquals(v, y[i]));
  }
  if (a.type === 'ObjectValue') {
    const x = a.value as Map<string, Value>,
      y = b.value as Map<string, Value>;
    return x.size === y.size && [...x].every(([k, v]) => y.has(k) && pyEquals(v, y.get(k)!));
  }
  return a.value === b.value;
}

/** A runtime value of a plain JavaScript value (through Environment.set, which converts it). */
function runtime(value: unknown): Value {
  const scratch = new Environment();
  scratch.set('v', value);
  return scratch.lookupVariable('v') as unknown as Value;
}

const STRIPS: Record<string, [boolean, boolean]> = {
  strip: [true, true],
  lstrip: [true, false],
  rstrip: [false, true],
};

/** Python's strftime on the local time, for the codes chat templates use. */
function strftimeNow(format: string): string {
  const d = new Date();
  const months = [
    'January',
    'February',
    'March',
    'April',
    'May',
    'June',
    'July',
    'August',
    'September',
    'October',
    'November',
    'December',
  ];
  const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  const two = (n: number) => String(n).padStart(2, '0');
  const codes: Record<string, () => string> = {
    Y: () => String(d.getFullYear()),
    y: () => two(d.getFullYear() % 100),
    m: () => two(d.getMonth() + 1),
    d: () => two(d.getDate()),
    B: () => months[d.getMonth()],
    b: () => months[d.getMonth()].slice(0, 3),
    A: () => days[d.getDay()],
    a: () => days[d.getDay()].slice(0, 3),
    H: () => two(d.getHours()),
    M: () => two(d.getMinutes()),
    S: () => two(d.getSeconds()),
    '%': () => '%',
  };
  return format.replace(/%(.)/g, (all, code: string) => codes[code]?.() ?? all);
}

/** An environment with transformers' globals and the given variables. */
function environment(variables: Record<string, unknown>): Environment {
  const env = new Environment();
  const globals: Record<string, unknown> = {
    true: true,
    false: false,
    none: null,
    True: true,
    False: false,
    None: null,
    raise_exception: (message: unknown) => {
      throw new Error(String(message));
    },
    strftime_now: strftimeNow,
    range: (start: number, stop?: number, step = 1) => {
      if (stop === undefined) [start, stop] = [0, start];
      if (step === 0) throw new Error('range() arg 3 must not be zero');
      const out: number[] = [];
      for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
      return out;
    },
  };
  for (const [key, value] of Object.entries({ ...globals, ...variables })) env.set(key, value);
  return env;
}

/** The statements whose value is not printed (a `{{ }}` expression's is, as Python's str() writes it). */
const STATEMENTS = new Set([
  'If',
  'For',
  'Break',
  'Continue',
  'Set',
  'Macro',
  'Comment',
  'FilterStatement',
  'CallStatement',
]);

/** Python's repr() of a string. */
function pyReprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  const escaped = s.replace(/[\\\n\r\t]|[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?! )\p{Zs}/gu, (c) => {
    const simple: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    if (simple[c]) return simple[c];
    const code = c.codePointAt(0)!;
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : code < 0x10000
        ? `\\u${code.toString(16).padStart(4, '0')}`
        : `\\U${code.toString(16).padStart(8, '0')}`;
  });
  return quote + (quote === "'" ? escaped.replaceAll("'", "\\'") : escaped) + quote;
}

/** Python's str() of a runtime value (repr() inside lists and dicts); `repr` asks for repr(). */
function pyStr(v: Value, repr = false): string {
  switch (v.type) {
    case 'StringValue':
      return repr ? pyReprString(v.value as string) : (v.value as string);
    case 'BooleanValue':
      return v.value ? 'True' : 'False';
    case 'NullValue':
      return 'None';
    case 'UndefinedValue':
      return '';
    case 'ArrayValue':
      return `[${(v.value as Value[]).map((x) => pyStr(x, true)).join(', ')}]`;
    case 'TupleValue': {
      const items = (v.value as Value[]).map((x) => pyStr(x, true));
      return `(${items.join(', ')}${items.length === 1 ? ',' : ''})`;
    }
    case 'ObjectValue':
      return `{${[...(v.value as Map<string, Value>)].map(([k, x]) => `${pyReprString(k)}: ${pyStr(x, true)}`).join(', ')}}`;
    default:
      return String(v);
  }
}

/** Title case where it is not the upper case of one character: the Latin digraphs. */
const DIGRAPH_TITLE: Record<string, string> = {
  Ǆ: 'ǅ',
  ǅ: 'ǅ',
  ǆ: 'ǅ',
  Ǉ: 'ǈ',
  ǈ: 'ǈ',
  ǉ: 'ǈ',
  Ǌ: 'ǋ',
  ǋ: 'ǋ',
  ǌ: 'ǋ',
  Ǳ: 'ǲ',
  ǲ: 'ǲ',
  ǳ: 'ǲ',
};

/**
 * Python's str.capitalize(): the first character in title case (a ligature such as "ﬁ", whose
 * upper case is several letters, gives "Fi"), the rest lower-cased.
 */
function pyCapitalize(s: string): string {
  const [first = '', ...rest] = Array.from(s);
  const [head = '', ...tail] = Array.from(first.toUpperCase());
  return (DIGRAPH_TITLE[first] ?? head + tail.join('').toLowerCase()) + rest.join('').toLowerCase();
}

/** The name of a filter node (`trim` or `trim(...)`), or undefined. */
function filterName(node: Node): unknown {
  if (node.type === 'Identifier') return node.value;
  return node.type === 'CallExpression' && node.callee!.type === 'Identifier' ? node.callee!.value : undefined;
}

/**
 * Puts the Python behaviours on one interpreter: `==`/`!=`, `~` and printing through str(),
 * strip/lstrip/rstrip/capitalize methods and the trim/capitalize/length filters on strings,
 * and a string's characters indexed by code point.
 */
function pythonHooks(hooks: Hooks): void {
  const {
    evaluateBinaryExpression: binary,
    evaluateCallExpression: call,
    applyFilter: filter,
    evaluateMemberExpression: member,
  } = hooks;
  const charsArg = (args: Value[]) => (args[0]?.type === 'StringValue' ? (args[0].value as string) : null);
  hooks.evaluateBlock = (statements, env) => {
    let out = '';
    for (const statement of statements) {
      const value = hooks.evaluate(statement, env);
      if (!STATEMENTS.has(statement.type)) out += pyStr(value);
      else if (value.type !== 'NullValue' && value.type !== 'UndefinedValue') out += String(value);
    }
    return runtime(out);
  };
  hooks.evaluateBinaryExpression = function (node, env) {
    const op = node.operator!.value;
    if (op !== '==' && op !== '!=' && op !== '~') return binary.call(this, node, env);
    const [left, right] = [hooks.evaluate(node.left!, env), hooks.evaluate(node.right!, env)];
    if (op === '~') return runtime(pyStr(left) + pyStr(right));
    const equal = pyEquals(left, right);
    return runtime(op === '==' ? equal : !equal);
  };
  hooks.evaluateCallExpression = function (node, env) {
    const callee = node.callee!;
    const method = callee.type === 'MemberExpression' && !callee.computed ? (callee.property!.value as string) : '';
    if (!Object.hasOwn(STRIPS, method) && method !== 'capitalize') return call.call(this, node, env);
    const object = hooks.evaluate(callee.object!, env);
    if (object.type !== 'StringValue') return call.call(this, node, env);
    if (method === 'capitalize') return runtime(pyCapitalize(object.value as string));
    const [args] = hooks.evaluateArguments(node.args!, env);
    return runtime(pyStrip(object.value as string, charsArg(args), ...STRIPS[method]));
  };
  hooks.applyFilter = function (operand, node, env) {
    const name = filterName(node);
    if (operand.type !== 'StringValue' || (name !== 'trim' && name !== 'capitalize' && name !== 'length'))
      return filter.call(this, operand, node, env);
    const text = operand.value as string;
    if (name === 'length') return runtime(Array.from(text).length);
    if (name === 'capitalize') return runtime(pyCapitalize(text));
    return runtime(
      pyStrip(text, charsArg(node.type === 'CallExpression' ? hooks.evaluateArguments(node.args!, env)[0] : [])),
    );
  };
  hooks.evaluateMemberExpression = function (node, env) {
    if (!node.computed || node.property!.type === 'SliceExpression') return member.call(this, node, env);
    const object = hooks.evaluate(node.object!, env);
    if (object.type !== 'StringValue') return member.call(this, node, env);
    const index = hooks.evaluate(node.property!, env);
    if (index.type !== 'IntegerValue') return member.call(this, node, env);
    const chars = Array.from(object.value as string);
    const at = chars.at(index.value as number);
    return runtime(at);
  };
}

/** Renders a parsed template with `variables`, as Python's jinja2 would under transformers' settings. */
export function renderPython(program: Program, variables: Record<string, unknown>): string {
  const interpreter = new Interpreter(environment(variables));
  pythonHooks(interpreter as unknown as Hooks);
  return (interpreter.run(program) as unknown as Value).value as string;
}
