/**
 * kernel/lazydoc.ts: declaration files' documentation comments parsed when first read.
 *
 * The reference is TypeScript itself: every declaration file a kernel start reads (the
 * `lib.*.d.ts` files, `@types/node`) and gradlab's own, parsed and bound eagerly
 * (GRADLAB_KERNEL_LAZY_JSDOC=0) and lazily by the same patched TypeScript, must give the
 * same trees: every node's kind, position and flags (the `Deprecated` flag included), and
 * every documentation comment, tag and link, once read.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vm from 'vm';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import Module = require('module');
import type * as TS from 'typescript';
import { typeScriptText } from '../kernel/converter';
import { LAZY_JSDOC_FIXES, patchSource } from '../kernel/lazydoc';
import { ROOT } from './helpers/child';

const tslabDir = path.dirname(require.resolve('tslab/package.json'));
const TS_FILE = require.resolve('@tslab/typescript-for-tslab', { paths: [tslabDir] });

/** TypeScript with the internals the test uses (present at run time, not in its public typings). */
type TypeScript = typeof TS & { bindSourceFile(file: TS.SourceFile, options: TS.CompilerOptions): void; setParentRecursive(node: TS.Node, incremental: boolean): void };

/** A fresh instance of tslab's TypeScript with the kernel's fixes (not the one the kernel tests share). */
function patchedTypeScript(): TypeScript {
  const m = new Module(TS_FILE, module);
  m.filename = TS_FILE;
  m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(path.dirname(TS_FILE));
  const fn = new vm.Script((Module as unknown as { wrap(src: string): string }).wrap(typeScriptText(TS_FILE)), { filename: TS_FILE }).runInThisContext() as (...args: unknown[]) => void;
  fn.call(m.exports, m.exports, Module.createRequire(TS_FILE), m, TS_FILE, path.dirname(TS_FILE));
  return m.exports as TypeScript;
}

function withLazyDocs<T>(on: boolean, f: () => T): T {
  const saved = process.env.GRADLAB_KERNEL_LAZY_JSDOC;
  process.env.GRADLAB_KERNEL_LAZY_JSDOC = on ? '1' : '0';
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.GRADLAB_KERNEL_LAZY_JSDOC;
    else process.env.GRADLAB_KERNEL_LAZY_JSDOC = saved;
  }
}

function declarationFiles(): string[] {
  const lib = path.join(path.dirname(TS_FILE));
  const libs = fs.readdirSync(lib).filter((f) => /^lib\.es20\d\d.*\.d\.ts$|^lib\.es5\.d\.ts$/.test(f)).map((f) => path.join(lib, f));
  const nodeTypes = path.join(ROOT, 'node_modules', '@types', 'node');
  const node = fs.readdirSync(nodeTypes, { recursive: true }).map(String).filter((f) => f.endsWith('.d.ts')).map((f) => path.join(nodeTypes, f));
  const dist = path.join(ROOT, 'dist', 'src');
  const own = fs.readdirSync(dist, { recursive: true }).map(String).filter((f) => f.endsWith('.d.ts')).map((f) => path.join(dist, f));
  assert.ok(own.some((f) => f.endsWith(path.join('nn', 'index.d.ts'))), `gradlab's declaration files are missing under ${dist} (run npm run build)`);
  return [...libs, ...node, ...own];
}

