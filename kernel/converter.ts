/**
 * tslab's converter (its type checker and transpiler), with one fix:
 * an object-literal shorthand that names a variable of an earlier cell.
 *
 * tslab compiles each cell as a module and rewrites every identifier that
 * refers to an earlier cell's declaration into `exports.<name>` (its
 * `wrapPrevIdentifier` transformer). It asks the checker for the identifier's
 * symbol, and for the name of a shorthand property (`{ a }`) the checker
 * answers with the *property*, not the variable, so the name stays bare and
 * the cell throws `ReferenceError: a is not defined` at run time:
 *
 * ```ts
 * const a = 1;          // cell 1
 * const o = { a };      // cell 2: ReferenceError with plain tslab 1.0.22
 * ```
 *
 * The fix rewrites such a shorthand into `a: exports.a` (and `{ a = 1 } = o`
 * into `{ a: exports.a = 1 } = o`), asking the checker for the shorthand's
 * *value* symbol (`getShorthandAssignmentValueSymbol`).
 *
 * A second fix: a property name is never a variable. In `const { c: cc } = o`
 * the checker resolves `c` to the property of `o`'s type, declared in the
 * earlier cell, so tslab turned it into `exports.c` and the cell failed with
 * `SyntaxError: Identifier 'exports' has already been declared`. The names of
 * binding elements (`{ c: cc }`) and of property assignments (`{ c: 1 }`) are
 * now left as they are.
 *
 * A third fix: tslab drives TypeScript's watch program with a hand-made timer
 * that it runs during the next conversion, and threw `Unexpected pending
 * rebuildTimer` when a watched file changed twice between two cells (it happens
 * when files under node_modules or dist/ are rewritten, deleted or hard-linked
 * while the kernel runs). The error escaped from a file-watcher callback; with
 * tfjs-backend-wasm loaded (its Emscripten glue rethrows uncaught exceptions)
 * it killed the kernel. Now a second request replaces the pending rebuild (the
 * debouncing TypeScript asks for), and clearing a timer that already ran is a
 * no-op, as with Node's own `clearTimeout`.
 *
 * A fourth change: the converter emits source maps (see `MAP_OPTION_FIX`) and
 * `convert` returns them as `sourceMaps`, so that kernel/cellmap.ts can show a
 * runtime error at the cell's own line and column.
 *
 * Start-up: TypeScript's compiler (tslab's copy, about 9 MB of JavaScript) is
 * loaded with a V8 code cache (see {@link loadTypeScript}), so that a kernel
 * start does not compile it again (about 0.2 s of the start to the first result).
 *
 * The fixes are applied to the converter's source when the kernel loads it; if
 * tslab's source ever changes so that one no longer applies, the kernel warns
 * once on stderr and runs unpatched (test/kernel-units.test.ts fails on that,
 * so an upgrade cannot drop the fixes silently).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vm from 'vm';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import Module = require('module');
import { LAZY_JSDOC_FIXES, LAZY_JSDOC_KEY, patchSource } from './lazydoc';

type ConverterModule = typeof import('tslab/dist/converter');

/** The first lines of tslab's `wrapPrevIdentifier`, where the fix goes in front. */
const WRAP_ANCHOR = `function wrapPrevIdentifier(node) {
            var _a, _b;
            if (!ts.isIdentifier(node)) {`;

/** Shorthand properties naming an earlier cell's variable become `name: exports.name`; property names stay. */
const WRAP_FIX = `function wrapPrevIdentifier(node) {
            var _a, _b;
            if (ts.isShorthandPropertyAssignment(node)) {
                const valueSymbol = checker.getShorthandAssignmentValueSymbol(node);
                const fromPrev = ((valueSymbol === null || valueSymbol === void 0 ? void 0 : valueSymbol.declarations) || []).some((d) => d.getSourceFile() === declsFile);
                if (fromPrev) {
                    const access = ts.factory.createPropertyAccessExpression(ts.factory.createIdentifier("exports"), node.name.text);
                    const init = node.objectAssignmentInitializer;
                    return ts.factory.createPropertyAssignment(node.name.text, init ? ts.factory.createAssignment(access, ts.visitNode(init, wrapPrevIdentifier)) : access);
                }
            }
            if (ts.isIdentifier(node) && node.parent && ((ts.isBindingElement(node.parent) && node.parent.propertyName === node) || (ts.isPropertyAssignment(node.parent) && node.parent.name === node))) {
                return node;
            }
            if (!ts.isIdentifier(node)) {`;

