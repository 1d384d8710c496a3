import type Database from 'better-sqlite3';

/**
 * Schema migrations, applied in order inside one transaction each, recorded in
 * PRAGMA user_version (Signal Desktop's pattern). Never edit a shipped
 * migration: add the next one. Each has its own test.
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
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
