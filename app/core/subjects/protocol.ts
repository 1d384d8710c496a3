import { z } from 'zod';

/**
 * GradProof's subject protocol, version 1: JSON lines over a subject's stdin and
 * stdout, one request and one response per line, matched by id. Written out for
 * implementers in docs/subject-protocol.md.
 */

export type SubjectRequest =
  | { id: number; method: 'describe' }
  | { id: number; method: 'cost'; params: { theta?: number[] } }
  | { id: number; method: 'gradient'; params: { theta?: number[] } }
  /** Costs at θ₀ + delta·e_index for each [index, delta]: one round trip for a batch. */
  | { id: number; method: 'costs'; params: { entries: [number, number][] } }
  /** Costs at θ₀ + delta·u for each delta (fast mode). */
  | { id: number; method: 'costs_along'; params: { direction: number[]; deltas: number[] } }
  | { id: number; method: 'exit' };

/** Numbers may arrive as null where the subject produced NaN or ±Infinity (see parseLine). */
const num = z.number().nullable();

/** Parameter tensors of any rank (a convolution weight is (F, C, kH, kW)); 8 axes is beyond any real layer. */
export const groupSchema = z.object({
  name: z.string().min(1).max(200),
  shape: z.array(z.number().int().positive()).min(1).max(8),
});

export const describeResult = z.object({
  protocol: z.number().int().optional(),
  groups: z.array(groupSchema).min(1),
  theta: z.array(num),
  /** The precision the subject computes its cost in, when it knows (GradProof also detects float32 costs). */
  precision: z.enum(['float16', 'bfloat16', 'float32', 'float64']).optional(),
});

export const costResult = z.object({ cost: num });
export const gradientResult = z.object({ gradient: z.array(num) });
export const costsResult = z.object({ costs: z.array(num) });

export const responseSchema = z.object({
  id: z.number().int(),
  result: z.unknown().optional(),
  error: z.object({ message: z.string(), traceback: z.string().optional() }).optional(),
});

export type SubjectResponse = z.infer<typeof responseSchema>;
export type SubjectGroup = z.infer<typeof groupSchema>;

/**
 * Parse one line from a subject. Python's json writes NaN and Infinity as bare
 * tokens, which JSON does not allow; they are read as null so the caller can
 * say exactly which value was not finite. Returns undefined for a line that is
 * not a protocol response at all.
 */
export function parseLine(line: string): SubjectResponse | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    try {
      value = JSON.parse(line.replace(/(?<=[[,:]\s*)-?(?:NaN|Infinity)(?=\s*[\],}])/g, 'null'));
    } catch {
      return undefined;
    }
  }
  const r = responseSchema.safeParse(value);
  return r.success ? r.data : undefined;
}

/** A request before its id is assigned. */
export type SubjectRequestBody = SubjectRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
