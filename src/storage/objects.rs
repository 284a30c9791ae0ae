//! Objects: the rows of `storage.buckets` and `storage.objects`, read and written as Supabase
//! Storage does, each operation authorized by the caller's policies from `rest::authorize`
//! (the one RLS engine): reads see rows passing `select` policies, writes are checked against
//! `insert`/`update`/`delete` policies, and a refused write is Storage's 403 RLS error.
//! Every function runs inside a job on the store.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde_json::{Map, Value, json};

use super::error::StorageError;
use crate::auth::Caller;
use crate::rest::authorize::{Clause, row_filter};
use crate::schema::{PolicyCommand, QualifiedName, SchemaCache};

pub const BUCKETS: &str = "\"storage.buckets\"";
pub const OBJECTS: &str = "\"storage.objects\"";

/// Who asks, and the schema whose policies decide.
pub struct Access<'a> {
    pub schema: &'a SchemaCache,
    pub caller: &'a Caller,
}

impl Access<'_> {
    /// Rows the caller may delete: as in Postgres, a `delete … where …` also needs the row to
    /// pass the select policies.
    pub fn deletable(&self, table: &str) -> Result<String, StorageError> {
        self.readable_and(table, PolicyCommand::Delete)
    }

    /// Rows the caller may update (an `update … where …`: select and update policies).
    pub fn updatable(&self, table: &str) -> Result<String, StorageError> {
        self.readable_and(table, PolicyCommand::Update)
    }

    fn readable_and(&self, table: &str, command: PolicyCommand) -> Result<String, StorageError> {
        let select = self.policy(table, PolicyCommand::Select, Clause::Using)?;
        let other = self.policy(table, command, Clause::Using)?;
        Ok(format!("({select}) AND ({other})"))
    }

    /// The caller's predicate over `storage.<table>` rows for a command and clause ("1": all
    /// rows). A policy that cannot be evaluated denies.
    pub fn policy(
        &self,
        table: &str,
        command: PolicyCommand,
        clause: Clause,
    ) -> Result<String, StorageError> {
        let table = self
            .schema
            .table(&QualifiedName::new("storage", table))
            .ok_or_else(|| StorageError::internal(format!("storage.{table} is missing")))?;
        row_filter(self.schema, table, command, clause, self.caller)
            .map(|filter| filter.unwrap_or_else(|| "1".into()))
            .map_err(|error| StorageError::access_denied(error.message))
    }
}

/// A bucket's limits, as uploads need them.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub id: String,
    pub public: bool,
    pub file_size_limit: Option<u64>,
    pub allowed_mime_types: Vec<String>,
}

const BUCKET_COLUMNS: &str = "id, name, owner, owner_id, public, type, file_size_limit, allowed_mime_types, created_at, updated_at";

fn bucket_json(row: &rusqlite::Row) -> rusqlite::Result<Value> {
    let types: Option<String> = row.get(7)?;
    Ok(json!({
        "id": row.get::<_, String>(0)?,
        "name": row.get::<_, String>(1)?,
        "owner": row.get::<_, Option<String>>(2)?,
        "owner_id": row.get::<_, Option<String>>(3)?,
        "public": row.get::<_, Option<bool>>(4)?.unwrap_or(false),
        "type": row.get::<_, Option<String>>(5)?,
        "file_size_limit": row.get::<_, Option<i64>>(6)?,
        "allowed_mime_types": types.and_then(|text| serde_json::from_str::<Value>(&text).ok()),
        "created_at": row.get::<_, Option<String>>(8)?,
        "updated_at": row.get::<_, Option<String>>(9)?,
    }))
}

/// A bucket by id, whatever the caller's policies (Storage reads limits as the superuser).
pub fn find_bucket(connection: &Connection, id: &str) -> Result<Bucket, StorageError> {
    connection
        .query_row(
            &format!("SELECT id, public, file_size_limit, allowed_mime_types FROM {BUCKETS} WHERE id = ?1"),
            [id],
            |row| {
                let types: Option<String> = row.get(3)?;
                Ok(Bucket {
                    id: row.get(0)?,
                    public: row.get::<_, Option<bool>>(1)?.unwrap_or(false),
                    file_size_limit: row.get::<_, Option<i64>>(2)?.and_then(|limit| u64::try_from(limit).ok()),
                    allowed_mime_types: types
                        .and_then(|text| serde_json::from_str(&text).ok())
                        .unwrap_or_default(),
                })
            },
        )
        .optional()?
        .ok_or_else(StorageError::bucket_not_found)
}

