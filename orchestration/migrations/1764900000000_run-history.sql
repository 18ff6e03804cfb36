-- Up Migration
-- Run history of the batch graph (orchestration/). One row per run of a step on a partition: what it consumed
-- (upstream output versions, observed snapshot ids, offsets, row counts), what it wrote, how it ended and why.
-- A check that found nothing changed writes no row. partition_state keeps the latest outcome per step and
-- partition: downstream steps read it to decide whether to run, to wait, or to stop with the upstream's reason.

CREATE SCHEMA IF NOT EXISTS orchestration;

CREATE TABLE orchestration.step_runs (
  id                bigserial   PRIMARY KEY,
  step              text        NOT NULL,
  partition_key     text        NOT NULL,
  status            text        NOT NULL
                    CHECK (status IN ('running', 'succeeded', 'failed', 'halted', 'blocked', 'unavailable', 'interrupted')),
  trigger           text        NOT NULL,
  run_key           text,
  input_fingerprint text,
  inputs            jsonb       NOT NULL DEFAULT '{}'::jsonb,
  outputs           jsonb,
  output_version    text,
  changed           boolean,
  error_type        text,
  reason            text,
  attempts          integer     NOT NULL DEFAULT 1,
  workflow_id       text,
  workflow_run_id   text,
  started_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz
);
CREATE INDEX step_runs_step_partition_idx ON orchestration.step_runs (step, partition_key, id DESC);
CREATE INDEX step_runs_started_idx ON orchestration.step_runs (started_at DESC);
CREATE INDEX step_runs_failed_idx ON orchestration.step_runs (finished_at DESC)
  WHERE status IN ('failed', 'halted', 'blocked', 'unavailable', 'interrupted');
-- One run of a step on a partition at a time (the executing activity also holds an advisory lock).
CREATE UNIQUE INDEX step_runs_one_running_idx ON orchestration.step_runs (step, partition_key) WHERE status = 'running';

CREATE TABLE orchestration.partition_state (
  step                text        NOT NULL,
  partition_key       text        NOT NULL,
  status              text        NOT NULL CHECK (status IN ('succeeded', 'failed', 'halted', 'blocked', 'unavailable')),
  reason              text,
  last_run_id         bigint      NOT NULL REFERENCES orchestration.step_runs (id),
  -- Inputs of the latest run, and whether its failure may pass on a retry (a deterministic failure on the same
  -- inputs is not repeated until they change or the run is forced).
  last_fingerprint    text,
  last_retryable      boolean     NOT NULL DEFAULT false,
  -- Of the latest successful (or halted) run: what it produced.
  success_run_id      bigint      REFERENCES orchestration.step_runs (id),
  output_version      text,
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (step, partition_key)
);

-- Chunks committed by a run (ctx.chunk): a retry of the same run skips them and reuses their result.
CREATE TABLE orchestration.step_chunks (
  run_key      text        NOT NULL,
  chunk_key    text        NOT NULL,
  result       jsonb       NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_key, chunk_key)
);

-- Control totals of the operational store per day (step controls.daily-totals): what PostgreSQL holds, by provider,
-- currency, event type and validation status, in integer minor units; the reference the lake and the marts are
-- compared against.
CREATE TABLE orchestration.daily_control_totals (
  day               date        NOT NULL,
  provider          text        NOT NULL,
  currency          text        NOT NULL,
  event_type        text        NOT NULL,
  validation_status text        NOT NULL,
  events            bigint      NOT NULL,
  amount_minor      numeric(38, 0) NOT NULL,
  run_id            bigint      NOT NULL REFERENCES orchestration.step_runs (id),
  PRIMARY KEY (day, provider, currency, event_type, validation_status)
);

-- Down Migration
DROP SCHEMA orchestration CASCADE;
