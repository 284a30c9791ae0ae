-- Supabase Realtime's realtime.messages, so app migrations can create policies on it: private
-- channels are authorized by its SELECT (receive) and INSERT (send) policies, with
-- realtime.topic() the channel's topic and `extension` 'broadcast' or 'presence'. Row-level
-- security is on, as in Supabase: without a policy nobody but the service role has access.
create table realtime.messages (
  id uuid primary key default gen_random_uuid(),
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamptz not null default now(),
  inserted_at timestamptz not null default now()
);
alter table realtime.messages enable row level security;