/** tslab's fake timer: a second request while one is pending threw. */
const TIMER_ANCHOR = `        if (rebuildTimer) {
            throw new Error("Unexpected pending rebuildTimer");
        }`;
const TIMER_FIX = `        if (rebuildTimer) {
            // gradlab: a second file change before the pending rebuild ran: keep one pending
            // rebuild (same id, so TypeScript's clearTimeout still finds it), with the latest callback.
            rebuildTimer.callback = () => {
                callback();
                rebuildTimer = null;
            };
            return rebuildTimer;
        }`;
const CLEAR_ANCHOR = `        throw new Error("clearing unexpected tiemr");`;
const CLEAR_FIX = `        // gradlab: clearing a timer that already ran (or never existed) does nothing, as in Node.
        return;`;

/**
 * Source maps: the type checker's emit writes `__tslab__.js.map` (cell, with
 * tslab's `export {};` line in front -> ES module), the CommonJS step writes a
 * second map (ES module -> the JavaScript that runs); `convert` returns both
 * as `sourceMaps: [commonJsMap, esModuleMap]` (kernel/cellmap.ts composes them).
 */
const MAP_OPTION_ANCHOR = `        declaration: true,`;
const MAP_OPTION_FIX = `        declaration: true,
        // gradlab: source maps, to show runtime errors at the cell's own lines.
        sourceMap: true,`;
const MAP_LET_ANCHOR = `        let output;
        let declOutput;`;
const MAP_LET_FIX = `        let output;
        let outputMap;
        let declOutput;`;
const MAP_EMIT_ANCHOR = `                if (fileName === dstFilename) {`;
const MAP_EMIT_FIX = `                if (fileName === dstFilename + ".map") {
                    outputMap = data;
                    return;
                }
                if (fileName === dstFilename) {`;
const MAP_RETURN_ANCHOR = `            output: esModuleToCommonJSModule(output, transpileTarget),`;
const MAP_RETURN_FIX = `            ...(gradlabDirect ? gradlabDirectOutput(output, outputMap) : gradlabToCommonJS(output, outputMap, transpileTarget)),`;

/**
 * Speed (the warm path): tslab emits each cell as an ES module and then converts that text to
 * CommonJS with a second `ts.transpileModule` (a fresh program and type checker per cell: about
 * 2-3 ms of a 5 ms conversion). Instead, the cell's own emit now runs TypeScript's CommonJS module
 * transformer (`ts.transformModule`, the one `transpileModule` runs) right after tslab's
 * transformers, on the same tree and with the type checker the cell was checked with, so the emit
 * writes CommonJS and one source map (cell -> JavaScript that runs). Other files a cell imports
 * (side outputs) keep tslab's two steps. `GRADLAB_KERNEL_TWO_STEP=1` restores the two steps for
 * the cell too (to compare).
 */
const DIRECT_LET_ANCHOR = `        let lastExpressionVar;
        let sideOutputs;`;
const DIRECT_LET_FIX = `        let lastExpressionVar;
        let sideOutputs;
        let gradlabDirect = false;`;
const DIRECT_EMIT_ANCHOR = `            }, undefined, undefined, getCustomTransformers(builder.getProgram().getTypeChecker(), declsFile, keys, (name) => {
                lastExpressionVar = name;
            }));`;
const DIRECT_EMIT_FIX = `            }, undefined, undefined, gradlabWithCommonJS(dep === srcFilename && gradlabDirectEnabled() && (gradlabDirect = true), getCustomTransformers(builder.getProgram().getTypeChecker(), declsFile, keys, (name) => {
                lastExpressionVar = name;
            })));`;
/** The declaration files the program read (what a startup snapshot parses ahead: kernel/snapshot.ts). */
const FILES_ANCHOR = `    return {
        close,
        convert,`;
const FILES_FIX = `    return {
        gradlabMemoHits: () => gradlabMemoHits,
        gradlabDeclarationFiles: () => builder.getProgram().getSourceFiles().filter((f) => f.isDeclarationFile && f.fileName !== gradlabGlobalsFilename).map((f) => f.fileName),
        close,
        convert,`;