/// `GET /bucket/{id}`: the bucket if the caller's select policies let it be seen.
pub fn get_bucket(
    connection: &Connection,
    access: &Access,
    id: &str,
) -> Result<Value, StorageError> {
    let visible = access.policy("buckets", PolicyCommand::Select, Clause::Using)?;
    connection
        .query_row(
            &format!("SELECT {BUCKET_COLUMNS} FROM {BUCKETS} WHERE id = ?1 AND ({visible})"),
            [id],
            bucket_json,
        )
        .optional()?
        .ok_or_else(StorageError::bucket_not_found)
}

/// How `GET /bucket` pages and sorts.
#[derive(Debug, Default)]
pub struct BucketQuery {
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub search: Option<String>,
    pub sort_column: Option<String>,
    pub sort_order: Option<String>,
}

pub fn list_buckets(
    connection: &Connection,
    access: &Access,
    query: &BucketQuery,
) -> Result<Value, StorageError> {
    let visible = access.policy("buckets", PolicyCommand::Select, Clause::Using)?;
    let column = match query.sort_column.as_deref() {
        None => "name",
        Some(column @ ("id" | "name" | "created_at" | "updated_at")) => column,
        Some(other) => {
            return Err(StorageError::invalid_request(format!(
                "Invalid sortColumn: {other}"
            )));
        }
    };
    let order = match query.sort_order.as_deref() {
        None | Some("asc") => "ASC",
        Some("desc") => "DESC",
        Some(other) => {
            return Err(StorageError::invalid_request(format!(
                "Invalid sortOrder: {other}"
            )));
        }
    };
    let sql = format!(
        "SELECT {BUCKET_COLUMNS} FROM {BUCKETS} WHERE ({visible}) AND (?1 IS NULL OR instr(lower(name), lower(?1)) > 0)
         ORDER BY {column} {order} LIMIT ?2 OFFSET ?3"
    );
    let limit = query.limit.map_or(-1, |limit| limit as i64);
    let mut statement = connection.prepare(&sql)?;
    let rows = statement
        .query_map(
            params![query.search, limit, query.offset.unwrap_or(0) as i64],
            bucket_json,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(rows))
}

/// The settable fields of a bucket (`POST /bucket`, `PUT /bucket/{id}`).
#[derive(Debug, Default)]
pub struct BucketFields {
    pub public: Option<bool>,
    /// `Some(None)` clears the limit.
    pub file_size_limit: Option<Option<u64>>,
    pub allowed_mime_types: Option<Option<Vec<String>>>,
}

/// Whether a candidate row (given as `column → value`) passes `predicate`, evaluated as if it
/// were a row of the table (`alias`).
fn candidate_passes(
    connection: &Connection,
    alias: &str,
    row: &[(&str, SqlValue)],
    predicate: &str,
) -> Result<bool, StorageError> {
    if predicate == "1" {
        return Ok(true);
    }
    let columns: Vec<String> = row
        .iter()
        .enumerate()
        .map(|(index, (name, _))| format!("?{} AS \"{name}\"", index + 1))
        .collect();
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM (SELECT {}) AS \"{alias}\" WHERE {predicate})",
        columns.join(", ")
    );
    Ok(connection.query_row(
        &sql,
        params_from_iter(row.iter().map(|(_, value)| value)),
        |row| row.get(0),
    )?)
}

fn text(value: Option<&str>) -> SqlValue {
    value.map_or(SqlValue::Null, |text| SqlValue::Text(text.to_owned()))
}

