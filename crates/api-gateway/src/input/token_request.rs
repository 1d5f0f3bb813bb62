//! `POST /api/token` input rules: one typed request out of an untrusted JSON object, or the first
//! problem found as a 400 that says what is accepted.

use agora_token::{Identity, Role, is_valid_channel_name, is_valid_user_account};
use serde::Deserialize;

use crate::error::ApiError;
use crate::input::json_field::Field;

/// Longest token lifetime; larger `expire` values are capped to it.
pub const MAX_EXPIRE_S: u32 = 86_400;

/// What the message says a channel may hold.
pub const CHANNEL_ACCEPTS: &str = "channel must be a string of 1-64 characters from a-z A-Z 0-9, \
space and !#$%&()+-:;<=.>?@[]^_{|}~,";

/// A validated token request, borrowing the channel from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenParams<'a> {
    pub channel: &'a str,
    pub identity: Identity,
    pub role: Role,
    /// Effective (capped) lifetime in seconds.
    pub expire_in: u32,
}

/// The body as sent: the fields the endpoint reads, any JSON type (JSON `null` = absent); unknown
/// fields are skipped.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawTokenRequest<'a> {
    #[serde(borrow)]
    channel: Option<Field<'a>>,
    #[serde(borrow)]
    uid: Option<Field<'a>>,
    #[serde(borrow)]
    user_account: Option<Field<'a>>,
    #[serde(borrow)]
    role: Option<Field<'a>>,
    #[serde(borrow)]
    expire: Option<Field<'a>>,
}

/// The `channel` field: required, a valid Agora channel name.
pub fn channel<'v>(value: Option<&'v Field<'_>>) -> Result<&'v str, ApiError> {
    match value {
        None => Err(ApiError::missing("channel")),
        Some(Field::Str(s)) if is_valid_channel_name(s) => Ok(s),
        Some(_) => Err(ApiError::bad_request(
            "invalid_channel",
            Some("channel"),
            CHANNEL_ACCEPTS,
        )),
    }
}

fn identity(uid: Option<&Field>, user_account: Option<&Field>) -> Result<Identity, ApiError> {
    match (uid, user_account) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "conflicting_fields",
            Some("user_account"),
            "send either uid or user_account, not both",
        )),
        (None, None) => Err(ApiError::bad_request(
            "missing_field",
            Some("uid"),
            "uid (an integer) or user_account (a string) is required",
        )),
        (Some(uid), None) => match uid.as_u64().and_then(|u| u32::try_from(u).ok()) {
            Some(uid) => Ok(Identity::Uid(uid)),
            None if uid.as_str().is_some() => Err(ApiError::bad_request(
                "invalid_uid",
                Some("uid"),
                "uid must be an integer between 0 and 4294967295, not a string; send string identifiers as user_account",
            )),
            None => Err(ApiError::bad_request(
                "invalid_uid",
                Some("uid"),
                "uid must be an integer between 0 and 4294967295",
            )),
        },
        (None, Some(Field::Str(account))) if is_valid_user_account(account) => {
            Ok(Identity::Account(String::from(&**account)))
        }
        (None, Some(_)) => Err(ApiError::bad_request(
            "invalid_user_account",
            Some("user_account"),
            "user_account must be a string of 1-255 characters from a-z A-Z 0-9, space and !#$%&()+-:;<=.>?@[]^_{|}~,",
        )),
    }
}

fn role(value: Option<&Field>) -> Result<Role, ApiError> {
    match value.map(|v| v.as_str()) {
        None => Ok(Role::Subscriber),
        Some(Some("subscriber")) => Ok(Role::Subscriber),
        Some(Some("publisher")) => Ok(Role::Publisher),
        Some(_) => Err(ApiError::bad_request(
            "invalid_role",
            Some("role"),
            "role must be \"publisher\" or \"subscriber\" (default \"subscriber\")",
        )),
    }
}

fn expire(value: Option<&Field>) -> Result<u32, ApiError> {
    let Some(value) = value else {
        return Ok(MAX_EXPIRE_S);
    };
    match value.as_u64() {
        Some(0) | None => Err(ApiError::bad_request(
            "invalid_expire",
            Some("expire"),
            "expire must be an integer number of seconds, at least 1 (values above 86400 are capped to 86400)",
        )),
        Some(secs) => Ok(u32::try_from(secs).unwrap_or(u32::MAX).min(MAX_EXPIRE_S)),
    }
}