const MAP_FN_ANCHOR = `exports.esModuleToCommonJSModule = esModuleToCommonJSModule;`;
const MAP_FN_FIX = `exports.esModuleToCommonJSModule = esModuleToCommonJSModule;
/** gradlab: esModuleToCommonJSModule, keeping both source maps (and no sourceMappingURL comments). */
function gradlabToCommonJS(js, esMap, target) {
    if (typeof js !== "string" || typeof esMap !== "string") {
        return { output: esModuleToCommonJSModule(js, target) };
    }
    const noUrl = (text) => text.replace(/\\n\\/\\/# sourceMappingURL=[^\\n]*\\s*$/, "\\n");
    const r = ts.transpileModule(noUrl(js), {
        fileName: "custom.js",
        compilerOptions: {
            module: ts.ModuleKind.CommonJS,
            esModuleInterop: true,
            target,
            newLine: ts.NewLineKind.LineFeed,
            noImplicitUseStrict: true,
            sourceMap: true,
        },
    });
    return { output: noUrl(r.outputText), sourceMaps: [r.sourceMapText, esMap] };
}
/** gradlab: whether the cell's emit writes CommonJS itself (see DIRECT_LET_FIX in kernel/converter.ts). */
function gradlabDirectEnabled() {
    return process.env.GRADLAB_KERNEL_TWO_STEP !== "1" && typeof ts.transformModule === "function";
}
/** gradlab: tslab's transformers, then TypeScript's CommonJS module transformer (when direct). */
function gradlabWithCommonJS(direct, transformers) {
    if (!direct) {
        return transformers;
    }
    const commonJS = (context) => {
        // The program's options say module ESNext; the transformer reads the module kind from them.
        const options = { ...context.getCompilerOptions(), module: ts.ModuleKind.CommonJS };
        const ctx = Object.create(context, { getCompilerOptions: { value: () => options } });
        return ts.transformModule(ctx);
    };
    return { ...transformers, after: [...(transformers.after || []), commonJS] };
}
/** gradlab: the cell's CommonJS emit and its one source map (no sourceMappingURL comment). */
function gradlabDirectOutput(js, map) {
    if (typeof js !== "string") {
        return { output: js };
    }
    const output = js.replace(/\\n\\/\\/# sourceMappingURL=[^\\n]*\\s*$/, "\\n");
    return typeof map === "string" ? { output, sourceMaps: [map] } : { output };
}`;

/**
 * The kernel's own globals for the type checker: `prompt()` (kernel/kernel.ts installs it, the
 * browser's signature) is declared whatever a cell imports, in a virtual root file of the program
 * (not parsed ahead by the startup snapshot: it is not on disk).
 */
const GLOBALS_DECL_ANCHOR = `function createConverter(options) {`;
const GLOBALS_DECL_FIX = `/** gradlab: declarations of the kernel's globals (a script, so they are global). */
const GRADLAB_KERNEL_GLOBALS = "/** Ask the front end for a line of input (the kernel's input_request); null when none is given. */\\n" +
    "declare function prompt(message?: string, defaultValue?: string): string | null;\\n";
function createConverter(options) {`;
const GLOBALS_ROOT_ANCHOR = `    const rootFiles = new Set([declFilename, srcFilename]);`;
const GLOBALS_ROOT_FIX = `    const gradlabGlobalsFilename = (0, tspath_1.normalizeJoin)(cwd, "__gradlab_globals__.d.ts");
    // gradlab: the last conversion, kept for the same cell in the same program (see MEMO_GET_ANCHOR).
    let gradlabMemo = null;
    let gradlabMemoHits = 0;
    const rootFiles = new Set([declFilename, srcFilename, gradlabGlobalsFilename]);`;
const GLOBALS_READ_ANCHOR = `        if (virtualFiles.has(path)) {
            return virtualFiles.get(path);
        }`;
const GLOBALS_READ_FIX = `        if (virtualFiles.has(path)) {
            return virtualFiles.get(path);
        }
        if (path === gradlabGlobalsFilename) {
            return GRADLAB_KERNEL_GLOBALS;
        }`;
const GLOBALS_EXISTS_ANCHOR = `        return virtualFiles.has(path);`;
const GLOBALS_EXISTS_FIX = `        return virtualFiles.has(path) || path === gradlabGlobalsFilename;`;

