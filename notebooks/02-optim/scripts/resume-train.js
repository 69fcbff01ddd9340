// @ts-check
/**
 * The training run of notebooks/02-optim/06-reproducibility.ipynb, as a module
 * (the notebook requires it and trains in its own process) and as a program (the
 * notebook spawns it as a child process, kills it and resumes it).
 *
 * The run: the spiral data set (CS231n), an MLP 2 → H → H → 3 with dropout after
 * each hidden layer, AdamW with a warmup + cosine schedule, a shuffling DataLoader,
 * and Gaussian input noise as data augmentation. Every random draw comes from one
 * seed: `gl.data.rng(seed)` is split into the streams of the initial weights, the
 * dropout masks and the augmentation noise, and the loader's seed is drawn from it too.
 *
 * As a program:
 *
 *   node resume-train.js <checkpoint> <total steps> <every> [resume] [pause=<step>]
 *
 * prints `BACKEND <name>`, then `STEP <s> <loss as float32 bits>` after every step,
 * saves a checkpoint every <every> steps (`SAVED <s>`), and prints `DONE` at the end.
 * With `resume` it first loads the checkpoint (`RESUMED <s>`) and continues after its
 * step. With `pause=<s>`, the save at step s stops after its temporary file is
 * complete, just before the rename, prints `PAUSED <s> <temporary path>`, and waits
 * (to be killed: a crash in the middle of a save, made reproducible).
 * The backend is the one GRADLAB_BACKEND names (or gradlab's 'auto' choice).
 * GRADLAB_MODULE, if set, is the path of the gradlab module to load (default 'gradlab').
 */
'use strict';

/** @type {typeof import('gradlab')} */
const gl = require(process.env.GRADLAB_MODULE || 'gradlab');

/** A loss's float32 bits as an unsigned integer (exact comparison of two runs). */
function lossBits(v) {
  return new Uint32Array(new Float32Array([v]).buffer)[0];
}

/** The model: `layers` = Sequential(Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear), named like PyTorch's. */
class Net extends gl.nn.Module {
  /**
   * @param {number} hidden width of the two hidden layers
   * @param {number} p dropout probability
   * @param {import('gradlab').data.Rng} initRng the initial weights' stream
   * @param {import('gradlab').data.Rng} dropRng the dropout masks' stream
   */
  constructor(hidden, p, initRng, dropRng) {
    super();
    const { Linear, ReLU, Dropout, Sequential } = gl.nn;
    this.layers = new Sequential(
      new Linear(2, hidden, { rng: initRng }), new ReLU(), new Dropout(p, { rng: dropRng }),
      new Linear(hidden, hidden, { rng: initRng }), new ReLU(), new Dropout(p, { rng: dropRng }),
      new Linear(hidden, 3, { rng: initRng }),
    );
  }
  /** @returns {[string, any][]} */
  children() {
    return [['layers', this.layers]];
  }
  /** @param {any} x */
  forward(x) {
    return this.layers.forward(x);
  }
}

/**
 * Build a run from its seed: model, optimiser, scheduler, loader and random streams.
 * Two runs built with the same options draw the same numbers, step for step.
 *
 * @param {{ seed?: number, hidden?: number, batchSize?: number, dropout?: number, noise?: number, lr?: number, warmup?: number, total?: number }} [options]
 */
