//! How an item's long text is kept: deflated. The body is most of an item's bytes, and
//! news text repeats itself enough that deflate (level 6) keeps it in well under half the
//! space; short text would not shrink and stays as it is.
//!
//! The column is typed by its value, as SQLite allows: TEXT is the text itself (short
//! text, and every row written before this existed), a BLOB is one format byte and the
//! raw deflate stream. So no migration rewrites old rows, and both kinds read back the
//! same. No query looks inside the text: topics and targets are matched in Rust at
//! ingest, and their links are rows of their own.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, Value, ValueRef};

/// Text shorter than this stays TEXT: deflate would gain little on it.
const PACK_FROM_BYTES: usize = 256;
/// The format byte that opens a packed value: raw deflate of the UTF-8 text.
const DEFLATE: u8 = 1;
/// Level 6, deflate's usual balance of size and time.
const LEVEL: u8 = 6;
/// The most a packed value may unpack to. Documents are refused above
/// `ingest.max_file_bytes` (2 MiB by default) before they are read, so a stored body is
/// far below this; a larger result means a damaged or forged value, and unpacking stops
/// there instead of filling memory.
pub(crate) const MAX_UNPACKED_BYTES: usize = 64 << 20;

/// Text on its way into SQLite, packed when that pays.
pub(crate) struct PackedText<'a>(pub &'a str);

impl ToSql for PackedText<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let text = self.0.as_bytes();
        if text.len() >= PACK_FROM_BYTES {
            let deflated = miniz_oxide::deflate::compress_to_vec(text, LEVEL);
            if deflated.len() + 1 < text.len() {
                let mut packed = Vec::with_capacity(deflated.len() + 1);
                packed.push(DEFLATE);
                packed.extend_from_slice(&deflated);
                return Ok(ToSqlOutput::Owned(Value::Blob(packed)));
            }
        }
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(text)))
    }
}

/// Text read back from SQLite, unpacked.
pub(crate) struct UnpackedText(pub String);

impl FromSql for UnpackedText {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Text(text) => std::str::from_utf8(text)
                .map(|t| UnpackedText(t.to_string()))
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            ValueRef::Blob([DEFLATE, deflated @ ..]) => {
                let text = miniz_oxide::inflate::decompress_to_vec_with_limit(
                    deflated,
                    MAX_UNPACKED_BYTES,
                )
                .map_err(|e| FromSqlError::Other(format!("packed text: {e}").into()))?;
                String::from_utf8(text)
                    .map(UnpackedText)
                    .map_err(|e| FromSqlError::Other(Box::new(e)))
            }
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn round_trip(text: &str) -> (String, String) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute("CREATE TABLE t (v TEXT NOT NULL)", [])
            .unwrap();
        conn.execute("INSERT INTO t (v) VALUES (?1)", [PackedText(text)])
            .unwrap();
        conn.query_row("SELECT typeof(v), v FROM t", [], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, UnpackedText>(1)?.0))
        })
        .unwrap()
    }

    #[test]
    fn long_text_is_packed_short_text_is_not_and_both_come_back_whole() {
        let long = "美联储维持利率不变，市场预期年内降息两次。".repeat(40);
        assert_eq!(round_trip(&long), ("blob".to_string(), long.clone()));
        assert_eq!(
            round_trip("短摘要"),
            ("text".to_string(), "短摘要".to_string())
        );
        // Text deflate cannot shrink stays text.
        let noise: String = (0..400u32)
            .map(|i| char::from_u32(0x4e00 + (i * 7919) % 20000).unwrap())
            .collect();
        assert_eq!(round_trip(&noise).1, noise);
    }

    #[test]
    fn a_damaged_or_oversized_value_is_an_error_not_a_panic_or_a_flood() {
        let conn = Connection::open_in_memory().unwrap();
        let read = |blob: Vec<u8>| {
            conn.query_row("SELECT ?1", [blob], |r| r.get::<_, UnpackedText>(0))
                .map(|t| t.0)
        };
        assert!(read(vec![DEFLATE, 0xff, 0x00, 0x13]).is_err());
        assert!(read(vec![9, 1, 2, 3]).is_err(), "unknown format");
        // 100 MiB of zeros deflate to about 100 KB: unpacking stops at the bound.
        let bomb = miniz_oxide::deflate::compress_to_vec(&vec![0u8; 100 << 20], 6);
        let mut packed = vec![DEFLATE];
        packed.extend_from_slice(&bomb);
        assert!(read(packed).is_err());
    }
}