/// `POST /bucket`: inserts the bucket if the caller's insert policies allow it.
pub fn create_bucket(
    connection: &Connection,
    access: &Access,
    id: &str,
    name: &str,
    fields: &BucketFields,
) -> Result<(), StorageError> {
    let owner = access.caller.user_id();
    let types = fields
        .allowed_mime_types
        .clone()
        .flatten()
        .map(|types| serde_json::to_string(&types).expect("strings serialize"));
    let limit = fields.file_size_limit.flatten().map(|limit| limit as i64);
    let public = fields.public.unwrap_or(false);
    let check = access.policy("buckets", PolicyCommand::Insert, Clause::WithCheck)?;
    let candidate = [
        ("id", text(Some(id))),
        ("name", text(Some(name))),
        (
            "owner",
            text(owner.filter(|owner| uuid::Uuid::parse_str(owner).is_ok())),
        ),
        ("owner_id", text(owner)),
        ("public", SqlValue::Integer(public.into())),
        (
            "file_size_limit",
            limit.map_or(SqlValue::Null, SqlValue::Integer),
        ),
        ("allowed_mime_types", text(types.as_deref())),
        ("type", text(Some("STANDARD"))),
        ("avif_autodetection", SqlValue::Integer(0)),
    ];
    let now = crate::store::functions::timestamp_now();
    let mut checked = candidate.to_vec();
    checked.extend([
        ("created_at", SqlValue::Text(now.clone())),
        ("updated_at", SqlValue::Text(now)),
    ]);
    if !candidate_passes(connection, "buckets", &checked, &check)? {
        return Err(StorageError::row_level_security());
    }
    let columns: Vec<&str> = candidate.iter().map(|(name, _)| *name).collect();
    let placeholders: Vec<String> = (1..=candidate.len())
        .map(|index| format!("?{index}"))
        .collect();
    connection.execute(
        &format!(
            "INSERT INTO {BUCKETS} ({}, created_at, updated_at) VALUES ({}, pg_now(), pg_now())",
            columns.join(", "),
            placeholders.join(", ")
        ),
        params_from_iter(candidate.iter().map(|(_, value)| value)),
    )?;
    Ok(())
}

/// `PUT /bucket/{id}`: updates the fields given, on a bucket the caller may update.
pub fn update_bucket(
    connection: &Connection,
    access: &Access,
    id: &str,
    fields: &BucketFields,
) -> Result<(), StorageError> {
    let using = access.updatable("buckets")?;
    let check = access.policy("buckets", PolicyCommand::Update, Clause::WithCheck)?;
    let mut sets = vec!["updated_at = pg_now()".to_owned()];
    let mut values: Vec<SqlValue> = vec![SqlValue::Text(id.to_owned())];
    if let Some(public) = fields.public {
        values.push(SqlValue::Integer(public.into()));
        sets.push(format!("public = ?{}", values.len()));
    }
    if let Some(limit) = fields.file_size_limit {
        values.push(limit.map_or(SqlValue::Null, |limit| SqlValue::Integer(limit as i64)));
        sets.push(format!("file_size_limit = ?{}", values.len()));
    }
    if let Some(types) = &fields.allowed_mime_types {
        values.push(text(
            types
                .as_ref()
                .map(|types| serde_json::to_string(types).expect("strings serialize"))
                .as_deref(),
        ));
        sets.push(format!("allowed_mime_types = ?{}", values.len()));
    }
    let transaction = connection.unchecked_transaction()?;
    let updated = transaction.execute(
        &format!(
            "UPDATE {BUCKETS} SET {} WHERE id = ?1 AND ({using})",
            sets.join(", ")
        ),
        params_from_iter(values.iter()),
    )?;
    if updated == 0 {
        return Err(StorageError::bucket_not_found());
    }
    let allowed: bool = transaction.query_row(
        &format!("SELECT EXISTS (SELECT 1 FROM {BUCKETS} WHERE id = ?1 AND ({check}))"),
        [id],
        |row| row.get(0),
    )?;
    if !allowed {
        return Err(StorageError::row_level_security());
    }
    transaction.commit()?;
    Ok(())
}

/// `DELETE /bucket/{id}`: refused while it holds objects.
pub fn delete_bucket(
    connection: &Connection,
    access: &Access,
    id: &str,
) -> Result<(), StorageError> {
    get_bucket(connection, access, id)?;
    let objects: i64 = connection.query_row(
        &format!("SELECT count(*) FROM {OBJECTS} WHERE bucket_id = ?1"),
        [id],
        |row| row.get(0),
    )?;
    if objects > 0 {
        return Err(StorageError::bucket_not_empty());
    }
    let using = access.policy("buckets", PolicyCommand::Delete, Clause::Using)?;
    let deleted = connection.execute(
        &format!("DELETE FROM {BUCKETS} WHERE id = ?1 AND ({using})"),
        [id],
    )?;
    if deleted == 0 {
        return Err(StorageError::access_denied("Access denied"));
    }
    Ok(())
}

