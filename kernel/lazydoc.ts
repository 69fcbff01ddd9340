/**
 * Documentation comments of declaration files parsed when first read, not when the file is.
 *
 * TypeScript 5.0 (tslab's copy) parses every `/** ... *\/` comment of every file it reads into
 * JSDoc nodes while parsing the file. A kernel start reads about 150 declaration files (the
 * `lib.*.d.ts` files and `@types/node`, 2.5 MB, most of it documentation), and an
 * `import * as gl from 'gradlab'` about 800 more; their comments are read again only when a
 * learner asks for a name's documentation (`gl.nn.Linear?`, completion details). TypeScript 5.3
 * added `jsDocParsingMode` to skip them; 5.0 has no such option, so these fixes make the comments
 * of declaration files (`.d.ts`) lazy: the node gets an accessor, and the first read of `node.jsDoc`
 * after the file is bound parses exactly the comments an eager parse would have (the same ranges of
 * the same text, by the same JSDoc parser, in the context its node was parsed in), sets their
 * parents, and replaces the accessor with the result.
 *
 * What stays eager, because the type checker reads it while checking: a comment holding
 * `@deprecated` (the parser turns it into the node's `Deprecated` flag, which the checker and
 * completions read), and every comment of a file that is not a declaration file (a cell: its
 * `@see` / `@link` names count as uses of imports). Reads while a file is being parsed, or while
 * TypeScript walks a tree to set parent pointers (`setParentRecursive`), answer undefined and leave
 * the comment lazy: neither needs documentation, and parsing then would clobber the parser's state.
 *
 * Measured on a 2-core VM (six alternating starts each, session creation for a first cell `1 + 1`):
 * 1045 ms against 1159 ms with `GRADLAB_KERNEL_LAZY_JSDOC=0`, which turns the laziness off for the
 * files a process parses.
 *
 * {@link patchSource} is injected as text into the startup snapshot's entry (kernel/snapshot.ts),
 * so it must not use anything outside itself.
 */
import * as crypto from 'crypto';

