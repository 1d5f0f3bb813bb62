//! Firestore through its REST API: one document per recording in `recordings`, written by id (so a
//! retried write never makes a second document), and the list query (filters, newest first,
//! cursor paging).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::auth::Credentials;
use super::{FirebaseError, http_error, transport_error};
use crate::record::{AudioSpec, RecordingItem, RecordingList, SPEC};
use crate::storage::list::{ListQuery, MAX_LIMIT, decode_cursor};

pub use super::document::COLLECTION;

#[derive(Debug)]
pub struct Firestore {
    http: reqwest::Client,
    /// `…/v1/projects/{p}/databases/(default)/documents`
    documents: String,
    /// `projects/{p}/databases/(default)/documents`, for references.
    root: String,
    credentials: Arc<Credentials>,
}

/// Plain JSON → Firestore's typed values (integers as `integerValue` strings, objects as maps).
pub fn encode(value: &Value) -> Value {
    match value {
        Value::Null => json!({"nullValue": null}),
        Value::Bool(b) => json!({"booleanValue": b}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"integerValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n.as_f64()}),
        Value::String(s) => json!({"stringValue": s}),
        Value::Array(items) => {
            json!({"arrayValue": {"values": items.iter().map(encode).collect::<Vec<_>>()}})
        }
        Value::Object(map) => json!({"mapValue": {"fields": encode_fields(map)}}),
    }
}

pub fn encode_fields(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter().map(|(k, v)| (k.clone(), encode(v))).collect()
}

/// Firestore's typed values → plain JSON.
pub fn decode(value: &Value) -> Value {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return Value::Null;
    };
    match kind.as_str() {
        "integerValue" => inner
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .map_or(Value::Null, Value::from),
        "mapValue" => Value::Object(decode_fields(inner.get("fields").unwrap_or(&Value::Null))),
        "arrayValue" => Value::Array(
            inner
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().map(decode).collect())
                .unwrap_or_default(),
        ),
        "nullValue" => Value::Null,
        _ => inner.clone(),
    }
}

pub fn decode_fields(fields: &Value) -> Map<String, Value> {
    fields
        .as_object()
        .map(|f| f.iter().map(|(k, v)| (k.clone(), decode(v))).collect())
        .unwrap_or_default()
}

fn eq(field: &str, value: &str) -> Value {
    json!({"fieldFilter": {"field": {"fieldPath": field}, "op": "EQUAL", "value": {"stringValue": value}}})
}

impl Firestore {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        project: &str,
        credentials: Arc<Credentials>,
    ) -> Self {
        let root = format!("projects/{project}/databases/(default)/documents");
        Self {
            http,
            documents: format!("{}/v1/{root}", base.trim_end_matches('/')),
            root,
            credentials,
        }
    }

    /// Writes document `id` of `collection` with exactly `fields` (plain JSON); creates or replaces.
    pub async fn upsert(
        &self,
        collection: &str,
        id: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), FirebaseError> {
        let response = self
            .http
            .patch(format!("{}/{collection}/{id}", self.documents))
            .header("authorization", self.credentials.bearer().await?)
            .timeout(Duration::from_secs(30))
            .json(&json!({"fields": encode_fields(fields)}))
            .send()
            .await
            .map_err(|e| transport_error("writing the Firestore document", &e))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(http_error(
                "writing the Firestore document",
                status,
                &response.text().await.unwrap_or_default(),
            ))
        }
    }

    /// Document `id` of `collection` as plain JSON, or `None`.
    pub async fn get(
        &self,
        collection: &str,
        id: &str,
    ) -> Result<Option<Map<String, Value>>, FirebaseError> {
        let response = self
            .http
            .get(format!("{}/{collection}/{id}", self.documents))
            .header("authorization", self.credentials.bearer().await?)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| transport_error("reading the Firestore document", &e))?;
        match response.status().as_u16() {
            200 => {
                let doc: Value = response
                    .json()
                    .await
                    .map_err(|e| FirebaseError::Transient(e.to_string()))?;
                Ok(Some(decode_fields(&doc["fields"])))
            }
            404 => Ok(None),
            _ => {
                let status = response.status();
                Err(http_error(
                    "reading the Firestore document",
                    status,
                    &response.text().await.unwrap_or_default(),
                ))
            }
        }
    }

    /// `GET /api/recording/list` from the `recordings` collection.
    pub async fn list(&self, q: &ListQuery) -> Result<RecordingList, FirebaseError> {
        let mut filters = Vec::new();
        if let Some(channel) = &q.channel {
            filters.push(eq("channel", channel));
        }
        if let Some(group) = &q.group_id {
            filters.push(eq("groupId", group));
        }
        if let Some(user) = &q.user {
            filters.push(json!({"compositeFilter": {"op": "OR", "filters": [eq("user1", user), eq("user2", user)]}}));
        }
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let mut query = json!({
            "from": [{"collectionId": COLLECTION}],
            "orderBy": [
                {"field": {"fieldPath": "recordedAt"}, "direction": "DESCENDING"},
                {"field": {"fieldPath": "__name__"}, "direction": "DESCENDING"},
            ],
            "limit": limit + 1,
        });
        match filters.len() {
            0 => {}
            1 => query["where"] = filters.remove(0),
            _ => query["where"] = json!({"compositeFilter": {"op": "AND", "filters": filters}}),
        }
        if let Some((recorded_at, id)) = q.cursor.as_deref().and_then(decode_cursor) {
            query["startAt"] = json!({
                "values": [{"stringValue": recorded_at}, {"referenceValue": format!("{}/{COLLECTION}/{id}", self.root)}],
                "before": false,
            });
        }
        let response = self
            .http
            .post(format!("{}:runQuery", self.documents))
            .header("authorization", self.credentials.bearer().await?)
            .timeout(Duration::from_secs(30))
            .json(&json!({"structuredQuery": query}))
            .send()
            .await
            .map_err(|e| transport_error("listing recordings in Firestore", &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(http_error(
                "listing recordings in Firestore",
                status,
                &response.text().await.unwrap_or_default(),
            ));
        }
        let rows: Vec<Value> = response
            .json()
            .await
            .map_err(|e| FirebaseError::Transient(e.to_string()))?;
        let mut items: Vec<RecordingItem> = rows
            .iter()
            .filter_map(|row| row.get("document"))
            .map(item)
            .collect();
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(|last| {
                crate::storage::list::encode_cursor(
                    &crate::record::iso_ms(last.recorded_at),
                    &last.id,
                )
            })
        } else {
            None
        };
        Ok(RecordingList {
            recordings: items,
            next_cursor,
        })
    }
}

