//! What each caller may do. A trusted caller (auth off, an API key, an admin user) may do
//! everything. A user is a participant: a recording channel is `{groupId}_{user1}_{user2}`, and
//! it is theirs if they are `user1` or `user2`. They get tokens and start or stop recordings for
//! their own channels only (403 `forbidden_channel` otherwise); whatever names a recording by sid
//! or file name answers 404 for someone else's (the recorder filters by the user), so nothing can
//! be probed for.

use agora_token::Identity;
use memharbor_shared::channel::RecordingChannel;

use super::Caller;

/// A user asked for what is not theirs: a 403 with this code, field and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    pub code: &'static str,
    pub field: Option<&'static str>,
    pub message: &'static str,
}

/// The rules `MEMHARBOR_AUTH_OPEN_CHANNELS` and `MEMHARBOR_AUTH_BIND_ACCOUNT` set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessRules {
    /// Users may get tokens for channels that are not recording channels.
    pub open_channels: bool,
    /// A `user_account` token only for the user's own id.
    pub bind_account: bool,
}

fn forbidden_channel() -> Denied {
    Denied {
        code: "forbidden_channel",
        field: Some("channel"),
        message: "you may only use your own channels: {groupId}_{user1}_{user2} with your user id as user1 or user2",
    }
}

/// `POST /api/token` for `channel` and `identity`.
pub fn may_get_token(
    caller: &Caller,
    rules: AccessRules,
    channel: &str,
    identity: &Identity,
) -> Result<(), Denied> {
    let Some(uid) = caller.restricted_to() else {
        return Ok(());
    };
    match RecordingChannel::parse(channel) {
        Some(recording) if recording.has_user(uid) => {}
        Some(_) => return Err(forbidden_channel()),
        None if rules.open_channels => {}
        None => return Err(forbidden_channel()),
    }
    if rules.bind_account
        && let Identity::Account(account) = identity
        && account != uid
    {
        return Err(Denied {
            code: "forbidden_account",
            field: Some("user_account"),
            message: "you may only get user_account tokens for your own user id",
        });
    }
    Ok(())
}

/// Start (or stop by channel) for `channel`.
pub fn may_record(caller: &Caller, channel: &RecordingChannel) -> Result<(), Denied> {
    match caller.restricted_to() {
        Some(uid) if !channel.has_user(uid) => Err(forbidden_channel()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::User;

    fn alice() -> Caller {
        Caller::User(User {
            uid: "alice".into(),
        })
    }

    #[test]
    fn a_user_gets_tokens_for_their_own_recording_channels_only() {
        let rules = AccessRules::default();
        let uid = Identity::Uid(7);
        assert!(may_get_token(&alice(), rules, "g1_alice_bob", &uid).is_ok());
        assert!(may_get_token(&alice(), rules, "g1_bob_alice", &uid).is_ok());
        for other in ["g1_carol_dave", "g1_alicex_bob", "lobby", "alice"] {
            assert!(
                may_get_token(&alice(), rules, other, &uid).is_err(),
                "{other}"
            );
        }
        let open = AccessRules {
            open_channels: true,
            ..rules
        };
        assert!(may_get_token(&alice(), open, "lobby", &uid).is_ok());
        assert!(may_get_token(&alice(), open, "g1_carol_dave", &uid).is_err());
        for trusted in [Caller::Anyone, Caller::Trusted] {
            assert!(may_get_token(&trusted, rules, "g1_carol_dave", &uid).is_ok());
        }
    }

    #[test]
    fn bound_accounts_are_the_users_own() {
        let rules = AccessRules {
            bind_account: true,
            ..AccessRules::default()
        };
        let own = Identity::Account("alice".into());
        let other = Identity::Account("bob".into());
        assert!(may_get_token(&alice(), rules, "g1_alice_bob", &own).is_ok());
        assert!(may_get_token(&alice(), rules, "g1_alice_bob", &other).is_err());
        assert!(may_get_token(&alice(), AccessRules::default(), "g1_alice_bob", &other).is_ok());
    }
}