/**
 * Speed (a cell with new source): tslab's watch program makes an incremental "builder" program
 * per cell (`createEmitAndSemanticDiagnosticsBuilderProgram`), whose bookkeeping resolves the
 * imports of every file of the program (166 declaration files) again each time, with the type
 * checker: about a third of a new cell's conversion, measured. tslab uses none of what that
 * bookkeeping is for (it asks for the diagnostics of the cell and its local imports only, and
 * emits the cell only). The watch program now makes a plain `ts.createProgram` per cell (reusing
 * the old program's files, as the builder did) behind the few builder methods tslab and the watch
 * program call; a cell's local dependencies come from the program's resolved modules.
 * `GRADLAB_KERNEL_BUILDER=1` restores the builder (to compare).
 */
const PLAIN_ANCHOR = `    }, sys, null, function (d) {
        console.log(d.messageText);`;
const PLAIN_FIX = `    }, sys, gradlabProgramFactory(), function (d) {
        console.log(d.messageText);`;
const PLAIN_FN_ANCHOR = `function getAllSrcDependencies(builder, sourceFile) {`;
const PLAIN_FN_FIX = `/** gradlab: how the watch program makes a program per cell (see PLAIN_ANCHOR in kernel/converter.ts); null: tslab's builder. */
function gradlabProgramFactory() {
    if (process.env.GRADLAB_KERNEL_BUILDER === "1") {
        return null;
    }
    return (rootNames, options, host, oldBuilder, configFileParsingDiagnostics, projectReferences) => {
        const oldProgram = oldBuilder && oldBuilder.getProgramOrUndefined();
        const program = ts.createProgram({
            rootNames: rootNames || (oldProgram ? oldProgram.getRootFileNames() : []),
            options: options || (oldProgram ? oldProgram.getCompilerOptions() : {}),
            host,
            oldProgram,
            configFileParsingDiagnostics,
            projectReferences,
        });
        // Bind every file now, as the builder's bookkeeping did: tslab reads the cell's locals right after.
        program.getTypeChecker();
        return gradlabPlainBuilder(program);
    };
}
/** gradlab: a program behind the builder methods that tslab and the watch program call. */
function gradlabPlainBuilder(program) {
    return {
        getProgram: () => program,
        getProgramOrUndefined: () => program,
        releaseProgram: () => undefined,
        getCompilerOptions: () => program.getCompilerOptions(),
        getSourceFile: (fileName) => program.getSourceFile(fileName),
        getSourceFiles: () => program.getSourceFiles(),
        getConfigFileParsingDiagnostics: () => program.getConfigFileParsingDiagnostics(),
        getOptionsDiagnostics: (token) => program.getOptionsDiagnostics(token),
        getGlobalDiagnostics: (token) => program.getGlobalDiagnostics(token),
        getSyntacticDiagnostics: (file, token) => program.getSyntacticDiagnostics(file, token),
        getDeclarationDiagnostics: (file, token) => program.getDeclarationDiagnostics(file, token),
        getSemanticDiagnostics: (file, token) => program.getSemanticDiagnostics(file, token),
        emit: (file, writeFile, token, emitOnlyDts, transformers) => program.emit(file, writeFile, token, emitOnlyDts, transformers),
        getCurrentDirectory: () => program.getCurrentDirectory(),
        getAllDependencies: (file) => gradlabAllDependencies(program, file),
    };
}
/**
 * gradlab: the files \`file\` depends on (itself included), following resolved imports and
 * /// references: what the builder's getAllDependencies gives for a module, as file names.
 */
function gradlabAllDependencies(program, file) {
    const seen = new Set([file.fileName]);
    const queue = [file];
    while (queue.length) {
        const f = queue.pop();
        const next = [];
        if (f.resolvedModules) {
            f.resolvedModules.forEach((r) => {
                if (r && r.resolvedModule) {
                    next.push(r.resolvedModule.resolvedFileName);
                }
            });
        }
        for (const ref of f.referencedFiles) {
            next.push(ts.resolveTripleslashReference(ref.fileName, f.fileName));
        }
        for (const name of next) {
            const dep = program.getSourceFile(name);
            if (dep && !seen.has(dep.fileName)) {
                seen.add(dep.fileName);
                queue.push(dep);
            }
        }
    }
    return Array.from(seen);
}
function getAllSrcDependencies(builder, sourceFile) {`;

