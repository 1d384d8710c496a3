/**
 * Natural logarithm rounded correctly to the nearest double.
 *
 * numpy's randn calls the C library's log, which on glibc is within 0.52 ulp
 * and so almost always the correctly rounded value; V8's Math.log (fdlibm) is
 * within 1 ulp and differs from it in about 3% of calls, which would break
 * bit-for-bit agreement of every third draw in a hundred. Here log is evaluated
 * in double-double arithmetic (~100 bits) and then rounded once.
 */

const SPLITTER = 134217729; // 2^27 + 1, Dekker's split

function twoSum(a: number, b: number): [number, number] {
  const s = a + b;
  const bb = s - a;
  return [s, a - (s - bb) + (b - bb)];
}

function twoProd(a: number, b: number): [number, number] {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}

type DD = [number, number];

function ddAdd(a: DD, b: DD): DD {
  const [s, e] = twoSum(a[0], b[0]);
  const [hi, lo] = twoSum(s, e + a[1] + b[1]);
  return [hi, lo];
}

function ddMul(a: DD, b: DD): DD {
  const [p, e] = twoProd(a[0], b[0]);
  return twoSum(p, e + a[0] * b[1] + a[1] * b[0]);
}

function ddDiv(a: DD, b: DD): DD {
  const q1 = a[0] / b[0];
  const r = ddAdd(a, ddMul([-q1, 0], b));
  const q2 = r[0] / b[0];
  return twoSum(q1, q2);
}

const LN2: DD = [0.6931471805599453, 2.3190468138462996e-17];

/** 1/(2k+1) as double-double, for the atanh series. */
const RECIPROCALS: DD[] = Array.from({ length: 30 }, (_, k) => {
  const n = 2 * k + 1;
  const hi = 1 / n;
  const [p, e] = twoProd(hi, n);
  return [hi, (1 - p - e) / n];
});

export function correctlyRoundedLog(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) return Math.log(x);
  // x = 2^k · m with m in [√½, √2), so that s below is small.
  let k = Math.floor(Math.log2(x));
  let m = x / 2 ** k;
  if (!Number.isFinite(m) || m === 0) {
    // subnormal or extreme: scale in two steps
    const half = Math.floor(k / 2);
    m = x / 2 ** half / 2 ** (k - half);
  }
  while (m >= Math.SQRT2) {
    m /= 2;
    k += 1;
  }
  while (m < Math.SQRT1_2) {
    m *= 2;
    k -= 1;
  }
  if (m === 1) return k * LN2[0] + k * LN2[1];
  // log m = 2·atanh(s), s = (m − 1)/(m + 1); m − 1 is exact for m in [½, 2].
  const s = ddDiv([m - 1, 0], twoSum(m, 1));
  const s2 = ddMul(s, s);
  let p: DD = RECIPROCALS[RECIPROCALS.length - 1]!;
  for (let i = RECIPROCALS.length - 2; i >= 0; i--) p = ddAdd(ddMul(p, s2), RECIPROCALS[i]!);
  const logm = ddMul(ddMul([2, 0], s), p);
  const total = ddAdd(ddMul([k, 0], LN2), logm);
  return total[0] + total[1];
}
