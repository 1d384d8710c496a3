import { InvalidArgumentError } from 'commander';

/** A positive finite number, e.g. for --epsilon and --threshold. */
export function positiveNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`${flag} must be a number, e.g. ${flag} 1e-7 (got "${value}")`);
    if (n <= 0) throw new InvalidArgumentError(`${flag} must be greater than 0 (got ${value})`);
    return n;
  };
}

export function finiteNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`${flag} must be a number (got "${value}")`);
    return n;
  };
}

export function wholeNumber(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max)
      throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max} (got "${value}")`);
    return n;
  };
}