/**
 * Speed (a cell run again): converting a cell is a pure function of its source, the declarations
 * of earlier cells and the program (the files the type checker read). After TypeScript's watch
 * program has synchronized (it keeps the same program object when no file changed), a cell whose
 * source and earlier declarations are those of the last conversion, in that same program, gets
 * the last conversion's result back instead of being checked and emitted again: the notebook's
 * "run the plot cell again" case. A cell that declares something changes the declarations and so
 * never repeats; a file that changed on disk makes a new program; a conversion that emitted a local
 * import, or found type errors, is not kept. `GRADLAB_KERNEL_MEMO=0` turns it off (to compare).
 */
const MEMO_GET_ANCHOR = `        asMutable(srcFile).parent = declsFile;
        const diag = convertDiagnostics(getPreEmitDiagnosticsWithDependencies(builder, srcFile));`;
const MEMO_GET_FIX = `        if (gradlabMemo && gradlabMemo.builder === builder && process.env.GRADLAB_KERNEL_MEMO !== "0" && gradlabMemo.src === src && gradlabMemo.prevDecl === prevDecl) {
            gradlabMemoHits++;
            return { ...gradlabMemo.result };
        }
        asMutable(srcFile).parent = declsFile;
        const diag = convertDiagnostics(getPreEmitDiagnosticsWithDependencies(builder, srcFile));`;
const MEMO_PUT_ANCHOR = `        declOutput += remainingDecls(builder.getProgram().getTypeChecker(), srcFile, declsFile);
        return {`;
const MEMO_PUT_FIX = `        declOutput += remainingDecls(builder.getProgram().getTypeChecker(), srcFile, declsFile);
        return gradlabRemember(prevDecl, src, builder, {`;
const MEMO_END_ANCHOR = `            lastExpressionVar,
        };
    }
    function getTypeRoots() {`;
const MEMO_END_FIX = `            lastExpressionVar,
        });
    }
    /** gradlab: keep a conversion for the same cell in the same program (see MEMO_GET_ANCHOR in kernel/converter.ts). */
    function gradlabRemember(prevDecl, src, builder, result) {
        gradlabMemo = process.env.GRADLAB_KERNEL_MEMO !== "0" && !result.sideOutputs && !result.diagnostics.length
            ? { prevDecl, src, builder, result: { ...result } }
            : null;
        return result;
    }
    function getTypeRoots() {`;

/**
 * Speed (a kernel start): TypeScript's watch program watches two folder trees (the type roots and the
 * places an import was looked up in vain) recursively; on Linux it walks each tree and watches every
 * folder in it, about 0.12 s of a start here. Those watchers are made after the session's first cell
 * instead (`gradlabStartWatches`, called by kernel/session.ts), each reporting its folder changed
 * once, so that what changed there meanwhile (a file an import looked for in vain, made since) is
 * looked up again at the next cell. File watchers (the files the program read, a cell's local
 * imports) are made at once, as before.
 */
const WATCH_ANCHOR = `    const sys = Object.create(ts.sys);
    sys.getCurrentDirectory = function () {`;
const WATCH_FIX = `    const sys = Object.create(ts.sys);
    sys.watchDirectory = gradlabDeferredWatch((...args) => ts.sys.watchDirectory(...args));
    sys.getCurrentDirectory = function () {`;
const WATCH_FN_ANCHOR = `function createConverter(options) {`;
const WATCH_FN_FIX = `/** gradlab: folder watchers asked for before the first cell, made by gradlabStartWatches (see WATCH_ANCHOR in kernel/converter.ts). */
const gradlabPendingWatches = [];
// GRADLAB_KERNEL_WATCH=eager: make them at once, as tslab does (for comparison: npm run bench -- kernel).
let gradlabWatchesStarted = process.env.GRADLAB_KERNEL_WATCH === "eager";
function gradlabDeferredWatch(make) {
    return (...args) => {
        if (gradlabWatchesStarted) {
            return make(...args);
        }
        let real;
        let closed = false;
        gradlabPendingWatches.push(() => {
            if (!closed) {
                real = make(...args);
                // Report the folder changed once: what changed in it before it was watched (a file
                // an import looked for in vain, made since) is looked up again at the next cell.
                args[1](args[0]);
            }
        });
        return {
            close() {
                closed = true;
                if (real) {
                    real.close();
                }
            },
        };
    };
}
/** gradlab: make the folder watchers asked for so far, and from now on make them at once. */
function gradlabStartWatches() {
    gradlabWatchesStarted = true;
    for (const make of gradlabPendingWatches.splice(0)) {
        make();
    }
}
exports.gradlabStartWatches = gradlabStartWatches;
function createConverter(options) {`;

