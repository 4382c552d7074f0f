//! `gm_stats_by_address` rows read back over `/sql`, as the client's own row type.

use local_spacetimedb::HttpApi;
use onepulse_domain::Address;
use onepulse_gm_stats::{GmStatsRow, ProfileColumns};
use serde_json::Value;
use stdb_client::Timestamp;

/// All rows of `address` in `database`, ordered by chain id. Panics (failing the test) when
/// the query fails or a column is missing or of another type.
pub fn gm_rows_of(api: &HttpApi, database: &str, address: &Address) -> Vec<GmStatsRow> {
    let query = format!(
        "SELECT * FROM gm_stats_by_address WHERE address = '{}'",
        address.as_str()
    );
    let mut rows = sql_rows(api, database, &query, None, |get| GmStatsRow {
        address_chain: text(&get("address_chain")).as_str().into(),
        address: text(&get("address")).as_str().into(),
        chain_id: int(&get("chain_id")),
        current_streak: int(&get("current_streak")),
        highest_streak: int(&get("highest_streak")),
        all_time_gm_count: int(&get("all_time_gm_count")),
        last_gm_day: int(&get("last_gm_day")),
        last_tx_hash: sql_option(&get("last_tx_hash")).map(|v| text(&v).as_str().into()),
        profile: ProfileColumns::new(
            sql_option(&get("fid")).map(|v| int(&v)),
            sql_option(&get("display_name")).map(|v| text(&v)),
            sql_option(&get("username")).map(|v| text(&v)),
        ),
        updated_at: timestamp(&get("updated_at")),
    });
    rows.sort_by_key(|r| r.chain_id);
    rows
}

/// Runs one SQL statement as the holder of `token` (anonymous when `None`) and maps each row
/// with `row`, which reads a column by name. Panics (failing the test) when the query fails or
/// a column is missing.
pub(crate) fn sql_rows<T>(
    api: &HttpApi,
    database: &str,
    query: &str,
    token: Option<&str>,
    row: impl Fn(&dyn Fn(&str) -> Value) -> T,
) -> Vec<T> {
    let results = api
        .sql(database, query, token)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    let result = results
        .into_iter()
        .next()
        .expect("one statement, one result");
    result
        .rows
        .iter()
        .map(|values| {
            row(&|column: &str| {
                result
                    .get(values, column)
                    .unwrap_or_else(|| panic!("column {column} missing"))
                    .clone()
            })
        })
        .collect()
}

pub(crate) fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}

pub(crate) fn int<T: TryFrom<i64>>(value: &Value) -> T {
    value
        .as_i64()
        .and_then(|n| T::try_from(n).ok())
        .unwrap_or_else(|| panic!("expected an integer of the column's type, got {value}"))
}

/// A `Timestamp` prints as a one-field product: `[micros]` (or the named form).
pub(crate) fn timestamp(value: &Value) -> Timestamp {
    let micros = value
        .get(0)
        .or_else(|| value.get("__timestamp_micros_since_unix_epoch__"))
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("expected a Timestamp, got {value}"));
    Timestamp::from_micros_since_unix_epoch(micros)
}

/// Decodes SATS JSON of an `Option`: `[0, v]` / `[1, []]` as `/sql` prints it, or the named
/// `{"some": v}` / `{"none": []}`.
pub fn sql_option(value: &Value) -> Option<Value> {
    match value {
        Value::Array(pair) if pair.len() == 2 && pair[0] == 0 => Some(pair[1].clone()),
        Value::Array(pair) if pair.len() == 2 && pair[0] == 1 => None,
        Value::Object(map) if map.contains_key("some") => map.get("some").cloned(),
        Value::Object(map) if map.contains_key("none") => None,
        other => panic!("expected an Option, got {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_and_timestamps_decode_in_both_forms() {
        assert_eq!(sql_option(&json!([0, 5])), Some(json!(5)));
        assert_eq!(sql_option(&json!([1, []])), None);
        assert_eq!(sql_option(&json!({"some": "a"})), Some(json!("a")));
        assert_eq!(sql_option(&json!({"none": []})), None);
        assert_eq!(
            timestamp(&json!([7])),
            Timestamp::from_micros_since_unix_epoch(7)
        );
        assert_eq!(
            timestamp(&json!({"__timestamp_micros_since_unix_epoch__": 9})),
            Timestamp::from_micros_since_unix_epoch(9)
        );
        assert_eq!(int::<i32>(&json!(12)), 12);
    }

    #[test]
    #[should_panic(expected = "integer of the column's type")]
    fn an_out_of_range_integer_fails() {
        int::<i32>(&json!(i64::MAX));
    }
}
