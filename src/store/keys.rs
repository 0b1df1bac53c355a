//! How keys and hashes are kept. Item and document keys and content hashes are SHA-256 in
//! 64 lowercase hex characters everywhere outside the store (the HTTP API, callbacks,
//! compose); inside it such a key is kept as its 32 bytes, half the size in the row and in
//! every index over it. Anything else (a key made by other code, an empty one) is kept as
//! the text it is, so every key reads back exactly as it was written.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// A key on its way into SQLite: a BLOB of 32 bytes when it is 64 lowercase hex digits,
/// else TEXT. A BLOB never equals a TEXT in SQLite, so the two kinds cannot collide.
pub(crate) struct StoredKey<'a>(pub &'a str);

impl ToSql for StoredKey<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match hex_digest(self.0) {
            Some(bytes) => ToSqlOutput::Owned(rusqlite::types::Value::Blob(bytes.to_vec())),
            None => ToSqlOutput::Borrowed(ValueRef::Text(self.0.as_bytes())),
        })
    }
}

/// A key read back from SQLite, as the text it was written as.
pub(crate) struct KeyText(pub String);

impl FromSql for KeyText {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Blob(bytes) => Ok(KeyText(to_hex(bytes))),
            ValueRef::Text(text) => std::str::from_utf8(text)
                .map(|t| KeyText(t.to_string()))
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// The 32 bytes of a SHA-256 written as 64 lowercase hex digits; `None` for anything else
/// (upper-case digits too: they must read back as they were written).
fn hex_digest(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// The same conversion in SQL, for migrating rows written as text
/// (`unhex` needs SQLite 3.41; the bundled one is newer).
pub(crate) fn sql_stored_key(column: &str) -> String {
    format!(
        "(CASE WHEN length({column}) = 64 AND {column} NOT GLOB '*[^0-9a-f]*' \
         THEN unhex({column}) ELSE {column} END)"
    )
}

/// What the path index holds for a document's source path: its first 8 bytes of SHA-256,
/// instead of a second copy of the path. Look-ups compare the path itself too.
pub(crate) fn path_hash(path: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(path.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// How an item's summary is kept: the run of its body that it repeats (byte offset and
/// length), then the rest of its text. Summaries are mostly the opening of the body, cut
/// short with `…` (commentary, articles without a summary of their own), so this keeps
/// that text once. `None` when the summary does not repeat the body.
pub(crate) fn summary_in_body(summary: &str, body: &str) -> Option<(usize, usize)> {
    // Not worth a pointer below this (two small integers cost about as much).
    const MIN_SHARED_BYTES: usize = 12;
    let shared = summary.trim_end_matches('…');
    if shared.len() < MIN_SHARED_BYTES {
        return None;
    }
    // `str::find` is linear in the two lengths (two-way search).
    body.find(shared).map(|at| (at, shared.len()))
}

/// The summary back from its stored parts (see [`summary_in_body`]).
pub(crate) fn summary_from_parts(
    body: &str,
    shared: Option<(i64, i64)>,
    rest: String,
) -> Option<String> {
    let Some((at, len)) = shared else {
        return Some(rest);
    };
    let at = usize::try_from(at).ok()?;
    let end = at.checked_add(usize::try_from(len).ok()?)?;
    let mut summary = body.get(at..end)?.to_string();
    summary.push_str(&rest);
    Some(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keys_round_trip_through_bytes_and_other_keys_stay_text() {
        let key = "00ff10a9".repeat(8);
        let bytes = hex_digest(&key).unwrap();
        assert_eq!(to_hex(&bytes), key);
        assert!(hex_digest(&key.to_uppercase()).is_none());
        assert!(hex_digest("").is_none());
        assert!(hex_digest(&"g".repeat(64)).is_none());
        assert!(hex_digest(&"é".repeat(32)).is_none());

        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for key in [key.as_str(), "", "k1", &key.to_uppercase()] {
            let back: KeyText = conn
                .query_row("SELECT ?1", [StoredKey(key)], |r| r.get(0))
                .unwrap();
            assert_eq!(back.0, key);
            let sql: KeyText = conn
                .query_row(&format!("SELECT {}", sql_stored_key("?1")), [key], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(sql.0, key);
            let same: bool = conn
                .query_row(
                    &format!("SELECT {} = ?2", sql_stored_key("?1")),
                    rusqlite::params![key, StoredKey(key)],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(same, "{key}");
        }
    }

    #[test]
    fn a_summary_repeating_the_body_is_kept_as_a_pointer_and_comes_back_whole() {
        let body = "评论开头。美元指数本周走弱，市场预期降息。\n第二段。";
        for summary in [
            "美元指数本周走弱，市场预期…",
            "美元指数本周走弱，市场预期降息。",
            "评论开头。美元指数",
        ] {
            let shared = summary_in_body(summary, body).unwrap();
            let rest = summary[shared.1..].to_string();
            assert!(rest.is_empty() || rest == "…", "{rest}");
            let shared = Some((shared.0 as i64, shared.1 as i64));
            assert_eq!(
                summary_from_parts(body, shared, rest).as_deref(),
                Some(summary)
            );
        }
        assert!(summary_in_body("另一段完全不同的摘要文字", body).is_none());
        assert!(
            summary_in_body("美元", body).is_none(),
            "too short to share"
        );
        assert_eq!(
            summary_from_parts(body, None, "自有摘要".into()).as_deref(),
            Some("自有摘要")
        );
        // A pointer off a character boundary or past the end is refused, not sliced.
        assert!(summary_from_parts(body, Some((1, 3)), String::new()).is_none());
        assert!(summary_from_parts(body, Some((0, 9999)), String::new()).is_none());
    }
}
