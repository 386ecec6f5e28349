-- Background jobs and the mail outbox (src/jobs/jobs.c, src/jobs/mail.c).
--
-- A job is claimed with one UPDATE ... WHERE id = (SELECT ... FOR UPDATE
-- SKIP LOCKED), so any number of studiod processes share the queue without
-- running a job twice. attempts counts claims; a failed run goes back to
-- 'queued' with a later run_at until attempts reaches max_attempts.

CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed')),
    run_at timestamptz NOT NULL DEFAULT now(),
    attempts int NOT NULL DEFAULT 0,
    max_attempts int NOT NULL DEFAULT 10,
    last_error text,
    locked_at timestamptz,
    locked_by text,            -- the worker (host:pid) that claimed it last
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

-- The claim's subquery: due queued jobs in run_at order.
CREATE INDEX jobs_queued_run_at ON jobs (run_at) WHERE status = 'queued';
-- The reaper: jobs left 'running' by a process that died.
CREATE INDEX jobs_running_locked_at ON jobs (locked_at) WHERE status = 'running';

-- Mail written in the caller's transaction; a send_mail job (payload
-- {"outbox_id": id}) delivers it and sets sent_at, which is never set twice.
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    to_addr text NOT NULL,
    subject text NOT NULL,
    body_text text NOT NULL,
    body_html text,
    attachment_name text,
    attachment_type text,
    attachment_content text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    attempts int NOT NULL DEFAULT 0,
    last_error text
);