function createRun(options = {}) {
  const { seed = 0, hidden = 32, batchSize = 30, dropout = 0.1, noise = 0.02, lr = 0.02, warmup = 5, total = 60 } = options;
  const root = gl.data.rng(seed);
  const [initRng, dropRng, augRng] = root.split(3);
  const loaderSeed = root.int(2 ** 31);
  const data = gl.data.spirals({ n: 100, classes: 3, noise: 0.2, seed: 0 });   // the data set itself is fixed
  const loader = new gl.data.DataLoader(data, {
    batchSize,
    shuffle: true,
    seed: loaderSeed,
    // Augmentation in the collate: stack the samples, add N(0, noise²) drawn from augRng.
    collate: (samples) => {
      const x = new Float32Array(samples.length * 2);
      samples.forEach((s, i) => x.set(s.x, 2 * i));
      return { x: gl.tf.tensor2d(gl.data.addNoise(x, noise, augRng), [samples.length, 2]), y: samples.map((s) => s.y[0]) };
    },
  });
  const model = new Net(hidden, dropout, initRng, dropRng);
  const optimizer = new gl.optim.AdamW(model.parameters(), { lr, weightDecay: 0.01 });
  const scheduler = gl.optim.cosineScheduleWithWarmup(optimizer, { warmupSteps: warmup, totalSteps: total });
  /** @type {Iterator<{ x: any, y: number[] }> | null} */
  let it = null;
  const run = {
    model, optimizer, scheduler, loader,
    /** The streams still drawn from during training (the initial weights' stream is spent). */
    rngs: { dropout: dropRng, augment: augRng },
    /** Steps done. */
    step: 0,
    /** One training step; resolves to the minibatch loss (a float32 value). */
    async trainStep() {
      let next = it ? it.next() : null;
      while (!next || next.done) {            // an epoch ended: the loader starts the next one
        it = loader[Symbol.iterator]();
        next = it.next();
      }
      const { x, y } = next.value;
      const loss = gl.nn.crossEntropy(model.forward(x), y);
      loss.backward();
      optimizer.step();
      optimizer.zeroGrad();
      scheduler.step();
      const v = await loss.item();
      loss.dispose();
      x.dispose();
      run.step += 1;
      return v;
    },
    /**
     * Save everything a bit-exact resume needs.
     * @param {string} path
     * @param {((tmp: string) => void | Promise<void>)} [beforeRename]
     */
    save(path, beforeRename) {
      return gl.io.saveCheckpoint(path, { model, optimizer, scheduler, rng: run.rngs, loader, step: run.step, beforeRename });
    },
    /**
     * Load a checkpoint; `skip` names the parts to leave out (to see what each one is for).
     * @param {string} path
     * @param {{ optimizer?: boolean, scheduler?: boolean, rng?: boolean, loader?: boolean }} [skip]
     */
    async load(path, skip = {}) {
      if (it) throw new Error('load: call it before the first trainStep (the loader must not be mid-loop)');
      const r = await gl.io.loadCheckpoint(path, {
        model,
        ...(!skip.optimizer && { optimizer }),
        ...(!skip.scheduler && { scheduler }),
        ...(!skip.rng && { rng: run.rngs }),
        ...(!skip.loader && { loader }),
      });
      run.step = r.step;
      return r;
    },
    /** Free the parameters and the optimiser's buffers. */
    dispose() {
      if (it && it.return) it.return(undefined);
      optimizer.dispose();
      model.dispose();
    },
  };
  return run;
}

async function main() {
  const args = process.argv.slice(2);
  const [path, totalArg, everyArg] = args;
  const total = Number(totalArg);
  const every = Number(everyArg);
  if (!path || !(total > 0) || !(every > 0)) throw new Error('usage: node resume-train.js <checkpoint> <total steps> <every> [resume] [pause=<step>]');
  const pauseAt = Number((args.find((a) => a.startsWith('pause=')) || 'pause=-1').slice(6));
  const info = await gl.init();
  console.log(`BACKEND ${info.name}`);
  const run = createRun({ total });
  if (args.includes('resume')) console.log(`RESUMED ${(await run.load(path)).step}`);
  while (run.step < total) {
    const v = await run.trainStep();
    console.log(`STEP ${run.step} ${lossBits(v)}`);
    if (run.step % every === 0) {
      const s = run.step;
      await run.save(path, s === pauseAt ? async (tmp) => {
        console.log(`PAUSED ${s} ${tmp}`);
        await new Promise(() => undefined);   // wait here until killed
      } : undefined);
      console.log(`SAVED ${s}`);
    }
  }
  run.dispose();
  console.log('DONE');
}

module.exports = { createRun, lossBits, Net };

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error('FAILED', e);
      process.exit(3);
    },
  );
}
