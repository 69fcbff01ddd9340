/**
 * What `name?` (and Shift+Tab inspection) shows: TypeScript's quick info for the name
 * as plain text (tslab's layout) and as Markdown for front ends that render it
 * (JupyterLab's pager and tooltip): the signature in a `ts` code block — for a class,
 * its constructor's signature, which is what a learner needs to call `new` — then the
 * TSDoc as written (it is Markdown: math, defaults, the PyTorch reference), then
 * `@param`, `@returns`, `@throws` and `@example` sections.
 */

/** The parts of TypeScript's QuickInfo this module reads. */
export interface QuickInfoLike {
  kind?: string;
  displayParts?: { text: string }[];
  documentation?: { text: string }[];
  tags?: { name: string; text?: { text: string }[] }[];
}

const text = (parts: { text: string }[] | undefined) => (parts ?? []).map((p) => p.text).join('');

/** `@param x the input` → `x` and `the input` (TypeScript puts the name first). */
function paramParts(tag: { text?: { text: string }[] }): { name: string; doc: string } {
  const [first, ...rest] = tag.text ?? [];
  const all = text(tag.text).trim();
  if (first && !/\s/.test(first.text.trim()) && rest.length) return { name: first.text.trim(), doc: text(rest).replace(/^\s*-?\s*/, '').trim() };
  const m = /^(\S+)\s+(?:-\s*)?([\s\S]*)$/.exec(all);
  return m ? { name: m[1]!, doc: m[2]!.trim() } : { name: all, doc: '' };
}

/**
 * Markdown for a quick info; `ctor` is the quick info of the same name in a `new`
 * expression (the constructor's signature), used when `info` is a class.
 */
export function quickInfoMarkdown(info: QuickInfoLike, ctor?: QuickInfoLike): string {
  const ctorText = text(ctor?.displayParts);
  const signature = cleanSignature(/\bnew \w|constructor/.test(ctorText) ? ctorText : text(info.displayParts));
  const out: string[] = [];
  if (signature) out.push('```ts\n' + signature + '\n```');
  const doc = links(text(info.documentation).trim());
  if (doc) out.push(doc);
  const after: string[] = [];
  const tags = info.tags ?? [];
  const params = tags.filter((t) => t.name === 'param').map(paramParts);
  if (params.length) out.push('**Parameters**\n\n' + params.map((p) => `- \`${p.name}\`${p.doc ? `: ${p.doc}` : ''}`).join('\n'));
  for (const [name, title] of [['returns', 'Returns'], ['throws', 'Throws'], ['see', 'See also']] as const) {
    const items = tags.filter((t) => t.name === name || (name === 'returns' && t.name === 'return')).map((t) => text(t.text).trim()).filter((s) => s);
    if (items.length) out.push(`**${title}**\n\n` + items.map((s) => (items.length > 1 ? `- ${s}` : s)).join('\n'));
  }
  for (const ex of tags.filter((t) => t.name === 'example')) {
    let body = text(ex.text).replace(/^\n+|\s+$/g, '');
    if (!body) continue;
    // TSDoc runs a tag to the next tag: prose after the example's code (a blank line, then
    // "Reference: ..." or "Introduced in ...") belongs to the description, not the code.
    const prose = /\n\s*\n(?=(?:[A-Z][\w ()-]*:|Introduced in )[^\n]*)/.exec(body);
    if (prose) {
      after.push(links(body.slice(prose.index).trim()));
      body = body.slice(0, prose.index);
    }
    // An example that already has a fence is Markdown; otherwise it is code.
    out.push('**Example**\n\n' + (/^```/m.test(body) ? body : '```ts\n' + body + '\n```'));
  }
  return [...out, ...after].join('\n\n') + '\n';
}

/** `(alias) new Linear(...): X\nexport Linear` → `new Linear(...): X`. */
function cleanSignature(s: string): string {
  return s.replace(/^\(alias\) /, '').replace(/\nexport \S+$/, '').trim();
}

/** `{@link name}` / `{@link name text}` → `` `name` `` / text. */
function links(s: string): string {
  return s.replace(/\{@link(?:code|plain)?\s+([^\s}|]+)(?:[\s|]+([^}]*?))?\s*\}/g, (_, name: string, label?: string) => (label ? label : `\`${name}\``));
}
