import { describe, expect, it } from 'vitest';
import { csvField, trailCsv, trailJson } from '../../app/core/report/audit-trail.js';

describe('the audit trail as CSV and JSON', () => {
  const rows = [
    {
      seq: 2,
      at: '2026-01-01T00:00:01Z',
      actor: 'ab',
      actorName: 'Erin, "E."',
      action: 'identity.unlock_failed',
      subject: 'ab',
      details: { purpose: 'approve rep-1' },
      hash: 'h2',
    },
  ];

  it('quotes as RFC 4180 asks, one CRLF line per row, with the action in words', () => {
    const csv = trailCsv(rows);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('seq,at,action,what,subject,actor,actor_name,details,hash');
    expect(lines[1]).toBe(
      '2,2026-01-01T00:00:01Z,identity.unlock_failed,Failed passphrase attempt,ab,ab,"Erin, ""E.""","{""purpose"":""approve rep-1""}",h2',
    );
    expect(lines[2]).toBe('');
  });

  it('never hands a spreadsheet a formula', () => {
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('-1+2')).toBe("'-1+2");
  });

  it('JSON keeps the rows and the chain state', () => {
    const j = JSON.parse(trailJson(rows, { ok: true, rows: 2 }));
    expect(j.format).toBe('gradproof-audit-trail/v1');
    expect(j.chain.ok).toBe(true);
    expect(j.entries[0].details.purpose).toBe('approve rep-1');
  });
});