/// A stored object as the API describes it.
#[derive(Debug, Clone)]
pub struct Object {
    pub id: String,
    pub bucket_id: String,
    pub name: String,
    pub owner_id: Option<String>,
    pub version: String,
    pub metadata: Value,
    pub user_metadata: Value,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub last_accessed_at: Option<String>,
}

const OBJECT_COLUMNS: &str = "id, bucket_id, name, owner_id, version, metadata, user_metadata, created_at, updated_at, last_accessed_at";

fn object_from_row(row: &rusqlite::Row) -> rusqlite::Result<Object> {
    let json = |index: usize| -> rusqlite::Result<Value> {
        let text: Option<String> = row.get(index)?;
        Ok(text
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null))
    };
    Ok(Object {
        id: row.get(0)?,
        bucket_id: row.get(1)?,
        name: row.get(2)?,
        owner_id: row.get(3)?,
        version: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
        metadata: json(5)?,
        user_metadata: json(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        last_accessed_at: row.get(9)?,
    })
}

impl Object {
    /// The row as Storage returns it from deletes.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "bucket_id": self.bucket_id,
            "name": self.name,
            "owner": self.owner_id,
            "owner_id": self.owner_id,
            "version": self.version,
            "metadata": self.metadata,
            "user_metadata": self.user_metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_accessed_at": self.last_accessed_at,
        })
    }

    /// `GET /object/info/…`.
    pub fn info_json(&self) -> Value {
        let field = |name: &str| self.metadata.get(name).cloned().unwrap_or(Value::Null);
        json!({
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "bucket_id": self.bucket_id,
            "size": field("size"),
            "content_type": field("mimetype"),
            "cache_control": field("cacheControl"),
            "etag": field("eTag"),
            "metadata": self.user_metadata,
            "last_modified": self.updated_at,
            "created_at": self.created_at,
        })
    }

    pub fn metadata_text(&self, name: &str) -> Option<&str> {
        self.metadata.get(name).and_then(Value::as_str)
    }
}

/// An object by bucket and name, if the caller's select policies let it be seen.
pub fn find_object(
    connection: &Connection,
    access: &Access,
    bucket: &str,
    name: &str,
) -> Result<Object, StorageError> {
    let visible = access.policy("objects", PolicyCommand::Select, Clause::Using)?;
    connection
        .query_row(
            &format!("SELECT {OBJECT_COLUMNS} FROM {OBJECTS} WHERE bucket_id = ?1 AND name = ?2 AND ({visible})"),
            [bucket, name],
            object_from_row,
        )
        .optional()?
        .ok_or_else(StorageError::object_not_found)
}

/// What an upload writes into a row.
#[derive(Debug, Clone)]
pub struct NewObject {
    pub bucket_id: String,
    pub name: String,
    pub owner: Option<String>,
    pub version: String,
    pub metadata: Value,
    pub user_metadata: Option<Value>,
}

impl NewObject {
    fn candidate(&self) -> Vec<(&'static str, SqlValue)> {
        let tokens: Vec<&str> = self.name.split('/').collect();
        vec![
            ("bucket_id", text(Some(&self.bucket_id))),
            ("name", text(Some(&self.name))),
            (
                "owner",
                text(
                    self.owner
                        .as_deref()
                        .filter(|owner| uuid::Uuid::parse_str(owner).is_ok()),
                ),
            ),
            ("owner_id", text(self.owner.as_deref())),
            ("version", text(Some(&self.version))),
            ("metadata", SqlValue::Text(self.metadata.to_string())),
            (
                "user_metadata",
                self.user_metadata
                    .as_ref()
                    .map_or(SqlValue::Null, |value| SqlValue::Text(value.to_string())),
            ),
            (
                "path_tokens",
                SqlValue::Text(serde_json::to_string(&tokens).expect("strings serialize")),
            ),
        ]
    }
}

