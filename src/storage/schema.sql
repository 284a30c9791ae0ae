-- Supabase Storage's own tables, with its columns, so app migrations can insert buckets and
-- create policies on storage.objects. Translated like any migration. Row-level security is on
-- for both, as in Supabase: without a policy only the service role sees rows.
create table storage.buckets (
  id text primary key,
  name text not null,
  owner uuid,
  owner_id text,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  public boolean default false,
  avif_autodetection boolean default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  type text not null default 'STANDARD'
);
create unique index bname on storage.buckets (name);

-- path_tokens is `string_to_array(name, '/')`, written with each row by the Storage API.
create table storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text references storage.buckets (id),
  name text,
  owner uuid,
  owner_id text,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_accessed_at timestamptz default now(),
  metadata jsonb,
  path_tokens text[],
  version text,
  user_metadata jsonb
);
create unique index bucketid_objname on storage.objects (bucket_id, name);
create index name_prefix_search on storage.objects (name);

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
