//! Cursor pagination: items in id order (ids are time-ordered UUIDs, so this is creation
//! order), an opaque cursor naming the last item seen.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::error::ApiError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 200;

/// The form of every cursor (22 characters of URL-safe base64 for 16 bytes): the lists'
/// `cursor` parameters declare it, so any value the document allows decodes.
pub const CURSOR_PATTERN: &str = r"^[A-Za-z0-9_-]{21}[AQgw]$";

/// Decodes a cursor from a previous page.
pub fn decode_cursor(raw: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .map(Some)
        .ok_or_else(|| ApiError::invalid("cursor", "not a cursor from a previous page"))
}

/// The cursor that continues after `id`.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Fetches one page of `select` ordered by `id_column`, and the cursor of the next page.
pub async fn fetch_page<E, C>(
    db: &C,
    select: Select<E>,
    id_column: E::Column,
    cursor: Option<&str>,
    limit: Option<u32>,
    id_of: impl Fn(&E::Model) -> Uuid,
) -> Result<(Vec<E::Model>, Option<String>), ApiError>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as u64;
    let mut select = select.order_by_asc(id_column).limit(limit + 1);
    if let Some(after) = decode_cursor(cursor)? {
        select = select.filter(id_column.gt(after));
    }
    let mut items = select.all(db).await?;
    let next = cut_page(&mut items, limit as usize, id_of);
    Ok((items, next))
}

/// Cuts `rows` (fetched one past `limit`) to the page, and returns the cursor of the next
/// page when there is one.
pub fn cut_page<T>(rows: &mut Vec<T>, limit: usize, id_of: impl Fn(&T) -> Uuid) -> Option<String> {
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|last| encode_cursor(id_of(last)))
}

/// Declares a page type for a list operation.
#[macro_export]
macro_rules! page_of {
    ($name:ident, $item:ty) => {
        #[doc = concat!("One page of ", stringify!($item), " items.")]
        #[derive(Debug, poem_openapi::Object)]
        #[oai(skip_serializing_if_is_none)]
        pub struct $name {
            /// The items, oldest first.
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; absent on the last page.
            #[oai(skip_serializing_if_is_none)]
            pub next_cursor: Option<String>,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(Some(&encode_cursor(id))).unwrap(), Some(id));
        assert_eq!(decode_cursor(None).unwrap(), None);
        assert!(decode_cursor(Some("not-a-cursor")).is_err());
    }

    #[test]
    fn every_cursor_the_pattern_allows_decodes() {
        // The pattern: 21 URL-safe base64 characters, then one whose low four bits are 0.
        assert_eq!(CURSOR_PATTERN, r"^[A-Za-z0-9_-]{21}[AQgw]$");
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (i, last) in "AQgw".chars().enumerate() {
            let prefix: String = alphabet.chars().cycle().skip(i * 7).take(21).collect();
            let cursor = format!("{prefix}{last}");
            assert!(decode_cursor(Some(&cursor)).is_ok(), "{cursor}");
        }
        for _ in 0..200 {
            let encoded = encode_cursor(Uuid::new_v4());
            assert_eq!(encoded.len(), 22);
            assert!(
                "AQgw".contains(encoded.chars().last().unwrap()),
                "{encoded}"
            );
        }
    }
}
