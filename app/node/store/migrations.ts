import type Database from 'better-sqlite3';
import { appendAudit } from './audit-log.js';
import { ARTIFACT_TABLES, SEALED, type SealedTable, rowDigest, runEvidenceDigest } from './seals.js';

/** PRAGMA application_id of a GradProof database ("GPRF"): another program's SQLite file is told apart by it. */
export const APPLICATION_ID = 0x47505246;

/**
 * Schema migrations, applied in order inside one transaction each, recorded in
 * PRAGMA user_version (Signal Desktop's pattern). Never edit a shipped
 * migration: add the next one. Each has its own test. Foreign keys are off while
 * a migration runs (a table can then be rebuilt) and checked before it commits.
 */
export interface Migration {
  version: number;
  description: string;
  up: (db: Database.Database) => void;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'artifacts, runs and their results',
    up: (db) => {
      db.exec(`
        CREATE TABLE models (
          sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
          name TEXT NOT NULL,
          ref TEXT NOT NULL,
          first_seen TEXT NOT NULL
        ) STRICT;
        CREATE TABLE weights (
          sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
          source TEXT NOT NULL,
          first_seen TEXT NOT NULL
        ) STRICT;
        CREATE TABLE datasets (
          sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
          ref TEXT NOT NULL,
          examples INTEGER NOT NULL,
          features INTEGER NOT NULL,
          transform TEXT,
          first_seen TEXT NOT NULL
        ) STRICT;
        CREATE TABLE implementations (
          sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
          kind TEXT NOT NULL CHECK (kind IN ('builtin', 'process', 'module')),
          ref TEXT NOT NULL,
          defects TEXT,
          first_seen TEXT NOT NULL
        ) STRICT;
        CREATE TABLE runs (
          id TEXT PRIMARY KEY,
          started_at TEXT NOT NULL,
          finished_at TEXT,
          status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled', 'interrupted')),
          model_sha256 TEXT NOT NULL REFERENCES models (sha256),
          weights_sha256 TEXT NOT NULL REFERENCES weights (sha256),
          dataset_sha256 TEXT NOT NULL REFERENCES datasets (sha256),
          implementation_sha256 TEXT NOT NULL REFERENCES implementations (sha256),
          settings TEXT NOT NULL,
          environment TEXT NOT NULL,
          pid INTEGER NOT NULL,
          host TEXT NOT NULL,
          verdict TEXT CHECK (verdict IN ('pass', 'fail', 'inconclusive')),
          difference REAL,
          parameters INTEGER,
          evaluations INTEGER,
          seconds REAL,
          result TEXT,
          error TEXT
        ) STRICT;
        CREATE INDEX runs_started ON runs (started_at);
        CREATE TABLE group_results (
          run_id TEXT NOT NULL REFERENCES runs (id),
          position INTEGER NOT NULL,
          name TEXT NOT NULL,
          rows INTEGER NOT NULL,
          cols INTEGER NOT NULL,
          difference REAL NOT NULL,
          verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'fail', 'inconclusive')),
          diagnosis TEXT,
          PRIMARY KEY (run_id, position)
        ) STRICT;
        -- Per-entry analytic and numerical gradients and kink counts, as little-endian
        -- Float64/Uint32 arrays: compact, and hashed as stored.
        CREATE TABLE entry_results (
          run_id TEXT PRIMARY KEY REFERENCES runs (id),
          count INTEGER NOT NULL,
          analytic BLOB NOT NULL,
          numerical BLOB NOT NULL,
          kinks BLOB NOT NULL,
          sha256 TEXT NOT NULL
        ) STRICT;
      `);
    },
  },
  {
    version: 2,
    description: 'identities, reports, signatures and the hash-chained audit log',
    up: (db) => {
      db.exec(`
        CREATE TABLE identities (
          id TEXT PRIMARY KEY CHECK (length(id) = 64),
          name TEXT NOT NULL UNIQUE,
          role TEXT NOT NULL CHECK (role IN ('engineer', 'reviewer')),
          public_key TEXT NOT NULL,
          encrypted_private_key BLOB NOT NULL,
          kdf TEXT NOT NULL,
          created_at TEXT NOT NULL
        ) STRICT;
        CREATE TABLE reports (
          id TEXT PRIMARY KEY,
          run_id TEXT NOT NULL REFERENCES runs (id),
          author_id TEXT NOT NULL REFERENCES identities (id),
          created_at TEXT NOT NULL,
          state TEXT NOT NULL CHECK (state IN ('draft', 'prepared', 'approved', 'rejected')),
          body BLOB NOT NULL,
          sha256 TEXT NOT NULL
        ) STRICT;
        CREATE TABLE signatures (
          id INTEGER PRIMARY KEY,
          report_id TEXT NOT NULL REFERENCES reports (id),
          identity_id TEXT NOT NULL REFERENCES identities (id),
          meaning TEXT NOT NULL CHECK (meaning IN ('authorship', 'approval', 'rejection')),
          comment TEXT,
          signed_at TEXT NOT NULL,
          envelope BLOB NOT NULL,
          UNIQUE (report_id, meaning)
        ) STRICT;
        CREATE TABLE audit_log (
          seq INTEGER PRIMARY KEY,
          at TEXT NOT NULL,
          actor TEXT,
          action TEXT NOT NULL,
          subject TEXT NOT NULL,
          details TEXT NOT NULL,
          prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL
        ) STRICT;

        -- The log only grows.
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
          BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
          BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        -- Signed bytes are stored as signed, never rewritten.
        CREATE TRIGGER reports_body_immutable BEFORE UPDATE OF body, sha256, run_id, author_id, created_at ON reports
          BEGIN SELECT RAISE(ABORT, 'a report''s signed content cannot change'); END;
        CREATE TRIGGER reports_no_delete BEFORE DELETE ON reports
          BEGIN SELECT RAISE(ABORT, 'reports cannot be deleted'); END;
        CREATE TRIGGER signatures_immutable BEFORE UPDATE ON signatures
          BEGIN SELECT RAISE(ABORT, 'signatures cannot change'); END;
        CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
          BEGIN SELECT RAISE(ABORT, 'signatures cannot be deleted'); END;
        -- The only moves: draft → prepared → approved | rejected, each backed by its signature(s).
        CREATE TRIGGER reports_state_machine BEFORE UPDATE OF state ON reports
          WHEN NOT ((OLD.state = 'draft' AND NEW.state = 'prepared')
                 OR (OLD.state = 'prepared' AND NEW.state IN ('approved', 'rejected')))
          BEGIN SELECT RAISE(ABORT, 'that report state change is not allowed'); END;
        CREATE TRIGGER reports_prepared_needs_author BEFORE UPDATE OF state ON reports
          WHEN NEW.state = 'prepared' AND NOT EXISTS (
            SELECT 1 FROM signatures WHERE report_id = NEW.id AND meaning = 'authorship' AND identity_id = NEW.author_id)
          BEGIN SELECT RAISE(ABORT, 'a report is prepared only by its author''s signature'); END;
        CREATE TRIGGER reports_approved_needs_two BEFORE UPDATE OF state ON reports
          WHEN NEW.state IN ('approved', 'rejected') AND NOT EXISTS (
            SELECT 1 FROM signatures s JOIN identities i ON i.id = s.identity_id
            WHERE s.report_id = NEW.id AND s.meaning IN ('approval', 'rejection') AND i.role = 'reviewer' AND s.identity_id <> NEW.author_id)
          BEGIN SELECT RAISE(ABORT, 'approval needs a reviewer other than the author'); END;
      `);
    },
  },
  {
    version: 3,
    description:
      'trust: administrators, accounts and enrollments for identities; signed policies; run annotations and process start times; guards on every table; existing rows sealed in the audit log',
    up: (db) => {
      db.exec(`
        -- identities: a third role (administrator) and the OS account that created each one.
        -- The table is rebuilt (SQLite cannot change a CHECK); the trigger that joins it is remade.
        DROP TRIGGER reports_approved_needs_two;
        CREATE TABLE identities_v3 (
          id TEXT PRIMARY KEY CHECK (length(id) = 64),
          name TEXT NOT NULL UNIQUE,
          role TEXT NOT NULL CHECK (role IN ('engineer', 'reviewer', 'administrator')),
          public_key TEXT NOT NULL,
          encrypted_private_key BLOB NOT NULL,
          kdf TEXT NOT NULL,
          created_at TEXT NOT NULL,
          account TEXT
        ) STRICT;
        INSERT INTO identities_v3 (id, name, role, public_key, encrypted_private_key, kdf, created_at)
          SELECT id, name, role, public_key, encrypted_private_key, kdf, created_at FROM identities;
        DROP TABLE identities;
        ALTER TABLE identities_v3 RENAME TO identities;
        CREATE TRIGGER reports_approved_needs_two BEFORE UPDATE OF state ON reports
          WHEN NEW.state IN ('approved', 'rejected') AND NOT EXISTS (
            SELECT 1 FROM signatures s JOIN identities i ON i.id = s.identity_id
            WHERE s.report_id = NEW.id AND s.meaning IN ('approval', 'rejection') AND i.role = 'reviewer' AND s.identity_id <> NEW.author_id)
          BEGIN SELECT RAISE(ABORT, 'approval needs a reviewer other than the author'); END;

        -- An administrator's signed word that a key belongs to the person and role named.
        CREATE TABLE enrollments (
          identity_id TEXT PRIMARY KEY REFERENCES identities (id),
          admin_id TEXT NOT NULL REFERENCES identities (id),
          enrolled_at TEXT NOT NULL,
          envelope BLOB NOT NULL
        ) STRICT;
        -- Sign-off policy, each version signed by an administrator; the latest is in force.
        CREATE TABLE policies (
          version INTEGER PRIMARY KEY,
          document TEXT NOT NULL,
          admin_id TEXT NOT NULL REFERENCES identities (id),
          set_at TEXT NOT NULL,
          envelope BLOB NOT NULL
        ) STRICT;

        -- Annotations (not evidence), and the process that runs a check told apart from a later
        -- process given the same pid.
        ALTER TABLE runs ADD COLUMN name TEXT;
        ALTER TABLE runs ADD COLUMN tags TEXT;
        ALTER TABLE runs ADD COLUMN notes TEXT;
        ALTER TABLE runs ADD COLUMN process TEXT;
        CREATE INDEX audit_log_subject ON audit_log (subject);

        -- Guards: rows only ever added, except the moves GradProof makes itself.
        CREATE TRIGGER identities_no_update BEFORE UPDATE ON identities
          BEGIN SELECT RAISE(ABORT, 'identities cannot change'); END;
        CREATE TRIGGER identities_no_delete BEFORE DELETE ON identities
          BEGIN SELECT RAISE(ABORT, 'identities cannot be deleted'); END;
        CREATE TRIGGER enrollments_no_update BEFORE UPDATE ON enrollments
          BEGIN SELECT RAISE(ABORT, 'enrollments cannot change'); END;
        CREATE TRIGGER enrollments_no_delete BEFORE DELETE ON enrollments
          BEGIN SELECT RAISE(ABORT, 'enrollments cannot be deleted'); END;
        CREATE TRIGGER policies_no_update BEFORE UPDATE ON policies
          BEGIN SELECT RAISE(ABORT, 'policies cannot change'); END;
        CREATE TRIGGER policies_no_delete BEFORE DELETE ON policies
          BEGIN SELECT RAISE(ABORT, 'policies cannot be deleted'); END;
        CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
          BEGIN SELECT RAISE(ABORT, 'runs cannot be deleted'); END;
        CREATE TRIGGER runs_evidence_immutable BEFORE UPDATE OF id, started_at, finished_at, status, model_sha256, weights_sha256, dataset_sha256, implementation_sha256, settings, environment, pid, host, verdict, difference, parameters, evaluations, seconds, result, error, process ON runs
          WHEN OLD.status <> 'running'
          BEGIN SELECT RAISE(ABORT, 'a finished run''s record cannot change'); END;
        CREATE TRIGGER group_results_no_update BEFORE UPDATE ON group_results
          BEGIN SELECT RAISE(ABORT, 'results cannot change'); END;
        CREATE TRIGGER group_results_no_delete BEFORE DELETE ON group_results
          BEGIN SELECT RAISE(ABORT, 'results cannot be deleted'); END;
        CREATE TRIGGER entry_results_no_update BEFORE UPDATE ON entry_results
          BEGIN SELECT RAISE(ABORT, 'results cannot change'); END;
        CREATE TRIGGER entry_results_no_delete BEFORE DELETE ON entry_results
          BEGIN SELECT RAISE(ABORT, 'results cannot be deleted'); END;
        CREATE TRIGGER models_no_update BEFORE UPDATE ON models BEGIN SELECT RAISE(ABORT, 'artifacts cannot change'); END;
        CREATE TRIGGER models_no_delete BEFORE DELETE ON models BEGIN SELECT RAISE(ABORT, 'artifacts cannot be deleted'); END;
        CREATE TRIGGER weights_no_update BEFORE UPDATE ON weights BEGIN SELECT RAISE(ABORT, 'artifacts cannot change'); END;
        CREATE TRIGGER weights_no_delete BEFORE DELETE ON weights BEGIN SELECT RAISE(ABORT, 'artifacts cannot be deleted'); END;
        CREATE TRIGGER datasets_no_update BEFORE UPDATE ON datasets BEGIN SELECT RAISE(ABORT, 'artifacts cannot change'); END;
        CREATE TRIGGER datasets_no_delete BEFORE DELETE ON datasets BEGIN SELECT RAISE(ABORT, 'artifacts cannot be deleted'); END;
        CREATE TRIGGER implementations_no_update BEFORE UPDATE ON implementations BEGIN SELECT RAISE(ABORT, 'artifacts cannot change'); END;
        CREATE TRIGGER implementations_no_delete BEFORE DELETE ON implementations BEGIN SELECT RAISE(ABORT, 'artifacts cannot be deleted'); END;
      `);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      // Rows written before this version carry no digest in the log: seal them as they are now,
      // so that from here on any change to them shows.
      const sealed: Record<string, Record<string, string>> = {};
      const tables: SealedTable[] = [...ARTIFACT_TABLES, 'identities', 'reports', 'signatures'];
      for (const t of tables) {
        const key = SEALED[t].key;
        for (const row of db.prepare(`SELECT * FROM ${t}`).all() as Record<string, unknown>[])
          (sealed[t] ??= {})[String(row[key])] = rowDigest(t, row);
      }
      const runs: Record<string, string> = {};
      for (const { id } of db.prepare('SELECT id FROM runs').all() as { id: string }[])
        runs[id] = runEvidenceDigest(db, id)!;
      if (Object.keys(sealed).length || Object.keys(runs).length)
        appendAudit(db, 'schema.upgraded', 'schema:3', { version: 3, sealed, runs });
    },
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
