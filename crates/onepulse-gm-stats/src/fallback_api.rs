//! The fallback service's JSON contract (`GET /api/gm/stats`, `GET /healthz`): serialised by
//! the service, deserialised by the app. Unknown fields are tolerated; a missing field is a
//! decoding error that names it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /api/gm/stats?address=0x…[&chainId=N]`, answered 200.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsAnswer {
    /// The address asked for, lowercase.
    pub address: String,
    /// Stats per chain id (as a decimal string); chains without a GM are absent.
    pub stats: BTreeMap<String, ChainStats>,
    /// Whether the service has lost its live subscription and answers from its last data.
    pub stale: bool,
    /// How long ago the data was last live, when `stale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<u64>,
}

/// One chain's numbers in a [`StatsAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainStats {
    /// The chain's name (`Base`, `Celo`, `Optimism`).
    pub name: String,
    /// Consecutive days up to `last_gm_day`, as stored.
    pub current_streak: i32,
    /// Longest streak.
    pub highest_streak: i32,
    /// Distinct GM days.
    pub all_time_gm_count: i32,
    /// UTC day number of the last GM.
    pub last_gm_day: i32,
}

/// Any non-200 answer: `{"error": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    /// What went wrong, for a person.
    pub error: String,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Whether the service's subscription is live.
    pub live: bool,
    /// Rows in its cache.
    pub rows: u64,
    /// Requests to `/api/gm/stats` since start, refused ones included.
    pub stats_requests: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_answer_and_tolerates_unknown_fields() {
        let text = r#"{"address":"0xab","stats":{"8453":{"name":"Base","currentStreak":3,
            "highestStreak":7,"allTimeGmCount":20,"lastGmDay":20454,"extra":1}},"stale":false,
            "more":true}"#;
        let answer: StatsAnswer = serde_json::from_str(text).unwrap();
        assert_eq!(answer.stats["8453"].highest_streak, 7);
        assert_eq!(answer.age_seconds, None);
        let again: StatsAnswer =
            serde_json::from_str(&serde_json::to_string(&answer).unwrap()).unwrap();
        assert_eq!(again, answer);
    }

    #[test]
    fn a_missing_field_is_named() {
        let text = r#"{"address":"0xab","stats":{"10":{"name":"Optimism","currentStreak":1,
            "highestStreak":1,"lastGmDay":1}},"stale":false}"#;
        let error = serde_json::from_str::<StatsAnswer>(text).unwrap_err();
        assert!(error.to_string().contains("allTimeGmCount"), "{error}");
    }
}
