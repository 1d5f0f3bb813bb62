//! Who a token is for: a numeric uid (0 = anyone) or a string user account.

use std::borrow::Cow;

/// The token's holder, as Agora turns it into the signed uid string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A numeric uid. `0` is the wildcard: any uid may join with the token.
    Uid(u32),
    /// A user account, used verbatim: account `"0"` is not the wildcard.
    Account(String),
}

impl Identity {
    /// The string Agora signs: uid 0 → `""`, other uids → decimal, accounts verbatim.
    pub fn uid_str(&self) -> Cow<'_, str> {
        match self {
            Identity::Uid(0) => Cow::Borrowed(""),
            Identity::Uid(uid) => Cow::Owned(uid.to_string()),
            Identity::Account(account) => Cow::Borrowed(account),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_strings_follow_agora() {
        assert_eq!(Identity::Uid(0).uid_str(), "");
        assert_eq!(Identity::Uid(4_294_967_295).uid_str(), "4294967295");
        assert_eq!(Identity::Account("0".into()).uid_str(), "0");
    }
}
