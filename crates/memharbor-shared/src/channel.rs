//! The recording channel name `{groupId}_{user1}_{user2}` and its parts.

use agora_token::is_valid_channel_name;

/// A channel valid for a recording: a valid Agora channel of exactly three parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordingChannel {
    name: String,
    group_id: String,
    user1: String,
    user2: String,
}

/// Why a channel cannot be recorded; the message says what is accepted.
pub const CHANNEL_RULE: &str = "channel must be {groupId}_{user1}_{user2}: three non-empty parts \
separated by '_', each made of A-Z a-z 0-9 . @ - (not '.' or '..'), 64 bytes at most in all";

fn valid_part(part: &str) -> bool {
    !part.is_empty()
        && part != "."
        && part != ".."
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'-'))
}

impl RecordingChannel {
    /// True if `uid` is one of the channel's two users (a user's own channel).
    pub fn has_user(&self, uid: &str) -> bool {
        self.user1 == uid || self.user2 == uid
    }

    /// Parses `name`, or `None` if it is not a valid recording channel (see [`CHANNEL_RULE`]).
    pub fn parse(name: &str) -> Option<Self> {
        if !is_valid_channel_name(name) {
            return None;
        }
        let mut parts = name.split('_');
        let (group_id, user1, user2) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || ![group_id, user1, user2].into_iter().all(valid_part) {
            return None;
        }
        Some(Self {
            name: name.to_owned(),
            group_id: group_id.to_owned(),
            user1: user1.to_owned(),
            user2: user2.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }
    pub fn group_id(&self) -> &str {
        &self.group_id
    }
    pub fn user1(&self) -> &str {
        &self.user1
    }
    pub fn user2(&self) -> &str {
        &self.user2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_three_parts() {
        let c = RecordingChannel::parse("g.1_alice@x.org_bob-2").unwrap();
        assert_eq!(
            (c.group_id(), c.user1(), c.user2()),
            ("g.1", "alice@x.org", "bob-2")
        );
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "", "a_b", "a_b_c_d", "_a_b", "a__b", "a_b_", "._a_b", "a_.._b", "a b_c_d", "a_b_c!",
            "a/b_c_d", "ä_b_c",
        ] {
            assert!(RecordingChannel::parse(bad).is_none(), "{bad:?}");
        }
        let long = format!("{}_b_c", "a".repeat(61));
        assert!(RecordingChannel::parse(&long).is_none());
        let max = format!("{}_b_c", "a".repeat(60));
        assert!(RecordingChannel::parse(&max).is_some());
    }
}
