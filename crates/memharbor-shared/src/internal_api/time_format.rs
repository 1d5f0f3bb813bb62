//! Times as the API writes them: ISO-8601 UTC with exactly three fractional digits
//! (`2026-02-03T12:00:00.000Z`), as serde `with` modules for `OffsetDateTime` fields. Reading
//! accepts any RFC 3339 time.

use serde::{Deserialize, Deserializer, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// `2026-02-03T12:00:00.000Z`.
pub fn iso_ms(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default()
}

/// Parses an RFC 3339 time.
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&iso_ms(*t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text}")))
}

/// The same for `Option<OffsetDateTime>` (absent or `null` = `None`).
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("not an RFC 3339 time: {text}"))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_three_fractional_digits_and_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_770_120_000_123_456_789).unwrap();
        assert_eq!(iso_ms(t), "2026-02-03T12:00:00.123Z");
        let whole = OffsetDateTime::from_unix_timestamp(1_770_120_000).unwrap();
        assert_eq!(iso_ms(whole), "2026-02-03T12:00:00.000Z");
        assert_eq!(parse(&iso_ms(whole)), Some(whole));
        assert_eq!(parse("yesterday"), None);
    }
}