/** Each fix: the text it replaces (which must occur exactly once) and the replacement. */
const FIXES: [string, string][] = [
  [WRAP_ANCHOR, WRAP_FIX],
  [TIMER_ANCHOR, TIMER_FIX],
  [CLEAR_ANCHOR, CLEAR_FIX],
  [MAP_OPTION_ANCHOR, MAP_OPTION_FIX],
  [MAP_LET_ANCHOR, MAP_LET_FIX],
  [MAP_EMIT_ANCHOR, MAP_EMIT_FIX],
  [MAP_RETURN_ANCHOR, MAP_RETURN_FIX],
  [MAP_FN_ANCHOR, MAP_FN_FIX],
  [DIRECT_LET_ANCHOR, DIRECT_LET_FIX],
  [DIRECT_EMIT_ANCHOR, DIRECT_EMIT_FIX],
  [FILES_ANCHOR, FILES_FIX],
  [GLOBALS_DECL_ANCHOR, GLOBALS_DECL_FIX],
  [GLOBALS_ROOT_ANCHOR, GLOBALS_ROOT_FIX],
  [GLOBALS_READ_ANCHOR, GLOBALS_READ_FIX],
  [GLOBALS_EXISTS_ANCHOR, GLOBALS_EXISTS_FIX],
  [PLAIN_ANCHOR, PLAIN_FIX],
  [PLAIN_FN_ANCHOR, PLAIN_FN_FIX],
  [MEMO_GET_ANCHOR, MEMO_GET_FIX],
  [MEMO_PUT_ANCHOR, MEMO_PUT_FIX],
  [MEMO_END_ANCHOR, MEMO_END_FIX],
  [WATCH_ANCHOR, WATCH_FIX],
  // After GLOBALS_DECL_FIX, which ends with the same line.
  [WATCH_FN_ANCHOR, WATCH_FN_FIX],
];

/**
 * Where the code cache lives: `GRADLAB_KERNEL_CACHE`, else the user's own cache folder
 * (`$XDG_CACHE_HOME/gradlab/kernel`, `~/.cache/gradlab/kernel`), not a folder other users
 * can write to: V8 trusts a code cache it accepts. Created with mode 0700. Deleting it is
 * always safe (the next kernel start writes it again).
 */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GRADLAB_KERNEL_CACHE) return env.GRADLAB_KERNEL_CACHE;
  const base = env.XDG_CACHE_HOME || path.join(os.homedir() || os.tmpdir(), '.cache');
  return path.join(base, 'gradlab', 'kernel');
}

let tsCache: { script: vm.Script; file: string; needsWrite: boolean } | undefined;

/** The cache file of one compiler file: named by its path, size and time, and by Node's version and architecture. */
function cacheFileFor(file: string, dir: string): string {
  const st = fs.statSync(file);
  const key = [file, st.size, st.mtimeMs, process.version, process.arch, 'ascii', LAZY_JSDOC_KEY].join('\0');
  return path.join(dir, `typescript-${crypto.createHash('sha1').update(key).digest('hex').slice(0, 16)}.v8cache`);
}

/**
 * JavaScript source with every character outside ASCII written as a `\uXXXX` escape, as a
 * one-byte string. The same program (an escape means the same character in a string, a regular
 * expression or a name, and a comment is a comment), but V8 keeps a source with even one
 * character above U+00FF as two bytes per character: TypeScript 5.0's 8 MB file has five (typographic
 * quotes and arrows in comments), which made it a 16 MB string that V8 reads, hashes and compiles
 * functions from more slowly. Measured here: reading 59 ms instead of 110, compiling with the
 * code cache 65 ms instead of 90, and building a first program and type checker 1.1 s instead of 1.45.
 */