fn item(doc: &Value) -> RecordingItem {
    let fields = decode_fields(&doc["fields"]);
    let text = |k: &str| {
        fields
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let number = |k: &str| fields.get(k).and_then(Value::as_u64).unwrap_or(0);
    // Documents other writers made may hold other time formats: read what RFC 3339 reads.
    let time_of = |k: &str| {
        memharbor_shared::internal_api::time_format::parse(&text(k))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    };
    let spec = fields
        .get("spec")
        .and_then(|s| serde_json::from_value::<AudioSpec>(s.clone()).ok())
        .unwrap_or(SPEC);
    RecordingItem {
        id: doc["name"]
            .as_str()
            .and_then(|n| n.rsplit('/').next())
            .unwrap_or_default()
            .to_owned(),
        filename: text("filename"),
        url: text("url"),
        channel: text("channel"),
        group_id: text("groupId"),
        user1: text("user1"),
        user2: text("user2"),
        duration: number("duration"),
        file_size: number("fileSize"),
        format: text("format"),
        spec,
        recorded_at: time_of("recordedAt"),
        created_at: time_of("createdAt"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Production Firestore needs a composite index for every query `list` can issue: each set of
    /// equality filters (with `user` as user1 or user2) ordered by recordedAt.
    #[test]
    fn the_shipped_indexes_cover_every_list_query() {
        let shipped: Value = serde_json::from_str(include_str!(
            "../../../../../deploy/firebase/firestore.indexes.json"
        ))
        .unwrap();
        let indexes: Vec<Vec<String>> = shipped["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                i["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["fieldPath"].as_str().unwrap().to_owned())
                    .collect()
            })
            .collect();
        for mask in 1..8u8 {
            for user in ["user1", "user2"] {
                let mut fields: Vec<String> = [(1, "channel"), (2, "groupId"), (4, user)]
                    .into_iter()
                    .filter(|(bit, _)| mask & bit != 0)
                    .map(|(_, f)| f.to_owned())
                    .collect();
                fields.extend(["recordedAt".to_owned(), "__name__".to_owned()]);
                assert!(indexes.contains(&fields), "no index for {fields:?}");
            }
        }
    }

    #[test]
    fn values_round_trip_with_integers_as_firestore_wants_them() {
        let plain = json!({"a": "x", "n": 120000, "f": 1.5, "m": {"sampleRate": 16000}, "l": [1, "b"], "z": null, "t": true});
        let encoded = encode(&plain);
        assert_eq!(
            encoded["mapValue"]["fields"]["n"],
            json!({"integerValue": "120000"})
        );
        assert_eq!(
            encoded["mapValue"]["fields"]["m"]["mapValue"]["fields"]["sampleRate"],
            json!({"integerValue": "16000"})
        );
        assert_eq!(decode(&encoded), plain);
    }
}
