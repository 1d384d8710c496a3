/**
 * Bad usage or bad input: the message says what is wrong, where (file, field)
 * and how to fix it. The CLI prints it as one line and exits 2.
 */
export class InputError extends Error {
  override name = 'InputError';
}

/** The user (or a signal) stopped the work. */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor(message = 'cancelled') {
    super(message);
  }
}