export function asciiSource(source: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = source.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return Buffer.from(escaped, 'latin1').toString('latin1');
}

/** Whether this process's user owns `file` and nobody else can write it (what runs as code must be: TypeScript's copy, a snapshot). */
export function ownedPrivately(file: string): boolean {
  const st = fs.statSync(file);
  return (typeof process.getuid !== 'function' || st.uid === process.getuid()) && (st.mode & 0o022) === 0;
}

/**
 * TypeScript's own text with gradlab's fixes: escaped to ASCII ({@link asciiSource}), and with
 * declaration files' documentation comments parsed lazily (kernel/lazydoc.ts; left out, with a
 * warning, when the fixes do not apply to this TypeScript).
 */
export function typeScriptText(file: string): string {
  const escaped = asciiSource(fs.readFileSync(file, 'utf8'));
  const lazy = patchSource(escaped, LAZY_JSDOC_FIXES);
  if (lazy === undefined) process.stderr.write(`gradlab kernel: TypeScript (${file}) is not the version gradlab patches; declaration files' documentation comments are parsed eagerly (a slower start)\n`);
  return lazy ?? escaped;
}

/**
 * TypeScript's source ({@link typeScriptText}): from a copy kept beside the code cache (same key,
 * `.ascii.js`, mode 0600 in a folder only this user can write; read as Latin-1, no UTF-8
 * decoding), else made from the file and, when possible, kept for the next start.
 */
function typeScriptSource(file: string, dir: string): string {
  let copy: string | undefined;
  try {
    copy = cacheFileFor(file, dir).replace(/\.v8cache$/, '.ascii.js');
    if (ownedPrivately(dir) && ownedPrivately(copy)) {
      const text = fs.readFileSync(copy, 'latin1');
      markUsed(copy);
      return text;
    }
  } catch {
    // no copy yet
  }
  const source = typeScriptText(file);
  if (copy) {
    const tmp = `${copy}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (ownedPrivately(dir)) {
        fs.writeFileSync(tmp, source, { encoding: 'latin1', mode: 0o600 });
        fs.renameSync(tmp, copy);
        pruneStaleCopies(dir);
      }
    } catch {
      fs.rmSync(tmp, { force: true });
    }
  }
  return source;
}

/** A copy and code cache unused for this long (another tslab, TypeScript patch or Node, since upgraded) is deleted. */
export const STALE_COPY_MS = 7 * 24 * 3600_000;
const DAY_MS = 24 * 3600_000;

/** Mark a copy used (its time, at most once a day), so that {@link pruneStaleCopies} keeps it. */
function markUsed(copy: string): void {
  try {
    const now = Date.now();
    if (now - fs.statSync(copy).mtimeMs > DAY_MS) fs.utimesSync(copy, new Date(now), new Date(now));
  } catch {
    // best effort
  }
}

/**
 * Delete TypeScript copies (`typescript-<key>.ascii.js`, 8 MB) and their code caches (`.v8cache`)
 * whose copy was not used for {@link STALE_COPY_MS}: each upgrade of tslab or Node, and each change of
 * gradlab's fixes, makes a new key, and the old files would stay forever. Called when a new copy is
 * written. Returns the names deleted.
 */
export function pruneStaleCopies(dir: string, now: number = Date.now()): string[] {
  const gone: string[] = [];
  try {
    const names = fs.readdirSync(dir);
    const stale = (name: string) => now - fs.statSync(path.join(dir, name)).mtimeMs > STALE_COPY_MS;
    // A code cache goes with its copy (whose time says when it was last used); one without a copy is an older kernel's.
    const doomed = names.filter((name) => {
      const m = /^(typescript-[0-9a-f]{16})\.(ascii\.js|v8cache)$/.exec(name);
      return m !== null && stale(names.includes(`${m[1]}.ascii.js`) ? `${m[1]}.ascii.js` : name);
    });
    for (const name of doomed) {
      fs.rmSync(path.join(dir, name), { force: true });
      gone.push(name);
    }
  } catch {
    // best effort: a folder that cannot be read keeps its files
  }
  return gone;
}

/**
 * Load tslab's TypeScript (`@tslab/typescript-for-tslab`) into `require.cache`,
 * compiled with the V8 code cache of an earlier kernel start when there is one
 * (V8 checks it and recompiles when it does not fit: `cachedDataRejected`).
 * The cache is written by {@link saveTypeScriptCache} once the type checker
 * has run, so that it holds the functions the start needs. Any failure falls
 * back to a plain `require`. Returns whether a cache was used.
 */
export function loadTypeScript(dir: string = codeCacheDir()): boolean {
  const tslabDir = path.dirname(require.resolve('tslab/package.json'));
  const file = require.resolve('@tslab/typescript-for-tslab', { paths: [tslabDir] });
  if (require.cache[file] || tsCache) return false;
  const snap = (globalThis as { __gradlabSnapshot?: { ts: unknown; tsFile: string } }).__gradlabSnapshot;
  if (snap && snap.tsFile === file) {
    // Started from a startup snapshot (kernel/snapshot.ts): TypeScript is loaded already.
    const m = new Module(file, module);
    m.filename = file;
    m.exports = snap.ts;
    m.loaded = true;
    require.cache[file] = m;
    return true;
  }
  let cachedData: Buffer | undefined;
  let cacheFile: string | undefined;
  try {
    cacheFile = cacheFileFor(file, dir);
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const m = new Module(file, module);
  m.filename = file;
  m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(path.dirname(file));
  try {
    const script = new vm.Script((Module as unknown as { wrap(src: string): string }).wrap(typeScriptSource(file, dir)), { filename: file, cachedData });
    require.cache[file] = m;
    const fn = script.runInThisContext() as (...args: unknown[]) => void;
    fn.call(m.exports, m.exports, Module.createRequire(file), m, file, path.dirname(file));
    m.loaded = true;
    tsCache = { script, file: cacheFile!, needsWrite: cacheFile !== undefined && (!cachedData || script.cachedDataRejected === true) };
    return !!cachedData && !script.cachedDataRejected;
  } catch {
    delete require.cache[file];
    return false;
  }
}

/**
 * Write the code cache of TypeScript (after the first cell: it then holds the
 * compiled functions that building the type checker ran), when the start had
 * none or V8 rejected it. Written to a temporary file and renamed, so that
 * kernels starting together never read half a file. Best effort: errors are ignored.
 */
export function saveTypeScriptCache(): void {
  if (!tsCache?.needsWrite) return;
  tsCache.needsWrite = false;
  const tmp = `${tsCache.file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(tsCache.file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, tsCache.script.createCachedData());
    fs.renameSync(tmp, tsCache.file);
  } catch {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // nothing was written
    }
  }
}

