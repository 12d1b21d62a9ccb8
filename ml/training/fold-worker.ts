// Worker thread that trains whole models on rows of a shared feature matrix (see fold-pool.ts).
import { seededRandom } from '../../lib/random.js';
import { serveRequests } from '../../lib/parallel/serve-requests.js';
import { fit, type ExampleSource } from './fit.js';
import { LocalTrainer } from './local-trainer.js';
import { controlViews, type FoldJob } from './fold-pool.js';
import type { Batch } from './replicas.js';

/** Examples are row numbers of the matrix; their labels are the job's. */
class MatrixSource implements ExampleSource<number> {
  constructor(
    private readonly rows: Float32Array,
    private readonly labels: Int32Array,
    readonly exampleSize: number,
  ) {}

  async batch(examples: readonly number[]): Promise<Batch> {
    const x = new Float32Array(examples.length * this.exampleSize);
    examples.forEach((row, i) =>
      x.set(this.rows.subarray(row * this.exampleSize, (row + 1) * this.exampleSize), i * this.exampleSize),
    );
    return { x, labels: Int32Array.from(examples, (row) => this.labels[row] as number) };
  }
}

serveRequests<FoldJob, Float32Array>(async (job) => {
  const control = controlViews(job.control, job.slots);
  const source = new MatrixSource(new Float32Array(job.features), job.labels, job.exampleSize);
  const trainer = await LocalTrainer.start(job);
  try {
    await fit(trainer, source, Array.from(job.train), Array.from(job.validation), {
      ...job.fit,
      flip: false,
      random: seededRandom(job.fitSeed, 'fit'),
      signal: {
        get aborted() {
          return Atomics.load(control.stop, 0) !== 0;
        },
      },
      progress: (done, total) => {
        Atomics.store(control.done, job.slot, done);
        Atomics.store(control.total, job.slot, total);
      },
      log: () => {},
    });
    const classes = job.spec.classes;
    const probabilities = new Float32Array(job.heldOut.length * classes);
    const chunk = job.fit.batchSize * 2;
    for (let start = 0; start < job.heldOut.length; start += chunk) {
      const rows = Array.from(job.heldOut.subarray(start, start + chunk));
      probabilities.set((await trainer.evaluate(await source.batch(rows))).probabilities, start * classes);
    }
    return { result: probabilities, transfer: [probabilities.buffer as ArrayBuffer] };
  } finally {
    trainer.dispose(); // the model's variables: a thread trains dozens of folds
  }
});
