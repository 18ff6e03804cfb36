/**
 * One loaded ONNX classifier (LightGBM exported by onnxmltools, zipmap off): a Float32 matrix in, the positive
 * class's probability per row out, in one onnxruntime-node run per call. A file that does not load, or whose
 * input width is not the feature spec's, is a ModelLoadError (serving then keeps what it had, flagged).
 */
import * as ort from 'onnxruntime-node';

export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

export class OnnxClassifier {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputName: string,
    readonly cols: number,
  ) {}

  static async load(bytes: Uint8Array, cols: number): Promise<OnnxClassifier> {
    let session: ort.InferenceSession;
    try {
      // One thread, run on the caller's (a 64-row tree ensemble is ~0.1 ms: a pool's hand-off costs more than it
      // saves on a shared 2-core machine), sequential, the graph optimized once at load.
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (err) {
      throw new ModelLoadError(`the model file does not load in onnxruntime: ${(err as Error).message}`);
    }
    const input = session.inputNames[0];
    if (!input || !session.outputNames.includes('probabilities')) {
      throw new ModelLoadError(
        `the model has inputs ${session.inputNames} and outputs ${session.outputNames}; expected input, probabilities`,
      );
    }
    const c = new OnnxClassifier(session, input, cols);
    // Probe once with a zero row: a model built for another width fails here, not on the first request.
    try {
      await c.score(new Float32Array(cols), 1);
    } catch (err) {
      throw new ModelLoadError(`the model does not accept ${cols} features: ${(err as Error).message}`);
    }
    return c;
  }

  /** Positive-class probability of each of `rows` rows. */
  async score(x: Float32Array, rows: number): Promise<Float32Array> {
    const out = await this.session.run({ [this.inputName]: new ort.Tensor('float32', x, [rows, this.cols]) });
    const p = out.probabilities?.data as Float32Array | undefined;
    if (!p || p.length !== rows * 2) throw new Error(`the model returned ${p?.length} probabilities for ${rows} rows`);
    const r = new Float32Array(rows);
    for (let i = 0; i < rows; i++) r[i] = p[i * 2 + 1] as number;
    return r;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
