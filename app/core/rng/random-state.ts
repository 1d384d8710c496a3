import { MT19937 } from './mt19937.js';
import { correctlyRoundedLog } from './correctly-rounded-log.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * numpy's legacy `np.random.RandomState`: `rand`, `randn` and `random_sample`
 * bit-for-bit. `randn` uses the polar (Marsaglia) method and keeps the second
 * deviate of each pair for the next call, which is why draw order matters.
 */
export class RandomState {
  private readonly mt = new MT19937();
  private hasGauss = false;
  private gauss = 0;

  constructor(seed: number | readonly number[] = 0) {
    this.seed(seed);
  }

  seed(seed: number | readonly number[]): void {
    if (typeof seed === 'number') this.mt.seed(seed);
    else this.mt.seedArray(seed);
    this.hasGauss = false;
    this.gauss = 0;
  }

  randomSample(): number {
    return this.mt.nextDouble();
  }

  standardNormal(): number {
    if (this.hasGauss) {
      this.hasGauss = false;
      return this.gauss;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2 * this.mt.nextDouble() - 1;
      x2 = 2 * this.mt.nextDouble() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * correctlyRoundedLog(r2)) / r2);
    this.gauss = f * x1;
    this.hasGauss = true;
    return f * x2;
  }

  /** `np.random.rand(rows, cols)`: uniform [0, 1), filled row-major. */
  rand(rows: number, cols = 1): Tensor {
    const t = Tensor.zeros(rows, cols);
    for (let i = 0; i < t.data.length; i++) t.data[i] = this.randomSample();
    return t;
  }

  /** `np.random.randn(rows, cols)`: standard normal, filled row-major. */
  randn(rows: number, cols = 1): Tensor {
    const t = Tensor.zeros(rows, cols);
    for (let i = 0; i < t.data.length; i++) t.data[i] = this.standardNormal();
    return t;
  }
}
