/**
 * GradProof's one error family. Every error a user can cause or meet carries a
 * kind, and each transport maps kinds once: the CLI to exit statuses, the API
 * to its error body, the HTTP bridge to a status code. Anything that is not a
 * GradProofError is a bug in GradProof (kind "internal").
 */
export const ERROR_KINDS = ['invalid', 'input', 'not-found', 'subject', 'cancelled', 'internal'] as const;
/**
 * - invalid: a call or option that does not fit the contract (schema, usage)
 * - input: a file, value or state the user gave that cannot be used; the message says how to fix it
 * - not-found: a run, report or identity that does not exist
 * - subject: the implementation under audit could not be run (crash, hang, garbage): no verdict
 * - cancelled: the user or a signal stopped the work
 * - internal: a bug in GradProof
 */
export type ErrorKind = (typeof ERROR_KINDS)[number];

export class GradProofError extends Error {
  constructor(
    message: string,
    readonly kind: ErrorKind = 'input',
    /** The option, parameter or field at fault, when there is one (e.g. "epsilon", "groups.0.shape"). */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'GradProofError';
  }
}

/** Bad usage or bad input: the message says what is wrong, where (file, field) and how to fix it. */
export class InputError extends GradProofError {
  constructor(message: string, field?: string) {
    super(message, 'input', field);
    this.name = 'InputError';
  }
}

/** A run, report or identity that does not exist. */
export class NotFoundError extends GradProofError {
  constructor(message: string, field?: string) {
    super(message, 'not-found', field);
    this.name = 'NotFoundError';
  }
}

/**
 * The subject itself failed (crashed, hung, wrote garbage, returned NaN): the run
 * failed to execute and has no verdict. The message names the subject and what it did.
 */
export class SubjectError extends GradProofError {
  constructor(message: string) {
    super(message, 'subject');
    this.name = 'SubjectError';
  }
}

/** The user (or a signal) stopped the work. */
export class CancelledError extends GradProofError {
  constructor(message = 'cancelled') {
    super(message, 'cancelled');
    this.name = 'CancelledError';
  }
}

export function errorKind(err: unknown): ErrorKind {
  return err instanceof GradProofError ? err.kind : 'internal';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
