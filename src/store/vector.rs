//! Vector: pgvector's distance functions over stored vectors (`[1,2.5,3]` text), computed as
//! pgvector computes them: elements as 4-byte floats, sums accumulated in 4-byte floats, the
//! result a double. `<->` is `l2_distance`, `<=>` `cosine_distance`, `<#>`
//! `vector_negative_inner_product`.

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};

use crate::plpgsql::PgError;

/// Registers `l2_distance`, `inner_product`, `vector_negative_inner_product`,
/// `cosine_distance`, `l1_distance`, `vector_dims` and `vector_norm`.
pub fn register(connection: &Connection) -> rusqlite::Result<()> {
    type Pair = fn(&[f32], &[f32]) -> f64;
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    for (name, distance) in [
        ("l2_distance", l2_distance as Pair),
        ("inner_product", |a, b| f64::from(dot(a, b))),
        ("vector_negative_inner_product", |a, b| {
            -f64::from(dot(a, b))
        }),
        ("cosine_distance", cosine_distance),
        ("l1_distance", |a, b| {
            f64::from(a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>())
        }),
    ] {
        connection.create_scalar_function(name, 2, pure, move |context| {
            let (Some(a), Some(b)) = (vector(context, 0)?, vector(context, 1)?) else {
                return Ok(None);
            };
            if a.len() != b.len() {
                return Err(rusqlite::Error::UserFunctionError(Box::new(PgError::new(
                    "22000",
                    format!("different vector dimensions {} and {}", a.len(), b.len()),
                ))));
            }
            Ok(Some(distance(&a, &b)))
        })?;
    }
    connection.create_scalar_function("vector_dims", 1, pure, |context| {
        Ok(vector(context, 0)?.map(|v| v.len() as i64))
    })?;
    connection.create_scalar_function("vector_norm", 1, pure, |context| {
        Ok(vector(context, 0)?.map(|v| f64::from(dot(&v, &v)).sqrt()))
    })
}

/// Argument `index` as a vector: stored text, or any JSON array of numbers.
fn vector(context: &Context, index: usize) -> rusqlite::Result<Option<Vec<f32>>> {
    let Some(text) = context.get::<Option<String>>(index)? else {
        return Ok(None);
    };
    serde_json::from_str::<Vec<f32>>(&text)
        .map(Some)
        .map_err(|_| {
            rusqlite::Error::UserFunctionError(Box::new(PgError::new(
                "22P02",
                format!("invalid input syntax for type vector: \"{text}\""),
            )))
        })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn l2_distance(a: &[f32], b: &[f32]) -> f64 {
    f64::from(a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>()).sqrt()
}

/// 1 − cosine similarity, the similarity kept within [−1, 1]; NaN (NULL in SQLite) for a zero
/// vector.
fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    let similarity = f64::from(dot(a, b)) / (f64::from(dot(a, a)) * f64::from(dot(b, b))).sqrt();
    if similarity.is_nan() {
        return f64::NAN;
    }
    1.0 - similarity.clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(sql: &str) -> Option<f64> {
        let connection = Connection::open_in_memory().unwrap();
        register(&connection).unwrap();
        connection.query_row(sql, [], |row| row.get(0)).unwrap()
    }

    /// Values pgvector 0.7 answers (`select '[1,2,3]'::vector <-> '[4,6,8]'` and so on).
    #[test]
    fn distances_are_pgvectors() {
        assert_eq!(
            answer("select l2_distance('[1,2,3]', '[4,6,8]')"),
            Some(50f64.sqrt())
        );
        assert_eq!(
            answer("select inner_product('[1,2,3]', '[4,5,6]')"),
            Some(32.0)
        );
        assert_eq!(
            answer("select vector_negative_inner_product('[1,2,3]', '[4,5,6]')"),
            Some(-32.0)
        );
        assert_eq!(
            answer("select l1_distance('[1,2,3]', '[4,6,8]')"),
            Some(12.0)
        );
        assert_eq!(
            answer("select cosine_distance('[1,2]', '[2,4]')"),
            Some(0.0)
        );
        assert_eq!(
            answer("select cosine_distance('[1,0]', '[0,1]')"),
            Some(1.0)
        );
        assert_eq!(
            answer("select cosine_distance('[1,1]', '[-1,-1]')"),
            Some(2.0)
        );
        // pgvector answers NaN for a zero vector; SQLite stores NaN as NULL.
        assert_eq!(answer("select cosine_distance('[0,0]', '[1,1]')"), None);
        assert_eq!(answer("select vector_norm('[3,4]')"), Some(5.0));
        assert_eq!(answer("select vector_dims('[3,4,5]')"), Some(3.0));
        assert_eq!(answer("select l2_distance(null, '[1]')"), None);
        // Accumulated in 4-byte floats, as pgvector does: 0.1 + 0.2 in f32, not in f64.
        let single = f64::from(0.1f32 * 0.1f32 + 0.2f32 * 0.2f32);
        assert_eq!(
            answer("select vector_norm('[0.1,0.2]')"),
            Some(single.sqrt())
        );
    }

    #[test]
    fn different_dimensions_are_a_data_exception() {
        let connection = Connection::open_in_memory().unwrap();
        register(&connection).unwrap();
        let error = connection
            .query_row("select l2_distance('[1,2]', '[1,2,3]')", [], |row| {
                row.get::<_, f64>(0)
            })
            .unwrap_err();
        let error = PgError::from_sqlite(&error);
        assert_eq!(error.code, "22000");
        assert_eq!(error.message, "different vector dimensions 2 and 3");
    }
}