describe('kernel: declaration files\' documentation comments parsed when first read (kernel/lazydoc.ts)', function () {
  this.timeout(120_000);
  let ts: TypeScript;
  let DEPRECATED: number;
  before(() => {
    ts = patchedTypeScript();
    DEPRECATED = (ts.NodeFlags as unknown as { Deprecated: number }).Deprecated;
    assert.equal(typeof DEPRECATED, 'number');
  });

  it('the fixes apply to tslab\'s TypeScript exactly once each', () => {
    const source = fs.readFileSync(TS_FILE, 'utf8');
    for (const [anchor] of LAZY_JSDOC_FIXES) assert.equal(source.split(anchor).length, 2, `fix anchor not found exactly once:\n${anchor.slice(0, 200)}`);
    assert.ok(patchSource(source, LAZY_JSDOC_FIXES)!.length > source.length);
    assert.equal(patchSource('not typescript', LAZY_JSDOC_FIXES), undefined);
  });

  it('gives the same trees and comments as parsing them eagerly, for every declaration file a kernel start reads', () => {
    const files = declarationFiles();
    assert.ok(files.length > 80, `only ${files.length} declaration files found`);
    const parseBound = (file: string, lazy: boolean) =>
      withLazyDocs(lazy, () => {
        const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), { languageVersion: ts.ScriptTarget.ES2022 });
        ts.bindSourceFile(sf, { target: ts.ScriptTarget.ES2022 });
        return sf;
      });
    let lazyNodes = 0;
    let comments = 0;
    let deprecated = 0;
    for (const file of files) {
      const eager = parseBound(file, false);
      const lazy = parseBound(file, true);
      const describe = (node: TS.Node, isLazy: boolean): string => {
        const parts: string[] = [];
        const visit = (n: TS.Node, depth: number, parent: TS.Node | undefined): void => {
          if (isLazy) {
            const own = Object.getOwnPropertyDescriptor(n, 'jsDoc');
            if (own?.get) lazyNodes++;
          }
          if (parent && n.parent !== parent) parts.push(`!parent ${n.kind}@${n.pos}`);
          if (n.flags & DEPRECATED) deprecated += isLazy ? 1 : 0;
          const text = ts.isIdentifier(n) ? ` ${n.escapedText as string}` : '';
          const comment = 'comment' in n && (n as { comment?: unknown }).comment !== undefined ? ` c=${JSON.stringify(ts.getTextOfJSDocComment((n as unknown as { comment: string }).comment))}` : '';
          parts.push(`${' '.repeat(depth)}${n.kind} ${n.pos}-${n.end} f${n.flags}${text}${comment}`);
          const docs = (n as { jsDoc?: TS.JSDoc[] }).jsDoc;
          if (docs) {
            for (const d of docs) {
              if (isLazy) comments++;
              parts.push(`${' '.repeat(depth)}doc`);
              visit(d, depth + 1, n);
            }
          }
          ts.forEachChild(n, (c) => visit(c, depth + 1, n));
        };
        visit(node, 0, undefined);
        return parts.join('\n');
      };
      const want = describe(eager, false);
      const got = describe(lazy, true);
      if (got !== want) {
        const a = want.split('\n');
        const b = got.split('\n');
        const i = a.findIndex((line, k) => line !== b[k]);
        assert.fail(`${file}: lazily parsed comments differ from eager ones at line ${i}:\n  eager: ${a[i]}\n  lazy:  ${b[i]}`);
      }
    }
    // The laziness was in effect (not two eager parses compared), and @deprecated stayed eager.
    assert.ok(lazyNodes > 3000, `only ${lazyNodes} nodes had lazy comments`);
    assert.ok(comments > 3000, `only ${comments} comments read`);
    assert.ok(deprecated > 50, `only ${deprecated} deprecated declarations`);
  });

  it('a lazy comment read before the file is bound, or while a tree\'s parents are set, stays lazy and reads right afterwards', () => {
    const text = '/** The answer, {@link Other}.\n * @param x a number\n * @returns its double */\ndeclare function f(x: number): number;\ninterface Other {}\n';
    const sf = withLazyDocs(true, () => ts.createSourceFile('/virtual/a.d.ts', text, { languageVersion: ts.ScriptTarget.ES2022 }));
    const fn = sf.statements[0] as TS.FunctionDeclaration & { jsDoc?: TS.JSDoc[] };
    assert.ok(Object.getOwnPropertyDescriptor(fn, 'jsDoc')?.get, 'the comment is lazy');
    assert.equal(fn.jsDoc, undefined, 'no parent chain yet: nothing to parse from');
    ts.bindSourceFile(sf, { target: ts.ScriptTarget.ES2022 });
    assert.ok(Object.getOwnPropertyDescriptor(fn, 'jsDoc')?.get, 'binding left it lazy');
    ts.setParentRecursive(sf, false);
    assert.ok(Object.getOwnPropertyDescriptor(fn, 'jsDoc')?.get, 'setting parents left it lazy');
    const docs = fn.jsDoc!;
    assert.equal(docs.length, 1);
    assert.equal(docs[0].parent, fn);
    const eager = withLazyDocs(false, () => ts.createSourceFile('/virtual/b.d.ts', text, { languageVersion: ts.ScriptTarget.ES2022 }));
    ts.bindSourceFile(eager, { target: ts.ScriptTarget.ES2022 });
    const eagerDocs = (eager.statements[0] as { jsDoc?: TS.JSDoc[] }).jsDoc!;
    assert.match(ts.getTextOfJSDocComment(docs[0].comment)!, /^The answer, \{@link Other ?\}\.$/);
    assert.equal(ts.getTextOfJSDocComment(docs[0].comment), ts.getTextOfJSDocComment(eagerDocs[0].comment));
    assert.deepEqual(docs[0].tags!.map((t) => [t.tagName.escapedText, t.parent === docs[0]]), [['param', true], ['returns', true]]);
    assert.equal(Object.getOwnPropertyDescriptor(fn, 'jsDoc')?.value, docs, 'read once, kept');
    assert.equal(ts.getJSDocReturnTag(fn)?.tagName.escapedText, 'returns');
    // A cell (not a declaration file) keeps eager comments.
    const cell = withLazyDocs(true, () => ts.createSourceFile('/virtual/cell.ts', text.replace('declare ', '').replace(';', ' { return 2 * x; }'), { languageVersion: ts.ScriptTarget.ES2022 }));
    assert.ok(Object.getOwnPropertyDescriptor(cell.statements[0], 'jsDoc')?.value, 'a .ts file parses its comments at once');
  });
});
