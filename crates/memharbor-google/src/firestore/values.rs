//! Firestore's typed values and plain JSON, both ways (integers as `integerValue` strings, objects
//! as maps; timestamps read back as their RFC 3339 strings).

use serde_json::{Map, Value, json};

/// Plain JSON → Firestore's typed value.
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

/// A Firestore typed value → plain JSON.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_with_integers_as_firestore_wants_them() {
        let plain = json!({"a": 1, "b": "x", "c": [true, null, 2.5], "d": {"e": -3}});
        let encoded = encode(&plain);
        assert_eq!(
            encoded["mapValue"]["fields"]["a"],
            json!({"integerValue": "1"})
        );
        assert_eq!(decode(&encoded), plain);
        assert_eq!(
            decode(&json!({"timestampValue": "2026-02-03T12:00:00.123456Z"})),
            json!("2026-02-03T12:00:00.123456Z")
        );
    }
}