/// Whether the caller may write `object`, as Postgres would decide its insert (or, with
/// `upsert`, its `insert … on conflict do update`): the insert policies' check on the new row;
/// for an existing row, without `upsert` a duplicate, with it the select and update policies on
/// the old row and the update check on the new one. Writes nothing.
pub fn check_write(
    connection: &Connection,
    access: &Access,
    object: &NewObject,
    upsert: bool,
) -> Result<(), StorageError> {
    let now = crate::store::functions::timestamp_now();
    let mut candidate = object.candidate();
    candidate.extend([
        ("id", SqlValue::Text(uuid::Uuid::new_v4().to_string())),
        ("created_at", SqlValue::Text(now.clone())),
        ("updated_at", SqlValue::Text(now.clone())),
        ("last_accessed_at", SqlValue::Text(now)),
    ]);
    let insert = access.policy("objects", PolicyCommand::Insert, Clause::WithCheck)?;
    if !candidate_passes(connection, "objects", &candidate, &insert)? {
        return Err(StorageError::row_level_security());
    }
    let existing: Option<i64> = connection
        .query_row(
            &format!("SELECT rowid FROM {OBJECTS} WHERE bucket_id = ?1 AND name = ?2"),
            [&object.bucket_id, &object.name],
            |row| row.get(0),
        )
        .optional()?;
    let Some(rowid) = existing else {
        return Ok(());
    };
    if !upsert {
        return Err(StorageError::duplicate());
    }
    let updatable = access.updatable("objects")?;
    let old_row_passes: bool = connection.query_row(
        &format!("SELECT EXISTS (SELECT 1 FROM {OBJECTS} WHERE rowid = ?1 AND {updatable})"),
        [rowid],
        |row| row.get(0),
    )?;
    let check = access.policy("objects", PolicyCommand::Update, Clause::WithCheck)?;
    if !old_row_passes || !candidate_passes(connection, "objects", &candidate, &check)? {
        return Err(StorageError::row_level_security());
    }
    Ok(())
}

/// Writes the row of a finished upload (as the superuser, once `check_write` allowed it):
/// inserts it, or replaces the existing object's content. Returns the object's id and the
/// version it replaced, whose file is now unused.
pub fn commit_write(
    connection: &Connection,
    object: &NewObject,
) -> Result<(String, Option<String>), StorageError> {
    let transaction = connection.unchecked_transaction()?;
    let existing: Option<(String, Option<String>)> = transaction
        .query_row(
            &format!("SELECT id, version FROM {OBJECTS} WHERE bucket_id = ?1 AND name = ?2"),
            [&object.bucket_id, &object.name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let candidate = object.candidate();
    let values = params_from_iter(candidate.iter().map(|(_, value)| value));
    let id = match &existing {
        Some((id, _)) => {
            let sets: Vec<String> = candidate
                .iter()
                .enumerate()
                .map(|(index, (name, _))| format!("{name} = ?{}", index + 1))
                .collect();
            transaction.execute(
                &format!(
                    "UPDATE {OBJECTS} SET {}, updated_at = pg_now(), last_accessed_at = pg_now() WHERE bucket_id = ?1 AND name = ?2",
                    sets.join(", ")
                ),
                values,
            )?;
            id.clone()
        }
        None => {
            let columns: Vec<&str> = candidate.iter().map(|(name, _)| *name).collect();
            let placeholders: Vec<String> = (1..=candidate.len())
                .map(|index| format!("?{index}"))
                .collect();
            transaction.query_row(
                &format!(
                    "INSERT INTO {OBJECTS} ({}, created_at, updated_at, last_accessed_at) VALUES ({}, pg_now(), pg_now(), pg_now()) RETURNING id",
                    columns.join(", "),
                    placeholders.join(", ")
                ),
                values,
                |row| row.get(0),
            )?
        }
    };
    transaction.commit()?;
    Ok((id, existing.and_then(|(_, version)| version)))
}

/// `POST /object/move`: renames an object the caller may see and update; the file stays.
pub fn move_object(
    connection: &Connection,
    access: &Access,
    from: (&str, &str),
    to: (&str, &str),
) -> Result<String, StorageError> {
    let transaction = connection.unchecked_transaction()?;
    let source = find_object(&transaction, access, from.0, from.1)?;
    find_bucket(&transaction, to.0)?;
    let using = access.updatable("objects")?;
    let check = access.policy("objects", PolicyCommand::Update, Clause::WithCheck)?;
    let tokens =
        serde_json::to_string(&to.1.split('/').collect::<Vec<_>>()).expect("strings serialize");
    let owner = access.caller.user_id();
    let updated = transaction.execute(
        &format!(
            "UPDATE {OBJECTS} SET bucket_id = ?3, name = ?4, path_tokens = ?5, owner = ?6, owner_id = ?7, updated_at = pg_now()
             WHERE bucket_id = ?1 AND name = ?2 AND ({using})"
        ),
        params![
            from.0,
            from.1,
            to.0,
            to.1,
            tokens,
            owner.filter(|owner| uuid::Uuid::parse_str(owner).is_ok()),
            owner
        ],
    )?;
    let allowed = updated == 1
        && transaction.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM {OBJECTS} WHERE id = ?1 AND ({check}))"),
            [&source.id],
            |row| row.get(0),
        )?;
    if !allowed {
        return Err(StorageError::row_level_security());
    }
    transaction.commit()?;
    Ok(source.id)
}