/// Validates a token request in the order of the spec's table; the first problem wins.
pub fn parse<'a>(raw: &'a RawTokenRequest<'_>) -> Result<TokenParams<'a>, ApiError> {
    let channel = channel(raw.channel.as_ref())?;
    let identity = identity(raw.uid.as_ref(), raw.user_account.as_ref())?;
    let role = role(raw.role.as_ref())?;
    let expire_in = expire(raw.expire.as_ref())?;
    Ok(TokenParams {
        channel,
        identity,
        role,
        expire_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// What `parse` made of `v`: the effective role and lifetime, or the error's code and field.
    fn parse_json(v: Value) -> Result<(Role, u32), (String, Option<String>)> {
        let text = v.to_string();
        let raw: RawTokenRequest = serde_json::from_str(&text).unwrap();
        parse(&raw).map(|p| (p.role, p.expire_in)).map_err(|e| {
            let body = e.body();
            (body.error.code, body.error.field)
        })
    }

    fn code(v: Value) -> String {
        parse_json(v).unwrap_err().0
    }

    #[test]
    fn defaults_are_subscriber_and_a_day() {
        let (role, expire_in) = parse_json(json!({"channel": "c", "uid": 1})).unwrap();
        assert_eq!(role, Role::Subscriber);
        assert_eq!(expire_in, 86_400);
    }

    #[test]
    fn expire_is_capped_not_refused() {
        for big in [json!(86_401), json!(u64::MAX), json!(4_294_967_296u64)] {
            let (_, expire_in) =
                parse_json(json!({"channel": "c", "uid": 1, "expire": big})).unwrap();
            assert_eq!(expire_in, 86_400);
        }
        assert_eq!(
            parse_json(json!({"channel": "c", "uid": 1, "expire": 1}))
                .unwrap()
                .1,
            1
        );
    }

    #[test]
    fn each_rule_has_its_code() {
        assert_eq!(code(json!({"uid": 1})), "missing_field");
        assert_eq!(code(json!({"channel": "", "uid": 1})), "invalid_channel");
        assert_eq!(code(json!({"channel": "é", "uid": 1})), "invalid_channel");
        assert_eq!(code(json!({"channel": 5, "uid": 1})), "invalid_channel");
        assert_eq!(code(json!({"channel": "c"})), "missing_field");
        assert_eq!(code(json!({"channel": "c", "uid": "5"})), "invalid_uid");
        assert_eq!(code(json!({"channel": "c", "uid": -1})), "invalid_uid");
        assert_eq!(
            code(json!({"channel": "c", "uid": 4_294_967_296u64})),
            "invalid_uid"
        );
        assert_eq!(code(json!({"channel": "c", "uid": 1.5})), "invalid_uid");
        assert_eq!(
            code(json!({"channel": "c", "uid": 1, "user_account": "a"})),
            "conflicting_fields"
        );
        assert_eq!(
            code(json!({"channel": "c", "user_account": ""})),
            "invalid_user_account"
        );
        assert_eq!(
            code(json!({"channel": "c", "user_account": "x".repeat(256)})),
            "invalid_user_account"
        );
        assert_eq!(
            code(json!({"channel": "c", "uid": 1, "role": "admin"})),
            "invalid_role"
        );
        assert_eq!(
            code(json!({"channel": "c", "uid": 1, "expire": "60"})),
            "invalid_expire"
        );
        assert_eq!(
            code(json!({"channel": "c", "uid": 1, "expire": 0})),
            "invalid_expire"
        );
        assert_eq!(
            code(json!({"channel": "c", "uid": 1, "expire": -5})),
            "invalid_expire"
        );
    }

    #[test]
    fn the_first_problem_wins_and_names_its_field() {
        let (code, field) = parse_json(json!({"channel": 1, "uid": "x", "role": 3})).unwrap_err();
        assert_eq!(
            (code.as_str(), field.as_deref()),
            ("invalid_channel", Some("channel"))
        );
    }

    #[test]
    fn a_string_uid_points_to_user_account() {
        let raw: RawTokenRequest =
            serde_json::from_str(r#"{"channel": "c", "uid": "alice"}"#).unwrap();
        let message = parse(&raw).unwrap_err().body().error.message;
        assert!(message.contains("user_account"), "{message}");
    }
}