/** Each fix: text of tslab's TypeScript 5.0 that must occur exactly once, and its replacement. */
export const LAZY_JSDOC_FIXES: [string, string][] = [
  // The parser: a declaration file's comments without `@deprecated` get the lazy accessor.
  [
    `        function addJSDocComment(node) {
          Debug.assert(!node.jsDoc);
          const jsDoc = mapDefined(getJSDocCommentRanges(node, sourceText), (comment) => JSDocParser.parseJSDocComment(node, comment.pos, comment.end - comment.pos));
          if (jsDoc.length)
            node.jsDoc = jsDoc;`,
    `        let gradlabLazyDocs = false;
        const gradlabLazyDocsAccessor = {
          configurable: true,
          enumerable: false,
          get() {
            const docs = gradlabParseLazyDocs(this);
            if (docs === void 0) return void 0;
            Object.defineProperty(this, "jsDoc", { value: docs.length ? docs : void 0, writable: true, configurable: true, enumerable: true });
            return this.jsDoc;
          },
          set(value) {
            Object.defineProperty(this, "jsDoc", { value, writable: true, configurable: true, enumerable: true });
          }
        };
        function gradlabParseLazyDocs(node) {
          if (sourceText !== void 0 || gradlabParentWalks > 0) return void 0;
          let file = node;
          while (file && file.kind !== 308 /* SourceFile */) file = file.parent;
          if (!file || typeof file.text !== "string") return void 0;
          initializeState(file.fileName, file.text, file.languageVersion, void 0, 3 /* TS */);
          contextFlags = node.flags & 50720768 /* ContextFlags */;
          try {
            const docs = mapDefined(getJSDocCommentRanges(node, sourceText), (comment) => JSDocParser.parseJSDocComment(node, comment.pos, comment.end - comment.pos));
            for (const doc of docs) setParentRecursive(doc, false);
            return docs;
          } finally {
            hasDeprecatedTag = false;
            clearState();
          }
        }
        function gradlabNoDeprecatedTag(range) {
          const at = sourceText.indexOf("@deprecated", range.pos);
          return at < 0 || at >= range.end;
        }
        function addJSDocComment(node) {
          Debug.assert(!node.jsDoc);
          const ranges = getJSDocCommentRanges(node, sourceText);
          if (gradlabLazyDocs && ranges && ranges.length > 0 && ranges.every(gradlabNoDeprecatedTag)) {
            Object.defineProperty(node, "jsDoc", gradlabLazyDocsAccessor);
            return node;
          }
          const jsDoc = mapDefined(ranges, (comment) => JSDocParser.parseJSDocComment(node, comment.pos, comment.end - comment.pos));
          if (gradlabLazyDocs)
            for (const doc of jsDoc) setParentRecursive(doc, false);
          if (jsDoc.length)
            node.jsDoc = jsDoc;`,
  ],
  // The parser: which files are lazy (declaration files, unless GRADLAB_KERNEL_LAZY_JSDOC=0).
  [
    `          if (isDeclarationFile) {
            contextFlags |= 16777216 /* Ambient */;
          }
          sourceFlags = contextFlags;`,
    `          if (isDeclarationFile) {
            contextFlags |= 16777216 /* Ambient */;
          }
          gradlabLazyDocs = isDeclarationFile && !(typeof process === "object" && process.env && process.env.GRADLAB_KERNEL_LAZY_JSDOC === "0");
          sourceFlags = contextFlags;`,
  ],
  [
    `          processCommentPragmas(sourceFile, sourceText);
          processPragmasIntoFields(sourceFile, reportPragmaDiagnostic);`,
    `          if (gradlabLazyDocs)
            sourceFile.gradlabLazyJSDoc = true;
          processCommentPragmas(sourceFile, sourceText);
          processPragmasIntoFields(sourceFile, reportPragmaDiagnostic);`,
  ],
  [
    `        function clearState() {
          scanner2.clearCommentDirectives();`,
    `        function clearState() {
          gradlabLazyDocs = false;
          scanner2.clearCommentDirectives();`,
  ],
  // Walks that set parent pointers read every node's comments: leave lazy ones lazy.
  [
    `  function setParentRecursive(rootNode, incremental) {
    if (!rootNode)
      return rootNode;
    forEachChildRecursively(rootNode, isJSDocNode(rootNode) ? bindParentToChildIgnoringJSDoc : bindParentToChild);
    return rootNode;`,
    `  var gradlabParentWalks = 0;
  function setParentRecursive(rootNode, incremental) {
    if (!rootNode)
      return rootNode;
    gradlabParentWalks++;
    try {
      forEachChildRecursively(rootNode, isJSDocNode(rootNode) ? bindParentToChildIgnoringJSDoc : bindParentToChild);
    } finally {
      gradlabParentWalks--;
    }
    return rootNode;`,
  ],
  // The binder: a lazy file's comments got their parents when parsed (eager ones) or get them when read.
  [
    `    function bindJSDoc(node) {
      if (hasJSDocNodes(node)) {
        if (isInJSFile(node)) {`,
    `    function bindJSDoc(node) {
      if (file.gradlabLazyJSDoc)
        return;
      if (hasJSDocNodes(node)) {
        if (isInJSFile(node)) {`,
  ],
];

/** Names the fixes (for cache keys: a changed fix makes a new code cache and snapshot). */
export const LAZY_JSDOC_KEY = crypto.createHash('sha1').update(JSON.stringify(LAZY_JSDOC_FIXES)).digest('hex').slice(0, 12);

/**
 * `source` with every fix applied in order, or undefined when a fix's text does not occur exactly once in
 * `source` (another version of the file). Also applies tslab's converter fixes (kernel/converter.ts) and
 * the snapshot's parse hook (kernel/snapshot.ts).
 */
export function patchSource(source: string, fixes: [string, string][]): string | undefined {
  for (const [anchor] of fixes) if (source.split(anchor).length !== 2) return undefined;
  return fixes.reduce((text, [anchor, fix]) => text.replace(anchor, () => fix), source);
}
