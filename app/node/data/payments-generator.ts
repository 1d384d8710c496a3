/**
 * The built-in mobile-payments fraud dataset (builtin:payments), generated
 * deterministically: RandomState(20240601), 20,000 payments, 30 numeric features
 * and an is_fraud label (about 3% fraud). Regenerate with `npm run generate:payments`;
 * the shipped CSV must be byte-identical to what this writes (a test checks).
 *
 * Fraud is drawn from a logistic risk model on the account-takeover signals a
 * payments team watches (a new device, a SIM swap, distance from home, bursts of
 * payments, failed logins, risky IPs, unusual amounts to new payees), so the
 * label is learnable but noisy.
 */
import { RandomState } from '../../core/rng/random-state.js';

export const PAYMENTS_SEED = 20240601;
export const PAYMENTS_ROWS = 20000;

export const PAYMENTS_COLUMNS = [
  'amount_usd',
  'log_amount',
  'hour',
  'hour_sin',
  'hour_cos',
  'day_of_week',
  'is_weekend',
  'account_age_days',
  'device_change',
  'device_age_hours',
  'distance_from_home_km',
  'distance_from_last_km',
  'velocity_1h',
  'velocity_24h',
  'amount_vs_30d_avg',
  'failed_logins_24h',
  'password_reset_7d',
  'sim_swap_7d',
  'ip_risk_score',
  'vpn_or_proxy',
  'country_mismatch',
  'new_payee',
  'payee_account_age_days',
  'merchant_risk_score',
  'p2p_transfer',
  'international',
  'card_present',
  'minutes_since_last_tx',
  'app_version_outdated',
  'biometric_auth',
] as const;

const round = (x: number, d: number): number => Number(x.toFixed(d));

export function generatePayments(rows = PAYMENTS_ROWS, seed = PAYMENTS_SEED): string {
  const rs = new RandomState(seed);
  const u = (): number => rs.randomSample();
  const n = (): number => rs.standardNormal();
  const bern = (p: number): number => (u() < p ? 1 : 0);
  const lines = [[...PAYMENTS_COLUMNS, 'is_fraud'].join(',')];
  for (let r = 0; r < rows; r++) {
    const amount = Math.exp(3.6 + 1.1 * n());
    const hour = Math.floor(24 * u());
    const dow = Math.floor(7 * u());
    const accountAge = Math.floor(Math.exp(5.5 + 1.2 * n()));
    const deviceChange = bern(0.06);
    const deviceAge = deviceChange ? 72 * u() : 24 * (30 + 400 * u());
    const distHome = Math.exp(1.5 + 1.4 * n());
    const distLast = Math.exp(1.0 + 1.5 * n());
    const v1 = Math.floor(-Math.log(1 - u()) * 1.2);
    const v24 = v1 + Math.floor(-Math.log(1 - u()) * 4);
    const ratio = Math.exp(0.6 * n());
    const failed = Math.floor(-Math.log(1 - u()) * 0.4);
    const reset = bern(0.03);
    const sim = bern(0.01);
    const ip = Math.min(1, Math.max(0, 0.15 + 0.12 * n()));
    const vpn = bern(0.08);
    const mismatch = bern(0.05);
    const newPayee = bern(0.2);
    const payeeAge = newPayee ? Math.floor(30 * u()) : Math.floor(Math.exp(5 + n()));
    const merchant = Math.min(1, Math.max(0, 0.2 + 0.1 * n()));
    const p2p = bern(0.35);
    const intl = bern(0.07);
    const cardPresent = p2p ? 0 : bern(0.4);
    const sinceLast = Math.exp(4 + 1.5 * n());
    const outdated = bern(0.15);
    const biometric = bern(0.6);
    // The risk model: log-odds of account takeover.
    const z =
      -4.9 +
      1.6 * deviceChange +
      2.2 * sim +
      0.9 * reset +
      0.45 * Math.log1p(distHome) +
      0.35 * Math.min(v1, 6) +
      0.5 * Math.min(failed, 5) +
      2.0 * (ip - 0.15) +
      0.6 * vpn +
      0.7 * mismatch +
      0.8 * newPayee * (amount > 150 ? 1 : 0) +
      0.5 * Math.log(ratio) +
      (hour < 5 ? 0.6 : 0) -
      0.5 * biometric -
      0.25 * Math.log1p(accountAge / 30) +
      0.4 * n();
    const fraud = bern(1 / (1 + Math.exp(-z)));
    const row = [
      round(amount, 2),
      round(Math.log(amount), 4),
      hour,
      round(Math.sin((2 * Math.PI * hour) / 24), 4),
      round(Math.cos((2 * Math.PI * hour) / 24), 4),
      dow,
      dow >= 5 ? 1 : 0,
      accountAge,
      deviceChange,
      round(deviceAge, 1),
      round(distHome, 2),
      round(distLast, 2),
      v1,
      v24,
      round(ratio, 3),
      failed,
      reset,
      sim,
      round(ip, 3),
      vpn,
      mismatch,
      newPayee,
      payeeAge,
      round(merchant, 3),
      p2p,
      intl,
      cardPresent,
      round(sinceLast, 1),
      outdated,
      biometric,
      fraud,
    ];
    lines.push(row.join(','));
  }
  return `${lines.join('\n')}\n`;
}
