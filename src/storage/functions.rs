//! Storage's SQL helpers as SQLite functions: `storage.foldername(name)` (a JSON array, as
//! arrays are stored), `storage.filename(name)` and `storage.extension(name)`, with the results
//! of Supabase's plpgsql definitions (`string_to_array(name, '/')` and its parts). A
//! migration's own `create function storage.foldername(…)` leaves the built-in in place.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use crate::schema::QualifiedName;

/// Whether `name` is one of these helpers. A migration redefining one (dumps of a Supabase
/// database carry Storage's own definitions) leaves the built-in in place.
pub fn is_builtin(name: &QualifiedName) -> bool {
    name.schema == "storage"
        && matches!(name.name.as_str(), "foldername" | "filename" | "extension")
}

/// `string_to_array(name, '/')`: no parts for the empty string.
fn parts(name: &str) -> Vec<&str> {
    if name.is_empty() {
        Vec::new()
    } else {
        name.split('/').collect()
    }
}

/// `_parts[1:array_length(_parts, 1) - 1]`: every part but the last; NULL when there are none.
pub fn foldername(name: &str) -> Option<Vec<&str>> {
    let parts = parts(name);
    let (_, folders) = parts.split_last()?;
    Some(folders.to_vec())
}

/// `_parts[array_length(_parts, 1)]`: the last part.
pub fn filename(name: &str) -> Option<&str> {
    parts(name).last().copied()
}

/// `reverse(split_part(reverse(filename), '.', 1))`: the text after the last dot, or the whole
/// file name when it has none.
pub fn extension(name: &str) -> Option<&str> {
    filename(name).map(|file| file.rsplit('.').next().unwrap_or(file))
}

pub fn register(connection: &Connection) -> rusqlite::Result<()> {
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    connection.create_scalar_function("storage_foldername", 1, pure, |context| {
        let name: Option<String> = context.get(0)?;
        Ok(name
            .as_deref()
            .and_then(foldername)
            .map(|folders| serde_json::to_string(&folders).expect("strings serialize")))
    })?;
    connection.create_scalar_function("storage_filename", 1, pure, |context| {
        let name: Option<String> = context.get(0)?;
        Ok(name.as_deref().and_then(filename).map(str::to_owned))
    })?;
    connection.create_scalar_function("storage_extension", 1, pure, |context| {
        let name: Option<String> = context.get(0)?;
        Ok(name.as_deref().and_then(extension).map(str::to_owned))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_split_names_as_supabase_does() {
        assert_eq!(foldername("u1/avatars/a.png"), Some(vec!["u1", "avatars"]));
        assert_eq!(foldername("a.png"), Some(vec![]));
        assert_eq!(foldername(""), None);
        assert_eq!(filename("u1/a.png"), Some("a.png"));
        assert_eq!(filename("u1/"), Some(""));
        assert_eq!(filename(""), None);
        assert_eq!(extension("u1/a.tar.gz"), Some("gz"));
        assert_eq!(extension("u1/README"), Some("README"));
    }

    #[test]
    fn sql_functions_return_json_arrays_and_text() {
        let connection = Connection::open_in_memory().unwrap();
        register(&connection).unwrap();
        let (folders, file, extension): (String, String, String) = connection
            .query_row(
                "select storage_foldername('u1/x/a.png'), storage_filename('u1/x/a.png'), storage_extension('u1/x/a.png')",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (folders.as_str(), file.as_str(), extension.as_str()),
            (r#"["u1","x"]"#, "a.png", "png")
        );
    }
}
