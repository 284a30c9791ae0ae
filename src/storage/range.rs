//! Range: a download's `Range: bytes=…` header as Storage reads it — one range, `a-b`, `a-` or
//! the suffix `-n`, clamped to the object; anything else is Storage's 416 `InvalidRange`.

use super::error::StorageError;

/// The first and last byte (inclusive) of `size` bytes that `header` asks for.
pub fn parse(header: &str, size: u64) -> Result<(u64, u64), StorageError> {
    let invalid = StorageError::invalid_range;
    let spec = header.strip_prefix("bytes=").ok_or_else(invalid)?;
    let (start, end) = spec.split_once('-').ok_or_else(invalid)?;
    let number = |text: &str| -> Result<Option<u64>, StorageError> {
        if text.is_empty() {
            return Ok(None);
        }
        if !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(invalid());
        }
        text.parse().map(Some).map_err(|_| invalid())
    };
    if size == 0 {
        return Err(invalid());
    }
    match (number(start)?, number(end)?) {
        (None, None) => Err(invalid()),
        (None, Some(0)) => Err(invalid()),
        (None, Some(suffix)) => Ok((size.saturating_sub(suffix), size - 1)),
        (Some(first), last) => {
            let last = last.unwrap_or(size - 1);
            if first >= size || last < first {
                return Err(invalid());
            }
            Ok((first, last.min(size - 1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn ranges_are_clamped_and_bad_ones_refused() {
        assert_eq!(parse("bytes=0-3", 10).unwrap(), (0, 3));
        assert_eq!(parse("bytes=5-", 10).unwrap(), (5, 9));
        assert_eq!(parse("bytes=-4", 10).unwrap(), (6, 9));
        assert_eq!(parse("bytes=-40", 10).unwrap(), (0, 9));
        assert_eq!(parse("bytes=8-100", 10).unwrap(), (8, 9));
        for bad in [
            "bytes=10-",
            "bytes=4-2",
            "bytes=-",
            "bytes=-0",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=a-b",
        ] {
            let error = parse(bad, 10).unwrap_err();
            assert_eq!(
                (error.http, error.code),
                (StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange"),
                "{bad}"
            );
        }
    }
}
