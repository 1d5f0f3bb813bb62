//! A request field as the validation rules see it, borrowed from the body: reading a token
//! request builds no `serde_json::Value` and copies no string that has no escapes in it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Any JSON value, reduced to what the rules distinguish. As a field, JSON `null` is read as
/// absent by `Option<Field>`; inside an array or object it is `Other`.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    Str(Cow<'a, str>),
    /// A non-negative integer that fits in a `u64`.
    Uint(u64),
    Bool(bool),
    /// Anything else: a negative, fractional or larger number, `null` inside an array or object,
    /// an array, an object.
    Other,
}

impl Field<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Field::Uint(n) => Some(*n),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::Uint(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Field::Other, Field::Uint))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Field::Bool(v))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Read as fields, not skipped: serde_json checks what it skips less strictly (UTF-8,
        // number range, depth), and malformed JSON must stay `invalid_json` wherever it is.
        while seq.next_element::<Field>()?.is_some() {}
        Ok(Field::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<Field, Field>()?.is_some() {}
        Ok(Field::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        f: Option<Field<'a>>,
    }

    fn field(json: &str) -> Option<Field<'_>> {
        serde_json::from_str::<Body<'_>>(json).unwrap().f
    }

    #[test]
    fn every_json_kind_is_read() {
        assert_eq!(field(r#"{"f": null}"#), None);
        assert_eq!(field(r#"{"f": "a"}"#), Some(Field::Str("a".into())));
        assert!(matches!(
            field(r#"{"f": "plain"}"#),
            Some(Field::Str(Cow::Borrowed("plain")))
        ));
        assert_eq!(field(r#"{"f": "a\nb"}"#), Some(Field::Str("a\nb".into())));
        assert_eq!(
            field(r#"{"f": 18446744073709551615}"#),
            Some(Field::Uint(u64::MAX))
        );
        assert_eq!(field(r#"{"f": 18446744073709551616}"#), Some(Field::Other));
        assert_eq!(field(r#"{"f": -1}"#), Some(Field::Other));
        assert_eq!(field(r#"{"f": 1.0}"#), Some(Field::Other));
        assert_eq!(field(r#"{"f": true}"#), Some(Field::Bool(true)));
        assert_eq!(field(r#"{"f": [1, [2], {"a": 3}]}"#), Some(Field::Other));
        assert_eq!(field(r#"{"f": {"a": [1, 2]}}"#), Some(Field::Other));
    }

    #[test]
    fn malformed_json_inside_a_field_is_still_malformed() {
        let deep = format!(r#"{{"f": {}{}}}"#, "[".repeat(200), "]".repeat(200));
        for bad in [
            r#"{"f": ["\ud800"]}"#.to_owned(),
            r#"{"f": [1e999]}"#.to_owned(),
            r#"{"f": {"a": "\ud800"}}"#.to_owned(),
            deep,
        ] {
            assert!(serde_json::from_str::<Body<'_>>(&bad).is_err(), "{bad}");
        }
        let raw = b"{\"f\": [\"\xff\"]}";
        assert!(serde_json::from_slice::<Body<'_>>(raw).is_err());
    }
}