/// `DELETE /object/{bucket}` with `prefixes`: deletes the named objects the caller's delete
/// policies allow and returns them (the others are left alone, as Postgres would).
pub fn delete_objects(
    connection: &Connection,
    access: &Access,
    bucket: &str,
    names: &[String],
) -> Result<Vec<Object>, StorageError> {
    let using = access.deletable("objects")?;
    let mut deleted = Vec::new();
    let transaction = connection.unchecked_transaction()?;
    for name in names {
        let row = transaction
            .query_row(
                &format!("DELETE FROM {OBJECTS} WHERE bucket_id = ?1 AND name = ?2 AND ({using}) RETURNING {OBJECT_COLUMNS}"),
                [bucket, name.as_str()],
                object_from_row,
            )
            .optional()?;
        deleted.extend(row);
    }
    transaction.commit()?;
    Ok(deleted)
}

/// `POST /bucket/{id}/empty`: deletes every object of the bucket the caller may delete;
/// returns their versions.
pub fn empty_bucket(
    connection: &Connection,
    access: &Access,
    bucket: &str,
) -> Result<Vec<String>, StorageError> {
    get_bucket(connection, access, bucket)?;
    let using = access.deletable("objects")?;
    let mut statement = connection.prepare(&format!(
        "DELETE FROM {OBJECTS} WHERE bucket_id = ?1 AND ({using}) RETURNING version"
    ))?;
    let versions = statement
        .query_map([bucket], |row| row.get::<_, Option<String>>(0))?
        .filter_map(Result::transpose)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(versions)
}

/// The objects the caller may see whose names start with `start` (case-insensitively), in
/// the order `list` needs: `(name, entry json)`.
pub fn objects_under(
    connection: &Connection,
    access: &Access,
    bucket: &str,
    start: &str,
    order_by: &str,
) -> Result<Vec<super::list::Row>, StorageError> {
    let visible = access.policy("objects", PolicyCommand::Select, Clause::Using)?;
    let mut statement = connection.prepare(&format!(
        "SELECT {OBJECT_COLUMNS} FROM {OBJECTS}
         WHERE bucket_id = ?1 AND substr(lower(name), 1, length(?2)) = lower(?2) AND ({visible})
         ORDER BY {order_by}"
    ))?;
    let rows = statement
        .query_map(params![bucket, start], object_from_row)?
        .map(|row| {
            row.map(|object| {
                let mut entry = Map::new();
                entry.insert("id".into(), Value::String(object.id));
                entry.insert("updated_at".into(), json!(object.updated_at));
                entry.insert("created_at".into(), json!(object.created_at));
                entry.insert("last_accessed_at".into(), json!(object.last_accessed_at));
                entry.insert("metadata".into(), object.metadata);
                (object.name, entry)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Every version a row names (for the orphan sweep on start).
pub fn live_versions(
    connection: &Connection,
) -> rusqlite::Result<std::collections::HashSet<String>> {
    let mut statement = connection.prepare(&format!(
        "SELECT version FROM {OBJECTS} WHERE version IS NOT NULL"
    ))?;
    let versions = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(versions)
}
