/** `npm run generate:payments`: (re)write resources/datasets/payments/payments.csv. */
import { writeFileSync } from 'node:fs';
import { paymentsCsvPath } from './datasets.js';
import { PAYMENTS_ROWS, generatePayments } from './payments-generator.js';

const csv = generatePayments();
writeFileSync(paymentsCsvPath(), csv);
const fraud = csv
  .trim()
  .split('\n')
  .slice(1)
  .filter((l) => l.endsWith(',1')).length;
process.stdout.write(
  `wrote ${paymentsCsvPath()}: ${PAYMENTS_ROWS} payments, ${fraud} fraudulent (${((100 * fraud) / PAYMENTS_ROWS).toFixed(2)}%)\n`,
);
