//! List: `POST /object/list/{bucket}` as Supabase's `storage.search()` answers it — the
//! entries one level below a prefix, folders as `{name, id: null, …}`, files with their row,
//! names relative to the prefix, `search` matching the start of the name case-insensitively.
//! Sorted by name, folders and files interleave; sorted by a timestamp, folders come first.

use serde_json::{Map, Value};

/// A candidate row: the object's full name and its entry's fields.
pub type Row = (String, Map<String, Value>);

/// The request body storage-js sends.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRequest {
    #[serde(default)]
    pub prefix: String,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub sort_by: Option<SortBy>,
    pub search: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct SortBy {
    pub column: Option<String>,
    pub order: Option<String>,
}

/// A validated listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// The folder listed, with its trailing `/` (empty for the bucket's root).
    pub prefix: String,
    pub search: String,
    pub limit: usize,
    pub offset: usize,
    /// `name`, `updated_at`, `created_at` or `last_accessed_at`.
    pub column: &'static str,
    pub descending: bool,
}

impl Listing {
    pub fn new(request: ListRequest) -> Result<Self, String> {
        let mut prefix = request.prefix;
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let sort = request.sort_by;
        let column = match sort.as_ref().and_then(|sort| sort.column.as_deref()) {
            None | Some("name") => "name",
            Some("updated_at") => "updated_at",
            Some("created_at") => "created_at",
            Some("last_accessed_at") => "last_accessed_at",
            Some(other) => {
                return Err(format!(
                    "body/sortBy/column must be equal to one of the allowed values, got {other}"
                ));
            }
        };
        let descending = match sort.as_ref().and_then(|sort| sort.order.as_deref()) {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(format!(
                    "body/sortBy/order must be equal to one of the allowed values, got {other}"
                ));
            }
        };
        let limit = request.limit.unwrap_or(100);
        if limit < 1 {
            return Err("body/limit must be >= 1".into());
        }
        let offset = request.offset.unwrap_or(0);
        if offset < 0 {
            return Err("body/offset must be >= 0".into());
        }
        Ok(Self {
            prefix,
            search: request.search.unwrap_or_default(),
            limit: limit.min(1500) as usize,
            offset: offset as usize,
            column,
            descending,
        })
    }

    /// What names must start with (case-insensitively) to be listed.
    pub fn start(&self) -> String {
        format!("{}{}", self.prefix, self.search)
    }

    /// The SQL order of the candidate rows.
    pub fn order_by(&self) -> String {
        let direction = if self.descending { "DESC" } else { "ASC" };
        match self.column {
            "name" => format!("lower(name) {direction}, name {direction}"),
            column => format!("{column} {direction}, lower(name) {direction}"),
        }
    }

    /// Folds the candidate rows (names starting with `start()`, in `order_by()` order) into
    /// the page of entries.
    pub fn entries(&self, rows: Vec<Row>) -> Vec<Value> {
        let skip = self.prefix.chars().count();
        let start = self.start().chars().count();
        let mut folders: Vec<String> = Vec::new();
        let mut files = Vec::new();
        let mut mixed = Vec::new();
        for (name, row) in rows {
            let after_start: String = name.chars().skip(start).collect();
            let relative: String = name.chars().skip(skip).collect();
            match after_start.find('/') {
                Some(slash) => {
                    let folder_chars = start - skip + after_start[..slash].chars().count();
                    let folder: String = relative.chars().take(folder_chars).collect();
                    if folders.last() != Some(&folder) && !folders.contains(&folder) {
                        folders.push(folder.clone());
                        mixed.push(folder_entry(folder));
                    }
                }
                None => {
                    let mut entry = Map::new();
                    entry.insert("name".into(), Value::String(relative));
                    entry.extend(row);
                    files.push(Value::Object(entry.clone()));
                    mixed.push(Value::Object(entry));
                }
            }
        }
        let ordered = if self.column == "name" {
            mixed
        } else {
            folders.sort();
            if self.descending {
                folders.reverse();
            }
            folders.into_iter().map(folder_entry).chain(files).collect()
        };
        ordered
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect()
    }
}

fn folder_entry(name: String) -> Value {
    serde_json::json!({
        "name": name,
        "id": null,
        "updated_at": null,
        "created_at": null,
        "last_accessed_at": null,
        "metadata": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listing(body: Value) -> Listing {
        Listing::new(serde_json::from_value(body).unwrap()).unwrap()
    }

    fn rows(names: &[&str]) -> Vec<Row> {
        names
            .iter()
            .map(|name| {
                let mut row = Map::new();
                row.insert("id".into(), json!(format!("id-{name}")));
                (name.to_string(), row)
            })
            .collect()
    }

    fn names(entries: &[Value]) -> Vec<String> {
        entries
            .iter()
            .map(|entry| {
                let kind = if entry["id"].is_null() { "dir " } else { "" };
                format!("{kind}{}", entry["name"].as_str().unwrap())
            })
            .collect()
    }

    #[test]
    fn one_level_below_the_prefix_with_folders_interleaved_by_name() {
        let root = listing(json!({"prefix": ""}));
        let entries = root.entries(rows(&["a.txt", "docs/x.txt", "docs/y/z.txt", "m.txt"]));
        assert_eq!(names(&entries), ["a.txt", "dir docs", "m.txt"]);
        let docs = listing(json!({"prefix": "docs"}));
        assert_eq!(docs.start(), "docs/");
        let entries = docs.entries(rows(&["docs/x.txt", "docs/y/z.txt"]));
        assert_eq!(names(&entries), ["x.txt", "dir y"]);
    }

    #[test]
    fn search_offset_and_limit_apply_to_the_entries() {
        let page = listing(json!({"prefix": "", "search": "do", "limit": 1, "offset": 1}));
        let entries = page.entries(rows(&["doc1.txt", "docs/a", "docs/b"]));
        assert_eq!(names(&entries), ["dir docs"]);
    }

    #[test]
    fn timestamp_sorts_put_folders_first_and_bad_sorts_are_refused() {
        let by_date =
            listing(json!({"prefix": "", "sortBy": {"column": "created_at", "order": "desc"}}));
        assert_eq!(by_date.order_by(), "created_at DESC, lower(name) DESC");
        let entries = by_date.entries(rows(&["b.txt", "a/1", "z/2", "c.txt"]));
        assert_eq!(names(&entries), ["dir z", "dir a", "b.txt", "c.txt"]);
        let bad =
            serde_json::from_value(json!({"prefix": "", "sortBy": {"column": "size"}})).unwrap();
        assert!(Listing::new(bad).is_err());
    }
}
