//! The recordings collection in Firestore: one document per recording in `recordings`, written
//! by id (so a retried write never makes a second document), and the list query (filters, newest
//! first, cursor paging). Firestore's REST API itself is `memharbor_google`'s.

use memharbor_google::firestore::Document;
use serde_json::{Map, Value, json};

use super::FirebaseError;
use crate::record::{AudioSpec, RecordingItem, RecordingList, SPEC};
use crate::storage::list::{ListQuery, MAX_LIMIT, decode_cursor};

pub use super::document::COLLECTION;

#[derive(Debug)]
pub struct Firestore {
    inner: memharbor_google::firestore::Firestore,
}

fn eq(field: &str, value: &str) -> Value {
    json!({"fieldFilter": {"field": {"fieldPath": field}, "op": "EQUAL", "value": {"stringValue": value}}})
}

impl Firestore {
    pub fn new(inner: memharbor_google::firestore::Firestore) -> Self {
        Self { inner }
    }

    /// The database's client (the cluster's directory shares it).
    pub fn client(&self) -> &memharbor_google::firestore::Firestore {
        &self.inner
    }

    /// Writes document `id` of `collection` with exactly `fields` (plain JSON); creates or replaces.
    pub async fn upsert(
        &self,
        collection: &str,
        id: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), FirebaseError> {
        Ok(self
            .inner
            .set(&format!("{collection}/{id}"), fields)
            .await?)
    }

    /// Document `id` of `collection` as plain JSON, or `None`.
    pub async fn get(
        &self,
        collection: &str,
        id: &str,
    ) -> Result<Option<Map<String, Value>>, FirebaseError> {
        Ok(self
            .inner
            .get(&format!("{collection}/{id}"))
            .await?
            .map(|doc| doc.fields))
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
                "values": [{"stringValue": recorded_at}, {"referenceValue": self.inner.name(&format!("{COLLECTION}/{id}"))}],
                "before": false,
            });
        }
        let (docs, _) = self.inner.query(query).await?;
        let mut items: Vec<RecordingItem> = docs.iter().map(item).collect();
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

fn item(doc: &Document) -> RecordingItem {
    let fields = &doc.fields;
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
        id: doc.path.rsplit('/').next().unwrap_or_default().to_owned(),
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
}