let loaded: { module: ConverterModule; patched: boolean } | undefined;
/** Whether this kernel's TypeScript came from the V8 code cache or a startup snapshot (not compiled from its source). */
let typeScriptFromCache = false;
export function typeScriptWasCached(): boolean {
  return typeScriptFromCache;
}

/**
 * tslab's converter module with the shorthand fix applied (loaded once, and
 * put in `require.cache` so that tslab's own modules get the same copy).
 */
export function converterModule(): { module: ConverterModule; patched: boolean } {
  if (loaded) return loaded;
  const file = require.resolve('tslab/dist/converter');
  if (!require.cache[file]) typeScriptFromCache = loadTypeScript();
  if (require.cache[file]) {
    // Someone loaded the unpatched module first; use it rather than have two copies.
    loaded = { module: require.cache[file]!.exports as ConverterModule, patched: false };
  } else {
    const patched = patchSource(fs.readFileSync(file, 'utf8'), FIXES);
    if (patched === undefined) {
      process.stderr.write(`gradlab kernel: tslab's converter (${file}) is not the version gradlab patches; object shorthands such as { a } that name an earlier cell's variable will fail with ReferenceError (write { a: a }), files changing under the kernel can stop it, and runtime errors show the compiled JavaScript's lines\n`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = { module: require(file) as ConverterModule, patched: false };
    } else {
      const m = new Module(file, module);
      m.filename = file;
      m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(path.dirname(file));
      require.cache[file] = m;
      try {
        (m as unknown as { _compile(src: string, file: string): void })._compile(patched, file);
      } catch (e) {
        delete require.cache[file];
        throw e;
      }
      m.loaded = true;
      loaded = { module: m.exports as ConverterModule, patched: true };
    }
  }
  return loaded;
}
